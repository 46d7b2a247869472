package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestGenSetIsBoundedAndKeepsKeysInUse: a genSet holds at most two
// generations; a key met again moves to the current one and stays, a key
// not met for two generations is forgotten.
func TestGenSetIsBoundedAndKeepsKeysInUse(t *testing.T) {
	t.Parallel()
	g := newGenSet[int](4)
	g.add(-1) // the key in use
	for i := range 100 {
		g.add(i)
		require.True(t, g.has(-1), "a key in use stays (after %d adds)", i+1)
		require.LessOrEqual(t, len(g.cur)+len(g.old), 2*4, "two generations at the most")
	}
	require.True(t, g.has(99))
	require.False(t, g.has(0), "a key not met for two generations is forgotten")
	require.False(t, g.has(1000), "never added")
}

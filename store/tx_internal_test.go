package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestPgMillis(t *testing.T) {
	t.Parallel()
	require.Equal(t, "2000ms", pgMillis(2*time.Second))
	require.Equal(t, "1ms", pgMillis(time.Microsecond))
	require.Equal(t, "2ms", pgMillis(1500*time.Microsecond))
	require.Equal(t, "1ms", pgMillis(0))
}

package graph_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

func TestParseTimeLeapSecond(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Time{
		"2016-12-31T23:59:60Z":           time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"2016-12-31T23:59:60.25Z":        time.Date(2017, 1, 1, 0, 0, 0, 25e7, time.UTC),
		"2017-01-01T00:59:60+01:00":      time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC),
		"2016-12-31T23:59:59.999999999Z": time.Date(2016, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		got, err := graph.ParseTime(time.RFC3339Nano, in)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: got %v", in, got)
	}
	for _, in := range []string{"2016-12-31T23:59:61Z", "2016-12-31T23:60:00Z", "2016-12-31T23:59:6"} {
		_, err := graph.ParseTime(time.RFC3339Nano, in)
		require.Error(t, err, in)
	}
}

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

// The forms producers write RFC 3339 timestamps in: RFC 3339 itself allows
// a lower-case t and z and a space for the T (section 5.6); ISO 8601 writes
// the offset without its colon (+0000, Python's %z, PHP's DATE_ISO8601);
// Python's isoformat() of a naive UTC time gives no zone at all, which is
// UTC in STIX (its times are UTC) and in MISP. Before, a STIX object with
// such a created or modified was dropped whole (invalid-timestamp), and a
// MISP attribute with such a first_seen too.
func TestParseTimestampForms(t *testing.T) {
	t.Parallel()
	want := time.Date(2024, 1, 5, 10, 0, 0, 0, time.UTC)
	for _, s := range []string{
		"2024-01-05T10:00:00Z", "2024-01-05T10:00:00z", "2024-01-05t10:00:00Z", "2024-01-05 10:00:00Z",
		"2024-01-05T10:00:00+00:00", "2024-01-05T10:00:00+0000", "2024-01-05T11:00:00+0100", "2024-01-05T05:00:00-0500",
		"2024-01-05T10:00:00", "2024-01-05 10:00:00", "2024-01-05T10:00:00.000000", "2024-01-05T10:00:00.000+0000",
		"2024-01-05 10:00:00 UTC", "2024-01-05T10:00:00 GMT", " 2024-01-05T10:00:00Z ",
	} {
		got, err := graph.ParseTimestamp(s)
		require.NoError(t, err, "%q", s)
		require.True(t, want.Equal(got), "%q: %v", s, got)
		require.Equal(t, time.UTC, got.Location(), "%q", s)
	}
	got, err := graph.ParseTimestamp("2024-01-05")
	require.NoError(t, err)
	require.Equal(t, time.Date(2024, 1, 5, 0, 0, 0, 0, time.UTC), got, "a date alone is its midnight, UTC")
	got, err = graph.ParseTimestamp("2016-12-31T23:59:60z")
	require.NoError(t, err)
	require.Equal(t, time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), got, "a leap second, in any form")
	for _, bad := range []string{"", "yesterday", "2024-13-05T10:00:00Z", "2024-01-05T10:00", "05/01/2024 10:00", "2024-01-05T10:00:00+1", "2024-01-05T10:00:00 CET", "1704448800"} {
		_, err := graph.ParseTimestamp(bad)
		require.Error(t, err, "%q", bad)
	}
}

package misp

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
)

func TestParseTimeChecked(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Time
		bad  bool
	}{
		{"", time.Time{}, false},
		{"0", time.Time{}, false},
		{"1455373240", time.Unix(1455373240, 0).UTC(), false},
		{"1455373240.5", time.Unix(1455373240, 0).UTC(), false},
		{"2015-12-18", time.Date(2015, 12, 18, 0, 0, 0, 0, time.UTC), false},
		{"2015-12-18T10:00:00+02:00", time.Date(2015, 12, 18, 8, 0, 0, 0, time.UTC), false},
		{"0001-01-01T00:00:01Z", time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), false},
		{"0001-01-01T00:00:00Z", time.Time{}, true},
		{"1e999999", time.Time{}, true},
		{"-5", time.Time{}, true},
		{"99999999999999", time.Time{}, true},
		// Microseconds, as MISP's OpenAPI schema gives first_seen and
		// last_seen (app/webroot/doc/openapi.yaml: "1581984000000000"):
		// before, the attribute was dropped invalid-timestamp.
		{"1581984000000000", time.Date(2020, 2, 18, 0, 0, 0, 0, time.UTC), false},
		{"1581984000123456", time.Date(2020, 2, 18, 0, 0, 0, 123456000, time.UTC), false},
		{"17179869184000001", time.Time{}, true},
		{"1581984000000000.5", time.Time{}, true},
		{"NaN", time.Time{}, true},
		{"yesterday", time.Time{}, true},
		// A leap second, which RFC 3339 allows: the second after it.
		{"2016-12-31T23:59:60Z", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), false},
		{"2016-12-31 23:59:60", time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), false},
		// ISO 8601 forms other tools write (graph.ParseTimestamp): before,
		// an attribute with such a first_seen was dropped.
		{"2015-12-18T10:00:00+0200", time.Date(2015, 12, 18, 8, 0, 0, 0, time.UTC), false},
		{"2015-12-18T10:00:00.000000+0000", time.Date(2015, 12, 18, 10, 0, 0, 0, time.UTC), false},
		{"2015-12-18 10:00:00 UTC", time.Date(2015, 12, 18, 10, 0, 0, 0, time.UTC), false},
		{"2015-12-18t10:00:00z", time.Date(2015, 12, 18, 10, 0, 0, 0, time.UTC), false},
	}
	for _, c := range cases {
		got, err := parseTimeChecked(c.in)
		if c.bad {
			require.ErrorIs(t, err, errBadTime, c.in)
		} else {
			require.NoError(t, err, c.in)
		}
		require.True(t, c.want.Equal(got), "%s: got %v", c.in, got)
	}
}

// Row 17 of issue 13: "timestamp": 1e999999 silently became the load time
// and 0001-01-01T00:00:00Z was read as no time. Attributes and sightings
// with such times are dropped under invalid-timestamp; an event keeps
// loading without the field, with a WARN; a real year-1 time is kept.
func TestInvalidTimestamps(t *testing.T) {
	t.Parallel()
	doc := event(u(1), "times", []string{
		attr(u(2), "ip-dst", "198.51.100.1", `"first_seen": "0001-01-01T00:00:01Z"`),
		attr(u(3), "ip-dst", "198.51.100.2", `"last_seen": "1e999999"`),
		attr(u(4), "ip-dst", "198.51.100.3", `"first_seen": "0001-01-01T00:00:00Z"`),
		attr(u(5), "ip-dst", "198.51.100.4", `"Sighting": [{"uuid": "`+u(6)+`", "date_sighting": "1e999999"}]`),
	})
	doc = doc[:len(doc)-2] + `, "publish_timestamp": 1e999999}}`
	var logs bytes.Buffer
	rep, sink, err := loadString(t, doc, quiet(&logs))
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidTimestamp: 3}, rep.Dropped)
	requireBalanced(t, rep)

	kept, ok := sink.byAlias(alias(u(2)))
	require.True(t, ok)
	require.Equal(t, time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), kept.FirstSeen, "a year-1 time is kept")
	for _, id := range []int{3, 4} {
		_, ok := sink.byAlias(alias(u(id)))
		require.False(t, ok, "attribute %d with an invalid time is dropped", id)
	}
	_, ok = sink.byAlias(alias(u(5)))
	require.True(t, ok, "the attribute loads without its sighting")

	ev, ok := sink.byAlias(alias(u(1)))
	require.True(t, ok, "the event loads without its invalid publish_timestamp")
	require.NotContains(t, ev.Props, "publish_timestamp")
	line := findLog(t, &logs, "MISP time field dropped; the record loads without it")
	require.Equal(t, string(ReasonInvalidTimestamp), line["reason"])
	require.Contains(t, line["detail"], "publish_timestamp")
	require.Contains(t, findLogWith(t, &logs, "1e999999")["detail"], "not a unix time")
}

// TestMicrosecondFirstSeenLoads: an attribute whose first_seen and
// last_seen are unix microseconds, as MISP's OpenAPI schema gives them
// (MISP/MISP app/webroot/doc/openapi.yaml, "first_seen":
// "1581984000000000") and tools built on it write them, loads with those
// times; before, it was dropped invalid-timestamp ("not a unix time from 1
// to 17179869184 seconds").
func TestMicrosecondFirstSeenLoads(t *testing.T) {
	t.Parallel()
	doc := event(u(1), "microseconds", []string{
		attr(u(2), "ip-dst", "198.51.100.12", `"first_seen": "1581984000000000", "last_seen": "1582070400000000"`),
	})
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	requireBalanced(t, rep)
	n, ok := sink.byAlias(alias(u(2)))
	require.True(t, ok)
	require.Equal(t, time.Date(2020, 2, 18, 0, 0, 0, 0, time.UTC), n.FirstSeen)
	require.Equal(t, time.Date(2020, 2, 19, 0, 0, 0, 0, time.UTC), n.LastSeen)
}

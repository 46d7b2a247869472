package stix

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
)

// Row 17 of issue 13: 0001-01-01T00:00:00Z is the zero time, which the
// graph reads as no time: the object is dropped as invalid-timestamp (not
// as a missing property, not loaded with the load time); any other year-1
// time is kept.
func TestYearOneTimestamps(t *testing.T) {
	t.Parallel()
	doc := `{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [
	{"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000001", "name": "zero",
	 "is_family": true, "created": "0001-01-01T00:00:00Z", "modified": "2020-01-01T00:00:00Z"},
	{"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000002", "name": "year one",
	 "is_family": true, "created": "0001-01-01T00:00:01Z", "modified": "0001-01-01T00:00:01Z", "first_seen": "0001-06-01T00:00:00Z"}]}`
	sink := &recordingSink{}
	rep, err := Load(context.Background(), strings.NewReader(doc), sink, Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidTimestamp: 1}, rep.Dropped)
	nodes := sink.byAlias()
	_, ok := nodes["malware--00000000-0000-4000-8000-000000000001"]
	require.False(t, ok)
	n, ok := nodes["malware--00000000-0000-4000-8000-000000000002"]
	require.True(t, ok)
	require.Equal(t, time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC), n.FirstSeen, "a year-1 time is kept")
}

// TestLeapSecondTimestamps: RFC 3339 allows a leap second (second 60), so
// a STIX object created at one loads (it was dropped as invalid-timestamp);
// it is read as the second that follows it.
func TestLeapSecondTimestamps(t *testing.T) {
	t.Parallel()
	doc := `{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [
	{"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-000000000001", "name": "leap",
	 "is_family": true, "created": "2016-12-31T23:59:60Z", "modified": "2016-12-31T23:59:60.500Z"}]}`
	sink := &recordingSink{}
	rep, err := Load(context.Background(), strings.NewReader(doc), sink, Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	n, ok := sink.byAlias()["malware--00000000-0000-4000-8000-000000000001"]
	require.True(t, ok, "the object loads")
	require.Equal(t, time.Date(2017, 1, 1, 0, 0, 0, 0, time.UTC), n.FirstSeen)
	require.Equal(t, time.Date(2017, 1, 1, 0, 0, 0, 5e8, time.UTC), n.LastSeen)
}

// TestTimestampFormsProducersWrite: an object whose created or modified is
// written in a form RFC 3339 allows (lower-case z, a space for the T) or
// producers write (+0000, no zone from Python's isoformat) loads with that
// time (graph.ParseTimestamp). Before, each was dropped whole as
// invalid-timestamp.
func TestTimestampFormsProducersWrite(t *testing.T) {
	t.Parallel()
	var objs []string
	forms := []string{"2024-01-05T10:00:00z", "2024-01-05 10:00:00Z", "2024-01-05T10:00:00+0000", "2024-01-05T10:00:00.000000"}
	for i, ts := range forms {
		objs = append(objs, fmt.Sprintf(`{"type": "malware", "spec_version": "2.1", "id": "malware--00000000-0000-4000-8000-%012d", "name": "form %d", "is_family": true, "created": %q, "modified": %q}`, i+1, i, ts, ts))
	}
	sink := &recordingSink{}
	rep, err := Load(context.Background(), strings.NewReader(bundle(objs...)), sink, Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	for i := range forms {
		n, ok := sink.byAlias()[fmt.Sprintf("malware--00000000-0000-4000-8000-%012d", i+1)]
		require.True(t, ok, "%s loads", forms[i])
		require.Equal(t, time.Date(2024, 1, 5, 10, 0, 0, 0, time.UTC), n.FirstSeen, forms[i])
	}
}

package stix

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
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

// TestObservedDataDatesItsObjects: the cyber-observables a STIX 2.1
// observed-data names in object_refs were observed when it says (the
// objects a STIX 2.0 observed-data embeds get its times already), in
// either order in the file. Before, an SCO has no time of its own, so a
// domain only an observed-data named was "seen" when the feed was loaded
// (2026-12-05 for what was observed in February 2024), and the same
// observation read from STIX 2.0 and 2.1 gave two answers.
func TestObservedDataDatesItsObjects(t *testing.T) {
	t.Parallel()
	const od = `{"type": "observed-data", "spec_version": "2.1", "id": "observed-data--00000000-0000-4000-8000-0000000000d1",
	 "created": "2024-02-01T00:00:00Z", "modified": "2024-02-01T00:00:00Z", "first_observed": "2024-02-01T00:00:00Z",
	 "last_observed": "2024-02-02T00:00:00Z", "number_observed": 3,
	 "object_refs": ["domain-name--00000000-0000-4000-8000-0000000000d2", "ipv4-addr--00000000-0000-4000-8000-0000000000d3"]}`
	const domain = `{"type": "domain-name", "spec_version": "2.1", "id": "domain-name--00000000-0000-4000-8000-0000000000d2", "value": "observed.example"}`
	const ip = `{"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--00000000-0000-4000-8000-0000000000d3", "value": "198.51.100.93"}`
	const unnamed = `{"type": "domain-name", "spec_version": "2.1", "id": "domain-name--00000000-0000-4000-8000-0000000000d4", "value": "not-observed.example"}`
	first, last := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 2, 0, 0, 0, 0, time.UTC)
	seen := func(doc string) map[string][2]time.Time {
		out := map[string][2]time.Time{}
		for _, n := range loadMerged(t, doc) {
			if n.Kind == graph.KindDomainName || n.Kind == graph.KindIPv4Addr {
				out[n.Name] = [2]time.Time{n.FirstSeen, n.LastSeen}
			}
		}
		return out
	}
	for name, doc := range map[string]string{
		"objects after":  bundle(od, domain, unnamed, ip),
		"objects before": bundle(domain, ip, unnamed, od),
	} {
		got := seen(doc)
		require.Equal(t, [2]time.Time{first, last}, got["observed.example"], name)
		require.Equal(t, [2]time.Time{first, last}, got["198.51.100.93"], name)
		require.Equal(t, [2]time.Time{}, got["not-observed.example"], "%s: what no observed-data names has no time", name)
	}
	// The same observation in STIX 2.0.
	got20 := seen(`{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "spec_version": "2.0", "objects": [
	 {"type": "observed-data", "id": "observed-data--00000000-0000-4000-8000-0000000000d1", "created": "2024-02-01T00:00:00Z",
	  "modified": "2024-02-01T00:00:00Z", "first_observed": "2024-02-01T00:00:00Z", "last_observed": "2024-02-02T00:00:00Z",
	  "number_observed": 3, "objects": {"0": {"type": "domain-name", "value": "observed.example"}}}]}`)
	require.Equal(t, [2]time.Time{first, last}, got20["observed.example"])
}

// loadMerged loads doc in batches of two on two workers, requires every
// record to load, and returns the nodes merged as the store would.
func loadMerged(t *testing.T, doc string) []graph.Node {
	t.Helper()
	sink := &recordingSink{}
	rep, err := Load(context.Background(), strings.NewReader(doc), sink, Options{Logger: slog.New(slog.DiscardHandler), Workers: 2, BatchSize: 2})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	return graph.MergeNodes(sink.nodes)
}

// TestObservableCreatedAfterModifiedLoads: STIX 2.1 cyber-observables
// have no created or modified (section 6); Cortex XSOAR's TAXII 2 server
// writes both on every observable it serves, from its own indicator
// records, and on 1.1.1.1 of its test collection the two are reversed
// (testdata/excerpts/xsoar-objects21-ip-with-relationships.json). The
// specification orders them on the objects that have them, not on an
// observable, whose other properties are valid: it loads, seen over both
// times. Before, the address was dropped as invalid-timestamp, and with it
// every link to it. An object the specification gives the pair (an
// indicator here) is still dropped when they are reversed.
func TestObservableCreatedAfterModifiedLoads(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "excerpts", "xsoar-objects21-ip-with-relationships.json"))
	require.NoError(t, err)
	doc := strings.Replace(string(data), `"objects": [`, `"objects": [
		{"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000001",
		 "pattern": "[ipv4-addr:value = '1.1.1.1']", "pattern_type": "stix", "valid_from": "2021-05-02T09:02:28Z",
		 "created": "2021-12-08T07:32:24.102219Z", "modified": "2021-05-02T09:02:28.615431Z"},`, 1)
	sink := &recordingSink{}
	rep, err := Load(context.Background(), strings.NewReader(doc), sink, Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	nodes := sink.byAlias()
	n, ok := nodes["ipv4-addr--cbd67181-b9f8-595b-8bc3-3971e34fa1cc"]
	require.True(t, ok, "the observable loads")
	require.Equal(t, "1.1.1.1", n.Name)
	require.Equal(t, time.Date(2021, 5, 2, 9, 2, 28, 615431000, time.UTC), n.FirstSeen)
	require.Equal(t, time.Date(2021, 12, 8, 7, 32, 24, 102219000, time.UTC), n.LastSeen)
	_, ok = nodes["indicator--00000000-0000-4000-8000-000000000001"]
	require.False(t, ok, "an indicator with the pair reversed is still dropped")
	// The indicator, and XSOAR's relationship modified 1 µs before it was
	// created: both objects the specification orders the pair on.
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidTimestamp: 2}, rep.Dropped)
}

// TestObservedDataDatesItsCustomObservables: a threat hunt's STIX 2.1
// output (Kestrel's, through stix-shifter: an observed-data per event
// naming the host as an x-oca-asset, the event as an x-oca-event beside
// the process and file observables, as in the hunt bundle
// os-threat/Stix-ORM keeps as data/kestrel/demo_2_1.json) dates the custom
// observables as it dates the standard ones: when the observed-data naming
// them says, before or after them in the feed. Before, the host and the
// event, which have no time of their own, were seen when the feed was
// loaded (intel show: "seen: 2026-12-05 .. 2026-12-05" for a 2023 hunt)
// while the process beside them had the observation's time. A custom
// object with times of its own keeps them, and one no observed-data names
// has none.
func TestObservedDataDatesItsCustomObservables(t *testing.T) {
	t.Parallel()
	const od = `{"type": "observed-data", "id": "observed-data--099e0461-6f82-4ab6-af0f-1b249b2f634a",
	 "created": "2023-02-10T20:32:57.382Z", "modified": "2023-02-10T20:32:57.382Z",
	 "first_observed": "2023-02-10T17:49:04.495Z", "last_observed": "2023-02-10T17:49:04.495Z", "number_observed": 1,
	 "object_refs": ["process--8d29000a-7fe6-52b5-85b3-947114d7680b", "x-oca-asset--bdbbf36c-142b-5740-8d6e-20d7f016c257",
	  "x-oca-event--a65a3096-faf2-4790-8c59-9b2244c5ff4e", "x-custom--00000000-0000-4000-8000-0000000000e1"], "spec_version": "2.1"}`
	const process = `{"type": "process", "name": "outlook.exe", "pid": 13412, "id": "process--8d29000a-7fe6-52b5-85b3-947114d7680b", "spec_version": "2.1"}`
	const asset = `{"type": "x-oca-asset", "hostname": "atl008", "id": "x-oca-asset--bdbbf36c-142b-5740-8d6e-20d7f016c257", "spec_version": "2.1"}`
	const event = `{"type": "x-oca-event", "code": 1, "action": "File created", "provider": "Microsoft-Windows-Sysmon/Operational",
	 "process_ref": "process--8d29000a-7fe6-52b5-85b3-947114d7680b", "host_ref": "x-oca-asset--bdbbf36c-142b-5740-8d6e-20d7f016c257",
	 "id": "x-oca-event--a65a3096-faf2-4790-8c59-9b2244c5ff4e", "spec_version": "2.1"}`
	const timed = `{"type": "x-custom", "id": "x-custom--00000000-0000-4000-8000-0000000000e1", "spec_version": "2.1",
	 "created": "2020-01-01T00:00:00Z", "modified": "2020-01-01T00:00:00Z"}`
	const unnamed = `{"type": "x-oca-asset", "hostname": "other", "id": "x-oca-asset--00000000-0000-4000-8000-0000000000e2", "spec_version": "2.1"}`
	at := time.Date(2023, 2, 10, 17, 49, 4, 495e6, time.UTC)
	for name, doc := range map[string]string{
		"objects after":  bundle(od, process, asset, event, timed, unnamed),
		"objects before": bundle(process, asset, event, timed, unnamed, od),
	} {
		got := map[string][2]time.Time{}
		for _, n := range loadMerged(t, doc) {
			got[n.Key] = [2]time.Time{n.FirstSeen, n.LastSeen}
		}
		for _, key := range []string{"process--8d29000a-7fe6-52b5-85b3-947114d7680b",
			"x-oca-asset--bdbbf36c-142b-5740-8d6e-20d7f016c257", "x-oca-event--a65a3096-faf2-4790-8c59-9b2244c5ff4e"} {
			require.Equal(t, [2]time.Time{at, at}, got[key], "%s: %s", name, key)
		}
		require.Equal(t, [2]time.Time{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), at}, got["x-custom--00000000-0000-4000-8000-0000000000e1"],
			"%s: an object with times of its own is seen over them and the observation", name)
		require.Equal(t, [2]time.Time{}, got["x-oca-asset--00000000-0000-4000-8000-0000000000e2"], "%s: what no observed-data names has no time", name)
	}
}

// TestOCAObservablesNamedByWhatTheySay: OCA's x-oca-asset (a host) and
// x-oca-event (what happened on it), as stix-shifter and Kestrel write
// them, are named by the host name and the action, so `intel search
// atl008` finds the host and a walk shows "x-oca-event File created".
// Before, both were named by their STIX id and the search found nothing.
func TestOCAObservablesNamedByWhatTheySay(t *testing.T) {
	t.Parallel()
	doc := bundle(`{"type": "x-oca-asset", "hostname": "atl008", "id": "x-oca-asset--bdbbf36c-142b-5740-8d6e-20d7f016c257", "spec_version": "2.1"}`,
		`{"type": "x-oca-event", "code": 1, "action": "File created", "id": "x-oca-event--a65a3096-faf2-4790-8c59-9b2244c5ff4e", "spec_version": "2.1"}`)
	sink := &recordingSink{}
	_, err := Load(context.Background(), strings.NewReader(doc), sink, Options{Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	nodes := sink.byAlias()
	require.Equal(t, "atl008", nodes["x-oca-asset--bdbbf36c-142b-5740-8d6e-20d7f016c257"].Name)
	require.Equal(t, "File created", nodes["x-oca-event--a65a3096-faf2-4790-8c59-9b2244c5ff4e"].Name)
}

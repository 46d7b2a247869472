package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/misp"
	stix2 "github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var clock = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	return store.NewStore(pool, store.WithBatchSize(200), store.WithClock(func() time.Time { return clock })), pool
}

// mispEvent builds a MISP event with the given attributes (type, value).
func mispEvent(uuid, info string, ts int64, attrs [][2]string) []byte {
	var list []map[string]any
	for i, a := range attrs {
		list = append(list, map[string]any{
			"uuid": fmt.Sprintf("%s-a%03d", uuid[:24], i), "type": a[0], "value": a[1], "category": "Network activity",
			"to_ids": true, "timestamp": fmt.Sprint(ts), "deleted": false,
		})
	}
	b, _ := json.Marshal(map[string]any{"Event": map[string]any{
		"uuid": uuid, "info": info, "date": "2026-10-01", "timestamp": fmt.Sprint(ts), "Attribute": list,
		"Tag": []map[string]any{{"name": "tlp:green"}},
	}})
	return b
}

func writeFeedDir(t *testing.T, dir string, events map[string][]byte, stamps map[string]int64) {
	t.Helper()
	manifest := map[string]any{}
	for id, body := range events {
		require.NoError(t, os.WriteFile(filepath.Join(dir, id+".json"), body, 0o644))
		manifest[id] = map[string]any{"info": "event " + id, "timestamp": fmt.Sprint(stamps[id]), "date": "2026-10-01"}
	}
	b, _ := json.Marshal(manifest)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644))
}

func TestFeedDirectoryReloadsOnlyChangedEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	dir := t.TempDir()
	ids := []string{"5f0e1a2b-0000-4000-8000-000000000001", "5f0e1a2b-0000-4000-8000-000000000002", "5f0e1a2b-0000-4000-8000-000000000003"}
	events := map[string][]byte{}
	stamps := map[string]int64{}
	for i, id := range ids {
		stamps[id] = 1760000000 + int64(i)
		events[id] = mispEvent(id, "event "+id, stamps[id], [][2]string{
			{"ip-dst", fmt.Sprintf("198.51.100.%d", i+1)}, {"domain", fmt.Sprintf("c2-%d.example", i)},
			{"sha256", fmt.Sprintf("%064x", i+1)},
		})
	}
	writeFeedDir(t, dir, events, stamps)
	feed := ingest.Feed{Name: "circl-test", Path: dir}

	first := ingest.LoadFeed(ctx, store, feed, ingest.Options{})
	require.Equal(t, ingest.StatusOK, first.Status, first.Error)
	require.Equal(t, ingest.FormatMISP, first.Format)
	require.Equal(t, 3, first.EventsLoaded)
	before := pgtest.Dump(t, pool, pgtest.GraphQueriesWithTimes...)
	loaded, ok, err := store.Feed(ctx, "circl-test")
	require.NoError(t, err)
	require.True(t, ok)

	second := ingest.LoadFeed(ctx, store, feed, ingest.Options{})
	require.Equal(t, ingest.StatusSkipped, second.Status)
	require.Equal(t, before, pgtest.Dump(t, pool, pgtest.GraphQueriesWithTimes...), "an unchanged feed writes nothing")
	state, ok, err := store.Feed(ctx, "circl-test")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "skipped", state.LastStatus)
	// The skip keeps the report and load time of the load that stored the
	// content (intel feeds showed zeros and the skip's time).
	require.JSONEq(t, string(loaded.LastReport), string(state.LastReport))
	require.Equal(t, loaded.LastLoadedAt, state.LastLoadedAt)

	// One event changes: only it is reloaded.
	changed := ids[1]
	stamps[changed]++
	events[changed] = mispEvent(changed, "event "+changed, stamps[changed], [][2]string{
		{"ip-dst", "198.51.100.2"}, {"domain", "c2-1.example"}, {"sha256", fmt.Sprintf("%064x", 2)},
		{"url", "http://c2-1.example/new-path"},
	})
	writeFeedDir(t, dir, events, stamps)
	third := ingest.LoadFeed(ctx, store, feed, ingest.Options{})
	require.Equal(t, ingest.StatusOK, third.Status, third.Error)
	require.Equal(t, 1, third.EventsLoaded, "only the changed event is loaded")
	require.Equal(t, 2, third.EventsSkipped)
	_, err = store.ResolveNode(ctx, "url:http://c2-1.example/new-path")
	require.NoError(t, err, "the changed event's new attribute is in the graph")

	forced := ingest.LoadFeed(ctx, store, feed, ingest.Options{Force: true})
	require.Equal(t, ingest.StatusOK, forced.Status, forced.Error)
	require.Equal(t, 3, forced.EventsLoaded, "--force reloads every event")
}

// stixBundle builds a small bundle: an indicator for an IP linked to a
// malware family, with the given ids so feeds overlap.
func stixBundle(n int) []byte {
	ind := fmt.Sprintf("indicator--00000000-0000-4000-8000-%012d", n)
	mal := fmt.Sprintf("malware--00000000-0000-4000-9000-%012d", n%2) // two families shared across feeds
	objs := []map[string]any{
		{"type": "indicator", "spec_version": "2.1", "id": ind, "created": "2026-10-0" + fmt.Sprint(n%9+1) + "T00:00:00Z",
			"modified": "2026-10-10T00:00:00Z", "pattern": fmt.Sprintf("[ipv4-addr:value = '203.0.113.%d'] OR [domain-name:value = 'shared.example']", n),
			"pattern_type": "stix", "valid_from": "2026-10-01T00:00:00Z", "confidence": 50 + n},
		{"type": "malware", "spec_version": "2.1", "id": mal, "created": "2026-09-01T00:00:00Z", "modified": "2026-09-01T00:00:00Z",
			"name": []string{"Akira", "Black Basta"}[n%2], "is_family": true},
		{"type": "relationship", "spec_version": "2.1", "id": fmt.Sprintf("relationship--00000000-0000-4000-a000-%012d", n),
			"created": "2026-10-01T00:00:00Z", "modified": "2026-10-01T00:00:00Z", "relationship_type": "indicates",
			"source_ref": ind, "target_ref": mal},
	}
	b, _ := json.Marshal(map[string]any{"type": "bundle", "id": fmt.Sprintf("bundle--00000000-0000-4000-b000-%012d", n), "objects": objs})
	return b
}

func sixFeeds(t *testing.T) []ingest.Feed {
	t.Helper()
	dir := t.TempDir()
	feeds := []ingest.Feed{
		{Name: "unit42-hellokitty", Path: filepath.Join("..", "testdata", "demo", "hellokitty-ransomware.json")},
		{Name: "eset-zebrocy", Path: filepath.Join("..", "testdata", "demo", "sednit_2018-11-20_Zebrocy.json")},
	}
	for i := 0; i < 4; i++ {
		p := filepath.Join(dir, fmt.Sprintf("vendor-%d.json", i))
		require.NoError(t, os.WriteFile(p, stixBundle(i), 0o644))
		feeds = append(feeds, ingest.Feed{Name: fmt.Sprintf("vendor-%d", i), Path: p, Format: ingest.FormatSTIX})
	}
	return feeds
}

func TestConcurrentFeedsGiveTheSameGraph(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	feeds := sixFeeds(t)

	serialStore, serialPool := newStore(t)
	reversed := make([]ingest.Feed, len(feeds))
	for i, f := range feeds {
		reversed[len(feeds)-1-i] = f
	}
	res, err := ingest.Run(ctx, serialStore, reversed, ingest.Options{Concurrency: 1})
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
	}

	concurrentStore, concurrentPool := newStore(t)
	res, err = ingest.Run(ctx, concurrentStore, feeds, ingest.Options{Concurrency: 6})
	require.NoError(t, err)
	require.Len(t, res, 6)
	for i, r := range res {
		require.Equal(t, feeds[i].Name, r.Feed.Name, "results come back in the order given")
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
	}
	require.Equal(t, pgtest.Dump(t, serialPool, pgtest.GraphQueries...), pgtest.Dump(t, concurrentPool, pgtest.GraphQueries...))

	counts, err := concurrentStore.Counts(ctx)
	require.NoError(t, err)
	require.Positive(t, counts.NodesByKind["intrusion-set"])
	require.Positive(t, counts.NodesByKind["threat-actor"], "the MISP galaxy cluster")
	shared, err := concurrentStore.ResolveNode(ctx, "domain-name:shared.example")
	require.NoError(t, err)
	require.Equal(t, []string{"vendor-0", "vendor-1", "vendor-2", "vendor-3"}, shared.Sources, "one node, every feed's source")
}

func TestRunIsolatesFailingFeedsAndDryRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	feeds := sixFeeds(t)[:3]
	feeds = append(feeds, ingest.Feed{Name: "missing", Path: filepath.Join(t.TempDir(), "nope.json")})

	res, err := ingest.Run(ctx, nil, feeds, ingest.Options{DryRun: true, Concurrency: 2})
	require.ErrorContains(t, err, "feed missing")
	require.Equal(t, ingest.StatusFailed, res[3].Status)
	require.Contains(t, res[3].Error, "no such file")
	for _, r := range res[:3] {
		require.Equal(t, ingest.StatusOK, r.Status, r.Error)
		require.Positive(t, r.Report.Nodes)
	}

	_, err = ingest.Run(ctx, nil, feeds, ingest.Options{})
	require.ErrorContains(t, err, "no store")
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	cfg, err := ingest.LoadConfig(write("feeds.yaml", "concurrency: 3\nfeeds:\n  - name: a\n    path: a.json\n    format: STIX\n  - path: /abs/circl-feed\n"))
	require.NoError(t, err)
	require.NotNil(t, cfg.Concurrency)
	require.Equal(t, 3, *cfg.Concurrency)
	require.Equal(t, filepath.Join(dir, "a.json"), cfg.Feeds[0].Path, "relative to the config file")
	require.Equal(t, "stix", cfg.Feeds[0].Format)
	require.Equal(t, "circl-feed", cfg.Feeds[1].Name, "name defaults to the file name")

	cfg, err = ingest.LoadConfig(write("feeds.json", `{"feeds": [{"name": "b", "path": "b.json", "format": "misp"}]}`))
	require.NoError(t, err)
	require.Equal(t, "misp", cfg.Feeds[0].Format)

	for name, body := range map[string]string{
		"dup.yaml":     "feeds:\n  - {name: a, path: x}\n  - {name: a, path: y}\n",
		"format.yaml":  "feeds:\n  - {name: a, path: x, format: csv}\n",
		"unknown.yaml": "feeds:\n  - {name: a, path: x, url: http://x}\n",
		"nopath.yaml":  "feeds:\n  - {name: a}\n",
		"empty.yaml":   "",
		"badname.yaml": "feeds:\n  - {name: 'a b', path: x}\n",
		// --concurrency takes 1 to 1024; so does the file (0 was taken as
		// "the default" there while the flag refused it).
		"zero.yaml":     "concurrency: 0\nfeeds:\n  - {name: a, path: x}\n",
		"negative.yaml": "concurrency: -1\nfeeds:\n  - {name: a, path: x}\n",
		"huge.yaml":     "concurrency: 1025\nfeeds:\n  - {name: a, path: x}\n",
	} {
		_, err := ingest.LoadConfig(write(name, body))
		require.Error(t, err, name)
	}
}

// TestConcurrentRunReleasesStrandedRelations leaves a pending relationship
// whose endpoint exists (as two feeds loading side by side can) and checks
// that a concurrent Run sweeps it into relations.
func TestConcurrentRunReleasesStrandedRelations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, pool := newStore(t)
	actor := graph.NamedNode(graph.KindIntrusionSet, "Stranded Spider")
	_, err := store.UpsertNodes(ctx, []graph.Node{actor})
	require.NoError(t, err)
	target := "malware--0badc0de-0000-4000-8000-000000000000"
	st, err := store.AddRelations(ctx, []graph.Relation{{Src: actor.Ref(), Type: "uses", Dst: graph.Ref(target)}})
	require.NoError(t, err)
	require.EqualValues(t, 1, st.RelationsPending)
	malware := graph.NamedNode(graph.KindMalware, "Stranded")
	_, err = pool.Exec(ctx, `
WITH n AS (INSERT INTO nodes (id, kind, key, name) VALUES ($1, $2, $3, $3) RETURNING id)
INSERT INTO node_aliases (source_id, node_id) SELECT $4, id FROM n`, malware.ID, string(malware.Kind), malware.Key, target)
	require.NoError(t, err)

	_, err = ingest.Run(ctx, store, sixFeeds(t)[:2], ingest.Options{Concurrency: 2})
	require.NoError(t, err)
	var pending, uses int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pending_relations WHERE dst_ref = $1),
       (SELECT count(*) FROM relations WHERE src_id = $2 AND relation = 'uses' AND dst_id = $3)`,
		target, actor.ID, malware.ID).Scan(&pending, &uses))
	require.Zero(t, pending)
	require.Equal(t, 1, uses)
}

// TestTelemetryFeed: a feed listed with format telemetry loads its NDJSON
// edges through ingest/telemetry with the bookkeeping of other feeds:
// content hash recorded, unchanged file skipped, --force reloads.
func TestTelemetryFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "edr.ndjson")
	lines := `{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:evil.example","agent_id":"host-1","observed_at":"2026-10-31T10:00:00Z"}` + "\n" +
		`{"src":{"kind":"process","key":"host-1:42","name":"x.exe"},"relation":"wrote","dst":"url:http://c2.example/x","agent_id":"host-1","observed_at":"2026-10-31T10:01:00Z"}` + "\n" +
		`{"src": broken` + "\n"
	require.NoError(t, os.WriteFile(path, []byte(lines), 0o644))
	cfgPath := filepath.Join(dir, "feeds.yaml")
	require.NoError(t, os.WriteFile(cfgPath, []byte("feeds:\n  - name: edr\n    path: edr.ndjson\n    format: telemetry\n"), 0o644))
	cfg, err := ingest.LoadConfig(cfgPath)
	require.NoError(t, err)
	require.Equal(t, ingest.FormatTelemetry, cfg.Feeds[0].Format)

	edges := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges").Scan(&n))
		return n
	}
	first := ingest.LoadFeed(ctx, st, cfg.Feeds[0], ingest.Options{})
	require.Equal(t, ingest.StatusOK, first.Status, first.Error)
	require.Equal(t, ingest.FormatTelemetry, first.Format)
	require.NotNil(t, first.Report.Telemetry)
	require.EqualValues(t, 3, first.Report.RecordsRead, "lines")
	require.EqualValues(t, 2, first.Report.Telemetry.Edges)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonInvalidJSON: 1}, first.Report.Dropped)
	require.Equal(t, 2, edges())
	state, ok, err := st.Feed(ctx, "edr")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ingest.StatusOK, state.LastStatus)
	require.Equal(t, ingest.FormatTelemetry, state.Format)
	require.Equal(t, first.ContentHash, state.ContentHash)
	require.NotEmpty(t, state.ContentHash)
	require.Contains(t, string(state.LastReport), `"records_read": 3`)

	second := ingest.LoadFeed(ctx, st, cfg.Feeds[0], ingest.Options{})
	require.Equal(t, ingest.StatusSkipped, second.Status)
	require.Equal(t, 2, edges(), "an unchanged telemetry file is not appended again")

	forced := ingest.LoadFeed(ctx, st, cfg.Feeds[0], ingest.Options{Force: true})
	require.Equal(t, ingest.StatusOK, forced.Status, forced.Error)
	require.Equal(t, 4, edges(), "--force appends the edges again")

	dry := ingest.LoadFeed(ctx, nil, cfg.Feeds[0], ingest.Options{DryRun: true})
	require.Equal(t, ingest.StatusOK, dry.Status, dry.Error)
	require.EqualValues(t, 2, dry.Report.Telemetry.Edges)
}

// TestTelemetryFileIsOneInputWhateverTheFeed: a feed list's telemetry file
// was checkpointed under the feed's name, so the same file loaded by intel
// ingest telemetry, in a second feed, or after its feed was renamed was
// appended again (every row twice). It is now the file's checkpoint; one
// recorded under the feed's name by an older intel is taken over.
func TestTelemetryFileIsOneInputWhateverTheFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	dir := t.TempDir()
	write := func(name, agent string) string {
		path := filepath.Join(dir, name)
		lines := fmt.Sprintf(`{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:evil.example","agent_id":%q,"observed_at":"2026-10-31T10:00:00Z"}`+"\n"+
			`{"src":"ipv4-addr:10.0.0.6","relation":"connected-to","dst":"domain-name:evil.example","agent_id":%q,"observed_at":"2026-10-31T10:01:00Z"}`+"\n", agent, agent)
		require.NoError(t, os.WriteFile(path, []byte(lines), 0o644))
		return path
	}
	edges := func(agent string) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges WHERE agent_id = $1", agent).Scan(&n))
		return n
	}
	path := write("edr.ndjson", "host-1")
	in, err := telemetry.FileInput(path)
	require.NoError(t, err)
	f, err := os.Open(path)
	require.NoError(t, err)
	_, err = telemetry.Load(ctx, f, st.Checkpointed(in), engine.Options{})
	_ = f.Close()
	require.NoError(t, err)
	require.Equal(t, 2, edges("host-1"))

	for _, name := range []string{"edr", "edr-renamed"} {
		res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: name, Path: path, Format: ingest.FormatTelemetry}, ingest.Options{})
		require.Equal(t, ingest.StatusOK, res.Status, res.Error)
		require.EqualValues(t, 2, res.Report.Telemetry.Resumed, "feed %s: already stored", name)
		require.Equal(t, 2, edges("host-1"), "feed %s stored the file again", name)
	}

	// An older intel's checkpoint of a feed cut short after one edge.
	old := write("old.ndjson", "host-2")
	oldIn, err := telemetry.FileInput(old)
	require.NoError(t, err)
	legacy := store.TelemetryInput{Name: "feed:old", ContentHash: oldIn.ContentHash}
	f, err = os.Open(old)
	require.NoError(t, err)
	first, err := telemetry.Load(ctx, io.LimitReader(f, 150), st.Checkpointed(legacy), engine.Options{})
	_ = f.Close()
	require.NoError(t, err)
	require.EqualValues(t, 1, first.Telemetry.Edges)
	// Cut short: the limited reader ended without an error, so the load
	// marked the checkpoint complete, which a load cut short (a kill, a
	// lost server) never does, and a complete input writes no edge past
	// its count.
	_, err = pool.Exec(ctx, "UPDATE telemetry_checkpoints SET complete = false WHERE input = 'feed:old'")
	require.NoError(t, err)
	res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: "old", Path: old, Format: ingest.FormatTelemetry}, ingest.Options{})
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	require.EqualValues(t, 1, res.Report.Telemetry.Resumed, "the feed's old checkpoint is taken over")
	require.Equal(t, 2, edges("host-2"))
}

// TestTelemetryFormatValidation: format telemetry is accepted in any case;
// unknown formats are refused.
func TestTelemetryFormatValidation(t *testing.T) {
	t.Parallel()
	cfg := ingest.Config{Feeds: []ingest.Feed{{Path: "x.ndjson", Format: "Telemetry"}}}
	require.NoError(t, cfg.Validate())
	require.Equal(t, ingest.FormatTelemetry, cfg.Feeds[0].Format)
	cfg = ingest.Config{Feeds: []ingest.Feed{{Path: "x.ndjson", Format: "edr"}}}
	require.ErrorContains(t, cfg.Validate(), "want stix, misp or telemetry")
	// Two feeds of standard input split it between them, tearing lines.
	cfg = ingest.Config{Feeds: []ingest.Feed{{Name: "s1", Path: "-", Format: "telemetry"}, {Name: "x", Path: "x.ndjson"},
		{Name: "s2", Path: "-", Format: "telemetry"}}}
	require.ErrorContains(t, cfg.Validate(), "feeds 1 and 3 both read standard input (-)")
}

// TestNoRecordsOfTelemetry: a telemetry load fails as having no records
// only when it read lines and none of them was an edge; an empty input (a
// quiet interval) and a load with some edges are fine. STIX and MISP fail
// on an empty input too.
func TestNoRecordsOfTelemetry(t *testing.T) {
	t.Parallel()
	rep := func(read, mapped int64) *engine.Report {
		r := engine.NewReport("f", ingest.FormatTelemetry)
		r.RecordsRead, r.RecordsMapped = read, mapped
		return r
	}
	require.ErrorIs(t, ingest.NoRecords(rep(748, 0), ingest.FormatTelemetry), ingest.ErrNoRecords)
	require.NoError(t, ingest.NoRecords(rep(0, 0), ingest.FormatTelemetry))
	require.NoError(t, ingest.NoRecords(rep(748, 1), ingest.FormatTelemetry))
	require.ErrorIs(t, ingest.NoRecords(rep(0, 0), ingest.FormatSTIX), ingest.ErrNoRecords)

	// A load whose every record was dropped says why, by reason, the
	// commonest first (it gave the count alone, and "a MISP file?" for a
	// saved TAXII manifest).
	stix := engine.NewReport("f", ingest.FormatSTIX)
	stix.RecordsRead = 4
	stix.Drop(engine.ReasonInvalidJSON)
	for range 3 {
		stix.Drop(engine.ReasonMissingType)
	}
	err := ingest.NoRecords(stix, ingest.FormatSTIX)
	require.ErrorIs(t, err, ingest.ErrNoRecords)
	require.Contains(t, err.Error(), "(4 dropped: missing-type 3, invalid-json 1, each logged with its reason; a MISP file?)")

	// Records of the format that are invalid (a bad id) are no hint of
	// the other format: the error does not ask "a MISP file?".
	bad := engine.NewReport("f", ingest.FormatSTIX)
	bad.RecordsRead = 1
	bad.Drop(stix2.ReasonInvalidID)
	err = ingest.NoRecords(bad, ingest.FormatSTIX)
	require.ErrorIs(t, err, ingest.ErrNoRecords)
	require.Contains(t, err.Error(), "(1 dropped: invalid-id 1, each logged with its reason)")
	require.NotContains(t, err.Error(), "MISP")
}

// TestTelemetryFeedOfAnAppendedFile: a feed list's telemetry file appended
// to loads only its new lines (it loaded every line again: its checkpoint
// was the hash of the whole file), and truncated back, nothing.
func TestTelemetryFeedOfAnAppendedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	line := func(i int) string {
		return fmt.Sprintf(`{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:evil.example","agent_id":"appended","observed_at":"2026-10-31T10:00:00Z","props":{"i":%d}}`+"\n", i)
	}
	var content strings.Builder
	for i := range 20 {
		content.WriteString(line(i))
	}
	first := content.String()
	for i := 20; i < 30; i++ {
		content.WriteString(line(i))
	}
	edges := func() int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges WHERE agent_id = 'appended'").Scan(&n))
		return n
	}
	feed := ingest.Feed{Name: "edr", Path: path, Format: ingest.FormatTelemetry}
	for _, step := range []struct {
		content string
		edges   int
		kind    string
	}{{first, 20, ""}, {content.String(), 30, "appended"}, {first, 30, "shrunk"}} {
		require.NoError(t, os.WriteFile(path, []byte(step.content), 0o600))
		res := ingest.LoadFeed(ctx, st, feed, ingest.Options{})
		require.Equal(t, ingest.StatusOK, res.Status, res.Error)
		require.Equal(t, step.edges, edges())
		if step.kind != "" {
			require.NotNil(t, res.Report.Rerun)
			require.Equal(t, step.kind, res.Report.Rerun.Kind)
		}
	}
}

// An unchanged feed loaded by an intel that mapped its format otherwise
// (another MappingVersion, or none: loaded before migration 00039) is
// loaded again, once; the same content by the same mapping is skipped. A
// MISP feed directory's events are judged one by one the same way.
func TestFeedLoadedByAnotherMappingIsLoadedAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)

	path := filepath.Join(t.TempDir(), "bundle.json")
	require.NoError(t, os.WriteFile(path, stixBundle(1), 0o644))
	file := ingest.Feed{Name: "vendor", Path: path}
	dir := t.TempDir()
	ids := []string{"5f0e1a2b-0000-4000-8000-000000000011", "5f0e1a2b-0000-4000-8000-000000000012"}
	events, stamps := map[string][]byte{}, map[string]int64{}
	for i, id := range ids {
		stamps[id] = 1760000000 + int64(i)
		events[id] = mispEvent(id, "event "+id, stamps[id], [][2]string{{"ip-dst", fmt.Sprintf("198.51.100.%d", i+1)}})
	}
	writeFeedDir(t, dir, events, stamps)
	feedDir := ingest.Feed{Name: "circl", Path: dir}

	first := ingest.LoadFeed(ctx, st, file, ingest.Options{})
	require.Equal(t, ingest.StatusOK, first.Status, first.Error)
	require.Equal(t, stix2.MappingVersion, first.Mapping)
	state, _, err := st.Feed(ctx, "vendor")
	require.NoError(t, err)
	require.Equal(t, stix2.MappingVersion, state.Mapping)
	firstDir := ingest.LoadFeed(ctx, st, feedDir, ingest.Options{})
	require.Equal(t, ingest.StatusOK, firstDir.Status, firstDir.Error)
	require.Equal(t, 2, firstDir.EventsLoaded)
	before := pgtest.Dump(t, pool, pgtest.GraphQueries...)

	require.Equal(t, ingest.StatusSkipped, ingest.LoadFeed(ctx, st, file, ingest.Options{}).Status)
	require.Equal(t, ingest.StatusSkipped, ingest.LoadFeed(ctx, st, feedDir, ingest.Options{}).Status)

	// As a database loaded by an older intel has them.
	_, err = pool.Exec(ctx, `UPDATE feeds SET mapping = ''`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE feed_items SET mapping = '2026-01-01' WHERE item = $1`, ids[1])
	require.NoError(t, err)

	again := ingest.LoadFeed(ctx, st, file, ingest.Options{})
	require.Equal(t, ingest.StatusOK, again.Status, "an unchanged file loaded by another mapping is loaded again: %s", again.Error)
	require.Positive(t, again.Report.RecordsRead)
	againDir := ingest.LoadFeed(ctx, st, feedDir, ingest.Options{})
	require.Equal(t, ingest.StatusOK, againDir.Status, againDir.Error)
	require.Equal(t, 1, againDir.EventsLoaded, "only the event loaded by another mapping")
	require.Equal(t, 1, againDir.EventsSkipped)
	require.Equal(t, before, pgtest.Dump(t, pool, pgtest.GraphQueries...), "the same mapping of the same content changes nothing")
	var stale int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM feeds WHERE mapping <> $1 AND format = 'stix')
		+ (SELECT count(*) FROM feeds WHERE mapping <> $2 AND format = 'misp')
		+ (SELECT count(*) FROM feed_items WHERE mapping <> $2)`, stix2.MappingVersion, misp.MappingVersion).Scan(&stale))
	require.Zero(t, stale, "each load records the mapping that made it")

	require.Equal(t, ingest.StatusSkipped, ingest.LoadFeed(ctx, st, file, ingest.Options{}).Status)
	third := ingest.LoadFeed(ctx, st, feedDir, ingest.Options{})
	require.Equal(t, ingest.StatusSkipped, third.Status)
}

// TestMISPDocumentOfDeletedRecordsIsNoFailure: MISP publishes a sighting
// it deletes on ZeroMQ as it published it, with "action": "delete"
// (testdata/misp/zmq_misp_json_sighting.json with that action). A file of
// that message alone holds one record, deleted at its source: the load is
// ok, its report counts it under deleted, and the feed is recorded as
// loaded. Before, it failed "no records: none of the 1 records read is a
// valid MISP record (1 dropped: deleted 1 …)" and exited 1, as a file of
// another format would.
func TestMISPDocumentOfDeletedRecordsIsNoFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	raw, err := os.ReadFile("../testdata/misp/zmq_misp_json_sighting.json")
	require.NoError(t, err)
	del := strings.Replace(string(raw), `"action": "add"`, `"action": "delete"`, 1)
	require.NotEqual(t, string(raw), del)
	path := filepath.Join(t.TempDir(), "sighting-deleted.json")
	require.NoError(t, os.WriteFile(path, []byte(del), 0o644))
	res := ingest.LoadFeed(ctx, st, ingest.Feed{Name: "zmq-sightings", Path: path, Format: ingest.FormatMISP}, ingest.Options{})
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	require.Equal(t, map[engine.Reason]int64{misp.ReasonDeleted: 1}, res.Report.Dropped)
	require.Zero(t, res.Report.RecordsMapped)
	state, ok, err := st.Feed(ctx, "zmq-sightings")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "ok", state.LastStatus)

	// A record of another kind beside it still makes a document that
	// loads nothing a failure.
	rep := engine.NewReport("f", ingest.FormatMISP)
	rep.RecordsRead = 2
	rep.Drop(misp.ReasonDeleted)
	rep.Drop(engine.ReasonMissingID)
	require.ErrorIs(t, ingest.NoRecords(rep, ingest.FormatMISP), ingest.ErrNoRecords)
}

// TestMISPGalaxyDefinitionIsSaidForWhatItIs: a MISP galaxy definition
// (misp-galaxy's galaxies/*.json, testdata/excerpts) describes a galaxy and
// holds none of its clusters. A feed list of a misp-galaxy checkout (the
// whole corpus loaded by TestCorpusLoadOrder's config) names them: each
// failed as a STIX file ("none of the 1 records read is a valid STIX
// record (1 dropped: missing-id 1 …)"; a "type" member made it look like
// a STIX object) or, given as MISP, "found no MISP records … a STIX file?".
// Now the feed fails saying what the file is and where the clusters are,
// whatever format it is given as; the clusters file of the same galaxy
// and a document with one member more still load as before.
func TestMISPGalaxyDefinitionIsSaidForWhatItIs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct{ file, name, typ string }{
		{"misp-galaxy-definition-360net.json", "360.net Threat Actors", "360net-threat-actor"},
		{"misp-galaxy-definition-tea-matrix.json", "Tea Matrix", "tea-matrix"}, // kill_chain_order
	} {
		for _, format := range []string{"", ingest.FormatSTIX, ingest.FormatMISP} {
			path := filepath.Join("..", "testdata", "excerpts", c.file)
			res := ingest.LoadFeed(ctx, nil, ingest.Feed{Name: "g", Path: path, Format: format}, ingest.Options{DryRun: true, Logger: quietLog})
			require.Equal(t, ingest.StatusFailed, res.Status, "%s as %q", c.file, format)
			require.Contains(t, res.Error, fmt.Sprintf("a MISP galaxy definition (%q, type %q), not a feed", c.name, c.typ), format)
			require.Contains(t, res.Error, "misp-galaxy's clusters/"+c.file+")", format) // the same base name
		}
	}
	// Not definitions: a galaxy's clusters (a "values" list) and a STIX
	// object that happens to have a namespace.
	dir := t.TempDir()
	clusters := filepath.Join(dir, "clusters.json")
	require.NoError(t, os.WriteFile(clusters, []byte(`{"name": "Tea Matrix", "namespace": "tea-matrix", "type": "tea-matrix",
		"uuid": "c5f2dfb4-21a1-42d8-a452-1d3c36a204ff", "version": 1, "authors": ["x"], "source": "x", "description": "Tea Matrix",
		"values": [{"value": "Sencha", "uuid": "a1b2c3d4-0000-4000-8000-000000000001"}]}`), 0o644))
	res := ingest.LoadFeed(ctx, nil, ingest.Feed{Name: "c", Path: clusters}, ingest.Options{DryRun: true, Logger: quietLog})
	require.Equal(t, ingest.StatusOK, res.Status, res.Error)
	require.EqualValues(t, 1, res.Report.RecordsMapped)
	other := filepath.Join(dir, "other.json")
	require.NoError(t, os.WriteFile(other, []byte(`{"type": "x-thing", "id": "x-thing--a1b2c3d4-0000-4000-8000-000000000002",
		"spec_version": "2.1", "namespace": "n", "uuid": "u", "name": "n"}`), 0o644))
	res = ingest.LoadFeed(ctx, nil, ingest.Feed{Name: "o", Path: other}, ingest.Options{DryRun: true, Logger: quietLog})
	require.NotContains(t, res.Error, "galaxy definition")
}

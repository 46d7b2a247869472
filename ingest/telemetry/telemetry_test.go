package telemetry_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := store.NewStore(pool, store.WithBatchSize(100))
	now := time.Now().UTC().Truncate(time.Second)
	sha := strings.Repeat("ab", 32)
	var in strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-%d:4242","name":"powershell.exe"},"relation":"wrote","dst":{"kind":"file","name":"invoice.exe","hashes":{"SHA-256":"%s"}},"agent_id":"host-%d","observed_at":"%s","props":{"pid":4242}}`+"\n",
			i%5, sha, i%5, now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339))
	}
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:evil.example","agent_id":"host-1","observed_at":"` + now.Format(time.RFC3339) + `"}` + "\n")
	in.WriteString("\n")                                                                                                                      // blank: ignored
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"nonsense","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}` + "\n") // bad dst
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a","observed_at":"2026-01-01T00:00:00Z"}` + "\n")            // no agent
	in.WriteString(`{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a","agent_id":"a","observed_at":"yesterday"}` + "\n")        // bad time
	in.WriteString(`{"src": broken json` + "\n")
	in.WriteString(`{"src":"ipv4-addr:10.0.0.6","relation":"beaconed","dst":"url:http://c2.example/x","agent_id":"host-2","observed_at":"` + now.Format(time.RFC3339) + `"}`) // no final newline

	rep, err := telemetry.Load(ctx, strings.NewReader(in.String()), store, engine.Options{Feed: "edr"})
	require.NoError(t, err)
	require.EqualValues(t, 52, rep.Telemetry.Edges)
	require.EqualValues(t, 4, sumDropped(rep.Dropped), "%v", rep.Dropped)
	require.EqualValues(t, 1, rep.Dropped[telemetry.ReasonBadObservedAt])
	require.EqualValues(t, 1, rep.Dropped[telemetry.ReasonMissingAgentID])
	require.EqualValues(t, 1, rep.Dropped[telemetry.ReasonBadDst])
	require.EqualValues(t, 1, rep.Dropped[engine.ReasonInvalidJSON])
	require.EqualValues(t, 1, rep.Telemetry.Nodes.RelationsInserted, "the file is linked to its hash once")
	require.Zero(t, rep.Telemetry.Nodes.RelationsPending)

	// The file seen on the endpoint meets the hash node that feeds use.
	file, _, _ := graph.FileNode(map[string]string{"SHA-256": sha}, "invoice.exe")
	nb, err := store.FindRelated(ctx, file.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	_, ok := nb.Node(graph.HashNode("sha256", sha).ID)
	require.True(t, ok, "file -has-hash-> hash")
	require.Len(t, nb.Nodes, 7, "the file, its hash and the five processes that wrote it")

	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges").Scan(&rows))
	require.Equal(t, 52, rows)
}

func TestLoadLineTooLong(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := store.NewStore(pool)
	long := `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://a/` + strings.Repeat("a", 5000) + `","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`
	ok := `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://b","agent_id":"a","observed_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	rep, err := telemetry.Load(context.Background(), strings.NewReader(long+"\n"+ok+"\n"), store, engine.Options{MaxRecordBytes: 1024})
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Dropped[engine.ReasonTooLarge])
	require.EqualValues(t, 1, rep.Telemetry.Edges)
}

// TestLoadSkipsAByteOrderMark: a UTF-8 BOM before the first line (a file
// written by Windows tools) made that line invalid-json; it is skipped, as
// STIX and MISP inputs skip it, and the bytes read still count it.
func TestLoadSkipsAByteOrderMark(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := store.NewStore(pool)
	now := time.Now().UTC().Format(time.RFC3339)
	in := "\uFEFF" + `{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://bom-a","agent_id":"bom","observed_at":"` + now + `"}` + "\r\n" +
		`{"src":"ipv4-addr:10.0.0.5","relation":"x","dst":"url:http://bom-b","agent_id":"bom","observed_at":"` + now + `"}` + "\r\n"
	rep, err := telemetry.Load(context.Background(), strings.NewReader(in), store, engine.Options{})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 2, rep.Telemetry.Edges)
	require.EqualValues(t, len(in), rep.Bytes)
}

func sumDropped(m map[engine.Reason]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// TestLoadDropReasonsAreFixed feeds lines malformed in many different ways,
// each with text of its own: every drop must be counted under one of
// Reasons, never under text taken from the input.
func TestLoadDropReasonsAreFixed(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := store.NewStore(pool)
	now := time.Now().UTC().Format(time.RFC3339)
	var in strings.Builder
	const each = 20
	for i := range each {
		for _, l := range []string{
			fmt.Sprintf(`{"src": broken %d`, i),
			fmt.Sprintf(`{"src":"nonsense-%d","relation":"x","dst":"url:http://a","agent_id":"a","observed_at":"%s"}`, i, now),
			fmt.Sprintf(`{"src":"url:http://a","relation":"x","dst":{"kind":"thing-%d"},"agent_id":"a","observed_at":"%s"}`, i, now),
			fmt.Sprintf(`{"src":"url:http://a","relation":"x","dst":{"kind":"file"},"agent_id":"a","observed_at":"%s"}`, now),
			fmt.Sprintf(`{"src":"url:http://a","relation":"x","dst":"url:http://b","agent_id":"a","observed_at":"day %d"}`, i),
			fmt.Sprintf(`{"src":"url:http://a","dst":"url:http://b-%d","agent_id":"a","observed_at":"%s"}`, i, now),
			fmt.Sprintf(`{"src":"url:http://a","relation":"x","dst":"url:http://b-%d","observed_at":"%s"}`, i, now),
			fmt.Sprintf(`{"src":"url:http://a","relation":"x","dst":"url:http://b-%d","agent_id":"a"}`, i),
			fmt.Sprintf(`[%d]`, i),
			fmt.Sprintf(`{"src":"url:http://a","relation":%d,"dst":"url:http://b","agent_id":"a","observed_at":"%s"}`, i, now),
		} {
			in.WriteString(l + "\n")
		}
	}
	in.WriteString(`{"src":"url:http://a","relation":"x","dst":"url:http://b","agent_id":"a","observed_at":"` + now + `"}` + "\n")

	rep, err := telemetry.Load(context.Background(), strings.NewReader(in.String()), store, engine.Options{Feed: "edr"})
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Telemetry.Edges)
	require.EqualValues(t, 10*each, sumDropped(rep.Dropped))
	for reason := range rep.Dropped {
		require.Contains(t, telemetry.Reasons(), reason)
	}
	require.Equal(t, map[engine.Reason]int64{
		engine.ReasonInvalidJSON:          each,
		engine.ReasonNotObject:            each,
		engine.ReasonInvalidProperty:      each,
		telemetry.ReasonBadSrc:            each,
		telemetry.ReasonBadDst:            2 * each,
		telemetry.ReasonBadObservedAt:     each,
		telemetry.ReasonMissingRelation:   each,
		telemetry.ReasonMissingAgentID:    each,
		telemetry.ReasonMissingObservedAt: each,
	}, rep.Dropped)
}

// TestLoadConcurrentStreamsLeaveNoPendingRelation loads four streams at
// once through one Store, in small chunks, naming overlapping files with
// hashes: every file must end linked to its hashes, none of the links
// parked in pending_relations.
func TestLoadConcurrentStreamsLeaveNoPendingRelation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithBatchSize(20), store.WithCopyChunk(25))
	now := time.Now().UTC().Truncate(time.Second)
	const streams, lines, files = 4, 400, 60
	sha := func(f int) string { return fmt.Sprintf("%064x", 1000+f) }
	md5 := func(f int) string { return fmt.Sprintf("%032x", 5000+f) }
	errs := make(chan error, streams)
	for s := range streams {
		var in strings.Builder
		for i := range lines {
			f := (i*7 + s*13) % files // every file in several streams, in different orders
			fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-%d:%d"},"relation":"wrote","dst":{"kind":"file","name":"f%d.exe","hashes":{"SHA-256":"%s","MD5":"%s"}},"agent_id":"host-%d","observed_at":"%s"}`+"\n",
				s, i%9, f, sha(f), md5(f), s, now.Add(-time.Duration(i)*time.Second).Format(time.RFC3339))
		}
		go func() {
			_, err := telemetry.Load(ctx, strings.NewReader(in.String()), st, engine.Options{Feed: fmt.Sprintf("edr-%d", s)})
			errs <- err
		}()
	}
	for range streams {
		require.NoError(t, <-errs)
	}
	var pending, hasHash, edges int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM pending_relations),
		(SELECT count(*) FROM relations WHERE relation = 'has-hash'), (SELECT count(*) FROM telemetry_edges)`).Scan(&pending, &hasHash, &edges))
	require.Zero(t, pending)
	require.Equal(t, 2*files, hasHash, "each file linked to its two hashes")
	require.Equal(t, streams*lines, edges)
}

// TestLoadNormalisesObservables: an agent's values go through the one
// normaliser of their kind, so "Evil.Example." is the feeds' evil.example,
// and a value that is no observable of its kind (an IPv6 address as
// ipv4-addr, a short SHA-256) is a counted drop, not a node.
func TestLoadNormalisesObservables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	now := time.Now().UTC().Format(time.RFC3339)
	in := strings.Join([]string{
		`{"src":"ipv4-addr:10.0.0.5","relation":"resolved","dst":"domain-name:Evil.Example.","agent_id":"a","observed_at":"` + now + `"}`,
		`{"src":"ipv4-addr:10.0.0.5","relation":"resolved","dst":"ipv4-addr:2001:db8::1","agent_id":"a","observed_at":"` + now + `"}`,
		`{"src":"ipv4-addr:10.0.0.5","relation":"wrote","dst":{"kind":"hash","algorithm":"SHA-256","value":"abcd"},"agent_id":"a","observed_at":"` + now + `"}`,
		`{"src":"ipv4-addr:10.0.0.5","relation":"wrote","dst":{"kind":"file","name":"x.exe","hashes":{"MD5":"zz"}},"agent_id":"a","observed_at":"` + now + `"}`,
	}, "\n")
	rep, err := telemetry.Load(ctx, strings.NewReader(in), st, engine.Options{Feed: "edr"})
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.Telemetry.Edges)
	require.Equal(t, map[engine.Reason]int64{telemetry.ReasonBadDst: 3}, rep.Dropped)
	n, err := st.GetNode(ctx, graph.ValueNode(graph.KindDomainName, "evil.example").ID)
	require.NoError(t, err)
	require.Equal(t, "evil.example", n.Key)

	// A registry key, as kind:value or as an object, in any hive spelling,
	// is the feeds' key (a STIX windows-registry-key of HKEY_LOCAL_MACHINE).
	in = strings.Join([]string{
		`{"src":"process:h:1","relation":"set","dst":"windows-registry-key:HKLM\\Software\\Run","agent_id":"a","observed_at":"` + now + `"}`,
		`{"src":"process:h:1","relation":"set","dst":{"kind":"windows-registry-key","key":"\\REGISTRY\\MACHINE\\Software\\Run"},"agent_id":"a","observed_at":"` + now + `"}`,
	}, "\n")
	rep, err = telemetry.Load(ctx, strings.NewReader(in), st, engine.Options{Feed: "edr"})
	require.NoError(t, err)
	require.EqualValues(t, 2, rep.Telemetry.Edges, "dropped: %v", rep.Dropped)
	key, ok := graph.ObservableNode(string(graph.KindWindowsRegistryKey), map[string]any{"key": `HKEY_LOCAL_MACHINE\Software\Run`})
	require.True(t, ok)
	var edges int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges WHERE dst_id = $1`, key.ID).Scan(&edges))
	require.Equal(t, 2, edges)
}

// TestLoadRepeatedEndpoints loads many lines that name few endpoints over
// and over (the endpoint memo of the parser and the Store's endpoint cache
// both answer most of them), across many small COPY chunks and with
// several workers and two node writers, with bad lines in between: every stored edge has both
// endpoint nodes, every file its has-hash link, the report counts every
// line, and the bad lines are dropped under their reasons each time they
// come, however often the same bad endpoint repeats.
func TestLoadRepeatedEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithBatchSize(50), store.WithWriters(2), store.WithCopyChunk(97), store.WithLogger(quiet))
	now := time.Now().UTC().Truncate(time.Second)
	var in strings.Builder
	const lines = 2000
	var wantDropped = map[engine.Reason]int64{}
	for i := range lines {
		at := now.Add(-time.Duration(i) * time.Second).Format(time.RFC3339)
		switch i % 100 {
		case 7: // a NUL in the process key: PostgreSQL would refuse it
			fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-1:\u0000"},"relation":"x","dst":"ipv4-addr:10.0.0.1","agent_id":"host-1","observed_at":%q}`+"\n", at)
			wantDropped[graph.ReasonInvalidSrc]++
		case 8: // the same invalid endpoint text each time
			fmt.Fprintf(&in, `{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:300.1.1.1","agent_id":"host-1","observed_at":%q}`+"\n", at)
			wantDropped[telemetry.ReasonBadDst]++
		case 9:
			in.WriteString(`{"src": "ipv4-addr:10.0.0.1", broken` + "\n")
			wantDropped[engine.ReasonInvalidJSON]++
		default:
			fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-%d:%d","name":"p.exe"},"relation":"wrote","dst":{"kind":"file","name":"f%d.exe","hashes":{"SHA-256":"%064x"}},"agent_id":"host-%d","observed_at":%q,"props":{"pid":%d}}`+"\n",
				i%7, 1000+i%13, i%11, i%11, i%7, at, 1000+i%13)
		}
	}
	rep, err := telemetry.Load(ctx, strings.NewReader(in.String()), st, engine.Options{Feed: "edr", Workers: 4, Logger: quiet})
	require.NoError(t, err)
	var dropped int64
	for _, n := range wantDropped {
		dropped += n
	}
	require.EqualValues(t, lines, rep.RecordsRead)
	require.EqualValues(t, lines-dropped, rep.Telemetry.Edges)
	require.Equal(t, wantDropped, rep.Dropped)

	var edges, orphans, files, linked int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*),
	       count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.src_id)
	                           OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.dst_id))
	FROM telemetry_edges e`).Scan(&edges, &orphans))
	require.EqualValues(t, lines-dropped, edges)
	require.Zero(t, orphans, "every edge has both endpoint nodes")
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM nodes WHERE kind = 'file'),
	       (SELECT count(*) FROM relations WHERE relation = 'has-hash')`).Scan(&files, &linked))
	require.EqualValues(t, 11, files)
	require.EqualValues(t, 11, linked, "each file is linked to its hash")
	var processes int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'process'`).Scan(&processes))
	require.EqualValues(t, 7*13, processes, "host i%%7 and pid i%%13 meet in every pair")
	var pending int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Zero(t, pending)
}

// TestLoadKeepsEncodingJSONLeniency: lines are decoded once with
// json v2, which keeps what encoding/json accepted: member names in any
// case, a duplicate name (the last wins) and invalid UTF-8 in a string
// (read as Windows-1252, textenc.RepairBytes).
func TestLoadKeepsEncodingJSONLeniency(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Format(time.RFC3339)
	in := `{"SRC":"ipv4-addr:10.0.0.1","Relation":"X","dst":"ipv4-addr:10.0.0.2","Agent_ID":"a","observed_at":"` + now + `"}` + "\n" +
		`{"src":"ipv4-addr:10.0.0.1","relation":"x","relation":"y","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"` + now + `"}` + "\n" +
		`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a` + "\xff" + `","observed_at":"` + now + `"}` + "\n"
	w := &captureWriter{}
	rep, err := telemetry.Load(context.Background(), strings.NewReader(in), w, engine.Options{Logger: quiet})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	require.Len(t, w.edges, 3)
	require.Equal(t, "x", w.edges[0].Relation)
	require.Equal(t, "a", w.edges[0].AgentID)
	require.Equal(t, "y", w.edges[1].Relation)
	require.Equal(t, "aÿ", w.edges[2].AgentID, "a byte that is not UTF-8 read as Windows-1252")
}

// TestLoadKeepsAnEndpointsNameAndSpellsRelationsAsFeeds: a process named by
// one line keeps that name when later (or earlier) lines name only its key,
// as an EDR's network events do; a process no line names has no name (it
// is shown by its key). Before, a nameless line gave the key as the name,
// which outranked the real one whenever that line was the later: the node
// of powershell.exe read "ws-7:4242". And an agent's relation spelled
// "Connected To" or "CONNECTED_TO" is the feeds' connected-to
// (graph.RelationType), not a relation of its own that a walk's
// --relations connected-to leaves out; a relation of blanks is missing.
func TestLoadKeepsAnEndpointsNameAndSpellsRelationsAsFeeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quiet))
	at := func(h int) string {
		return time.Date(2026, 12, 6, h, 0, 0, 0, time.UTC).Format(time.RFC3339)
	}
	in := strings.Join([]string{
		`{"src":{"kind":"process","key":"ws-7:4242","name":"powershell.exe"},"relation":"connected-to","dst":"ipv4-addr:203.0.113.9","agent_id":"ws-7","observed_at":"` + at(10) + `"}`,
		`{"src":{"kind":"process","key":"ws-7:4242"},"relation":"Connected To","dst":"ipv4-addr:203.0.113.9","agent_id":"ws-7","observed_at":"` + at(11) + `"}`,
		`{"src":{"kind":"process","key":"ws-7:4242"},"relation":"CONNECTED_TO","dst":"ipv4-addr:203.0.113.9","agent_id":"ws-7","observed_at":"` + at(9) + `"}`,
		`{"src":{"kind":"process","key":"ws-7:4343"},"relation":"connected-to","dst":"ipv4-addr:203.0.113.9","agent_id":"ws-7","observed_at":"` + at(10) + `"}`,
		`{"src":{"kind":"process","key":"ws-7:4343"},"relation":"  ","dst":"ipv4-addr:203.0.113.9","agent_id":"ws-7","observed_at":"` + at(10) + `"}`,
	}, "\n")
	rep, err := telemetry.Load(ctx, strings.NewReader(in), st, engine.Options{Feed: "edr", Logger: quiet})
	require.NoError(t, err)
	require.EqualValues(t, 4, rep.Telemetry.Edges)
	require.Equal(t, map[engine.Reason]int64{telemetry.ReasonMissingRelation: 1}, rep.Dropped)

	named, err := st.GetNode(ctx, graph.NamedID(graph.KindProcess, "ws-7:4242"))
	require.NoError(t, err)
	require.Equal(t, "powershell.exe", named.Name)
	require.Equal(t, at(9), named.FirstSeen.UTC().Format(time.RFC3339))
	require.Equal(t, at(11), named.LastSeen.UTC().Format(time.RFC3339))
	unnamed, err := st.GetNode(ctx, graph.NamedID(graph.KindProcess, "ws-7:4343"))
	require.NoError(t, err)
	require.Empty(t, unnamed.Name)
	require.Equal(t, "ws-7:4343", unnamed.Key)

	rows, err := pool.Query(ctx, `SELECT DISTINCT relation FROM telemetry_edges ORDER BY 1`)
	require.NoError(t, err)
	relations, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"connected-to"}, relations)
}

package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// seenEdges are telemetry edges whose endpoint nodes carry the time of
// their observation, as ingest/telemetry maps a line: process i runs
// process → domain edges at the given hours of day, in that order.
func seenEdges(day time.Time, hours [][]float64) []graph.TelemetryEdge {
	var edges []graph.TelemetryEdge
	for i, hs := range hours {
		for j, h := range hs {
			at := day.Add(time.Duration(h * float64(time.Hour)))
			src := graph.Node{ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "proc-%d", i)), Kind: graph.KindProcess,
				Key: fmt.Sprintf("agent-1:pid:%d", 100+i), FirstSeen: at, LastSeen: at}
			dst := graph.ValueNode(graph.KindDomainName, fmt.Sprintf("d%d.example", j%3))
			dst.FirstSeen, dst.LastSeen = at, at
			edges = append(edges, graph.TelemetryEdge{Src: src, Relation: "connected-to", Dst: dst, AgentID: "agent-1", ObservedAt: at})
		}
	}
	return edges
}

// nodeSeen returns a node's first and last seen.
func nodeSeen(t *testing.T, b *testBundle, id uuid.UUID) (time.Time, time.Time) {
	t.Helper()
	var first, last time.Time
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT first_seen, last_seen FROM nodes WHERE id = $1`, id).Scan(&first, &last))
	return first.UTC(), last.UTC()
}

// nodesTable is every column of every node but created_at and updated_at.
func nodesTable(t *testing.T, b *testBundle) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), `SELECT (to_jsonb(n) - 'created_at' - 'updated_at')::text FROM nodes n ORDER BY id`)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestTelemetryNodeSeenSpansEveryObservation loads, in chunks of two edges,
// a process observed at 08:00, 12:00 and 20:00 (and others, some only a few
// minutes apart, some out of order): each endpoint node must end seen from
// its first to its last observation in the load, not just the observations
// of the chunk that first wrote it.
func TestTelemetryNodeSeenSpansEveryObservation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(2))
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	hours := [][]float64{
		{8, 12, 20},                // far apart, each in a chunk of its own
		{8, 8.25, 8.5, 7.75, 9},    // a few minutes apart, one earlier
		{10, 10, 3, 23.5, 10, 10},  // the extremes in the middle
		{15, 14.9, 15.1, 14.8, 16}, // both ways
	}
	edges := seenEdges(day, hours)
	_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	for i, hs := range hours {
		lo, hi := hs[0], hs[0]
		for _, h := range hs {
			lo, hi = min(lo, h), max(hi, h)
		}
		var src graph.Node
		for _, e := range edges {
			if e.Src.Key == fmt.Sprintf("agent-1:pid:%d", 100+i) {
				src = e.Src
				break
			}
		}
		first, last := nodeSeen(t, b, src.ID)
		require.Equal(t, day.Add(time.Duration(lo*float64(time.Hour))), first, "process %d first_seen", i)
		require.Equal(t, day.Add(time.Duration(hi*float64(time.Hour))), last, "process %d last_seen", i)
	}
	// The domains, each named by several processes.
	for k := range 3 {
		lo, hi := 24.0, 0.0
		for _, hs := range hours {
			for j, h := range hs {
				if j%3 == k {
					lo, hi = min(lo, h), max(hi, h)
				}
			}
		}
		d := graph.ValueNode(graph.KindDomainName, fmt.Sprintf("d%d.example", k))
		first, last := nodeSeen(t, b, d.ID)
		require.Equal(t, day.Add(time.Duration(lo*float64(time.Hour))), first, "domain d%d first_seen", k)
		require.Equal(t, day.Add(time.Duration(hi*float64(time.Hour))), last, "domain d%d last_seen", k)
	}
}

// splitHours are the hours of day at which 12 endpoints are observed, 9
// times each and out of order, in the split tests.
func splitHours() [][]float64 {
	var hours [][]float64
	for i := range 12 {
		var hs []float64
		for j := range 9 {
			hs = append(hs, float64((i*7+j*5)%24)+float64(j%4)/10)
		}
		hours = append(hours, hs)
	}
	return hours
}

// TestTelemetryNodeSeenIndependentOfSplit loads the same edges in one run,
// in two runs (two Stores, as two `intel ingest telemetry` processes: a load
// cut short and resumed), in two runs of one Store and as two concurrent
// appends of one Store: the nodes tables must be identical.
func TestTelemetryNodeSeenIndependentOfSplit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hours := splitHours()
	load := func(name string, run func(b *testBundle, edges []graph.TelemetryEdge)) []string {
		b := setup(t, store.WithCopyChunk(4))
		day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		run(b, seenEdges(day, hours))
		var n int64
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges`).Scan(&n), name)
		require.EqualValues(t, 12*9, n, name)
		return nodesTable(t, b)
	}
	one := load("one run", func(b *testBundle, edges []graph.TelemetryEdge) {
		_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
		require.NoError(t, err)
	})
	require.Len(t, one, 12+3)
	requireSplitIndependent(t, one, load)
}

// TestTelemetryWriterNodeSeenAfterClose appends a process's observations
// through a TelemetryWriter in batches minutes and hours apart: once the
// writer has closed, the node spans them all.
func TestTelemetryWriterNodeSeenAfterClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	edges := seenEdges(day, [][]float64{{8, 8.2, 7.9, 12, 12.5, 20, 20.1}})
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 2})
	for i := range edges {
		_, err := w.Append(ctx, edges[i:i+1])
		require.NoError(t, err)
	}
	require.NoError(t, w.Close(ctx))
	first, last := nodeSeen(t, b, edges[0].Src.ID)
	require.Equal(t, day.Add(79*time.Hour/10), first)
	require.Equal(t, day.Add(201*time.Hour/10), last)
}

// fileEdges are telemetry edges naming files with a SHA-256, as
// ingest/telemetry maps a line: process i writes file i%files at the given
// hours of day, the file's hash node and has-hash relation implied and
// carrying the time of the observation, as the endpoints do.
func fileEdges(day time.Time, files int, hours [][]float64) []graph.TelemetryEdge {
	var edges []graph.TelemetryEdge
	for i, hs := range hours {
		for _, h := range hs {
			at := day.Add(time.Duration(h * float64(time.Hour)))
			src := graph.Node{ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "proc-%d", i)), Kind: graph.KindProcess,
				Key: fmt.Sprintf("agent-1:pid:%d", 100+i), FirstSeen: at, LastSeen: at}
			f := i % files
			file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": fmt.Sprintf("%064x", 0xf00+f)}, fmt.Sprintf("f%d.exe", f))
			file.FirstSeen, file.LastSeen = at, at
			for j := range hashes {
				hashes[j].FirstSeen, hashes[j].LastSeen = at, at
			}
			for j := range rels {
				rels[j].FirstSeen, rels[j].LastSeen = at, at
			}
			edges = append(edges, graph.TelemetryEdge{Src: src, Relation: "wrote", Dst: file, AgentID: "agent-1", ObservedAt: at,
				Implied: graph.Batch{Nodes: hashes, Relations: rels}})
		}
	}
	return edges
}

// rowsOf is every column of every row of table but created_at and
// updated_at, in a stable order.
func rowsOf(t *testing.T, b *testBundle, table string) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(),
		`SELECT (to_jsonb(r) - 'created_at' - 'updated_at')::text AS row FROM `+table+` r ORDER BY 1`)
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// hasHashSeen returns the first and last seen of a file's has-hash
// relation, in relations and in relation_records.
func hasHashSeen(t *testing.T, b *testBundle, file graph.Node) (rel, rec [2]time.Time) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT first_seen, last_seen FROM relations WHERE src_id = $1 AND relation = $2`,
		file.ID, graph.RelHasHash).Scan(&rel[0], &rel[1]))
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT first_seen, last_seen FROM relation_records WHERE src_id = $1 AND relation = $2`,
		file.ID, graph.RelHasHash).Scan(&rec[0], &rec[1]))
	return [2]time.Time{rel[0].UTC(), rel[1].UTC()}, [2]time.Time{rec[0].UTC(), rec[1].UTC()}
}

// TestTelemetryRelationSeenSpansEveryObservation loads, in chunks of two
// edges, a file with a SHA-256 observed at 08:00, 12:00 and 20:00 (and
// others out of order): its implied has-hash relation must end seen from
// the first to the last observation, in relations and relation_records,
// not just over the observations of the chunk that first wrote it. Also
// with statements of one record and three writers, so that the flush of
// the pending extensions spreads them over three transactions
// (writeRelationsSpread).
func TestTelemetryRelationSeenSpansEveryObservation(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		opts []store.Option
	}{
		{"defaults", []store.Option{store.WithCopyChunk(2)}},
		{"flush spread over writers", []store.Option{store.WithCopyChunk(2), store.WithBatchSize(1), store.WithWriters(3)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			relationSeenSpans(t, setup(t, c.opts...))
		})
	}
}

func relationSeenSpans(t *testing.T, b *testBundle) {
	ctx := context.Background()
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	hours := [][]float64{
		{8, 12, 20},               // far apart, each in a chunk of its own
		{10, 10, 3, 23.5, 10, 10}, // the extremes in the middle
		{15, 14.9, 15.1, 14.8, 16},
	}
	edges := fileEdges(day, len(hours), hours)
	_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	for i, hs := range hours {
		lo, hi := slices.Min(hs), slices.Max(hs)
		want := [2]time.Time{day.Add(time.Duration(lo * float64(time.Hour))), day.Add(time.Duration(hi * float64(time.Hour)))}
		var file graph.Node
		for _, e := range edges {
			if e.Src.Key == fmt.Sprintf("agent-1:pid:%d", 100+i) {
				file = e.Dst
				break
			}
		}
		rel, rec := hasHashSeen(t, b, file)
		require.Equal(t, want, rel, "file %d: has-hash in relations", i)
		require.Equal(t, want, rec, "file %d: has-hash in relation_records", i)
		first, last := nodeSeen(t, b, file.ID)
		require.Equal(t, want, [2]time.Time{first, last}, "file %d node", i)
	}
}

// TestTelemetryRelationSeenIndependentOfSplit loads the same file edges
// (several processes per file, so a has-hash relation is met in many
// chunks) in one run, in two runs of two Stores, in two runs of one Store
// and as two concurrent appends of one Store: the nodes, relations and
// relation_records tables must be identical.
func TestTelemetryRelationSeenIndependentOfSplit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hours := splitHours()
	const files = 5
	type tables struct{ nodes, relations, records []string }
	load := func(name string, run func(b *testBundle, edges []graph.TelemetryEdge)) tables {
		b := setup(t, store.WithCopyChunk(4))
		day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		run(b, fileEdges(day, files, hours))
		var n int64
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges`).Scan(&n), name)
		require.EqualValues(t, 12*9, n, name)
		return tables{nodesTable(t, b), rowsOf(t, b, "relations"), rowsOf(t, b, "relation_records")}
	}
	one := load("one run", func(b *testBundle, edges []graph.TelemetryEdge) {
		_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
		require.NoError(t, err)
	})
	require.Len(t, one.relations, files)
	require.Len(t, one.records, files)
	requireSplitIndependent(t, one, load)
}

// TestTelemetryWriterRelationSeenAfterClose appends a file's observations
// through a TelemetryWriter one at a time, hours apart: once the writer has
// closed, its has-hash relation spans them all.
func TestTelemetryWriterRelationSeenAfterClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	edges := fileEdges(day, 1, [][]float64{{12, 8, 20, 9.5}})
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 2})
	for i := range edges {
		_, err := w.Append(ctx, edges[i:i+1])
		require.NoError(t, err)
	}
	require.NoError(t, w.Close(ctx))
	want := [2]time.Time{day.Add(8 * time.Hour), day.Add(20 * time.Hour)}
	rel, rec := hasHashSeen(t, b, edges[0].Dst)
	require.Equal(t, want, rel)
	require.Equal(t, want, rec)
}

// requireSplitIndependent loads the edges split at several cuts, into two
// Stores, into one Store by two appends and by two concurrent appends, and
// whole by a Store writing several chunks' records at once, and requires
// each load to leave want (load returns the tables compared).
func requireSplitIndependent[T any](t *testing.T, want T, load func(name string, run func(b *testBundle, edges []graph.TelemetryEdge)) T) {
	t.Helper()
	ctx := context.Background()
	one := want
	for _, cut := range []int{1, 13, 50, 107} {
		two := load("two stores", func(b *testBundle, edges []graph.TelemetryEdge) {
			_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges[:cut]))
			require.NoError(t, err)
			other := store.NewStore(b.pool, store.WithCopyChunk(4), store.WithBatchSize(500), store.WithLogger(quietLogger))
			_, err = other.AppendTelemetry(ctx, store.SliceEdges(edges[cut:]))
			require.NoError(t, err)
		})
		require.Equal(t, one, two, "split at %d into two runs", cut)
		same := load("one store twice", func(b *testBundle, edges []graph.TelemetryEdge) {
			_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges[:cut]))
			require.NoError(t, err)
			_, err = b.store.AppendTelemetry(ctx, store.SliceEdges(edges[cut:]))
			require.NoError(t, err)
		})
		require.Equal(t, one, same, "split at %d into two appends of one Store", cut)
		concurrent := load("concurrent", func(b *testBundle, edges []graph.TelemetryEdge) {
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, part := range [][]graph.TelemetryEdge{edges[:cut], edges[cut:]} {
				wg.Go(func() {
					_, errs[i] = b.store.AppendTelemetry(ctx, store.SliceEdges(part))
				})
			}
			wg.Wait()
			require.NoError(t, errs[0])
			require.NoError(t, errs[1])
		})
		require.Equal(t, one, concurrent, "split at %d into two concurrent appends", cut)
	}
	// One append whose chunks of two edges have their records written
	// three at a time (recordWriters): chunks naming the same node or
	// relation wait for each other's claim.
	writers := load("record writers", func(b *testBundle, edges []graph.TelemetryEdge) {
		s := store.NewStore(b.pool, store.WithCopyChunk(2), store.WithWriters(3), store.WithLogger(quietLogger))
		require.Greater(t, s.Writers(), 1, "the pool allows more than one writer")
		_, err := s.AppendTelemetry(ctx, store.SliceEdges(edges))
		require.NoError(t, err)
		var pending int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
		require.Zero(t, pending, "no relation was written before its endpoints")
	})
	require.Equal(t, one, writers, "chunks' records written side by side")
}

// TestTelemetryNodeNameIndependentOfSplit loads processes whose lines name
// them only sometimes (an EDR's network events without the image name),
// some whose pid a second image reused, and lines a second source reports
// too: however the edges are split into
// loads, chunks and concurrent appends, the nodes table (every column, the
// ranks too) is the one writing every occurrence through UpsertNodes gives,
// the rule (graph.MergeNode): the name of the highest-ranked occurrence that
// names the process, and every source. Before, the endpoint cache kept an
// endpoint's latest occurrence whole, so a later line without a name left
// the node nameless (or, named by its key, named it so), and a line inside
// the times already written was never merged: its source was lost.
func TestTelemetryNodeNameIndependentOfSplit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hours := splitHours()
	named := func(day time.Time) []graph.TelemetryEdge {
		edges := seenEdges(day, hours)
		for k := range edges {
			i, j := k/9, k%9
			switch {
			case (i+j)%3 == 0: // no name on this line
			case i%4 == 0 && j >= 5:
				edges[k].Src.Name = fmt.Sprintf("reused%d.exe", i)
			default:
				edges[k].Src.Name = fmt.Sprintf("image%d.exe", i)
			}
			if k%5 == 0 { // a second source reports some of the lines
				edges[k].Src.Sources, edges[k].Dst.Sources = []string{"edr-b"}, []string{"edr-b"}
			}
		}
		return edges
	}
	dayOf := func(b *testBundle) time.Time {
		return time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	}
	ref := setup(t)
	var occurrences []graph.Node
	for _, e := range named(dayOf(ref)) {
		occurrences = append(occurrences, e.Src, e.Dst)
	}
	_, err := ref.store.UpsertNodes(ctx, occurrences)
	require.NoError(t, err)
	want := nodesTable(t, ref)
	require.Len(t, want, 12+3)

	load := func(name string, run func(b *testBundle, edges []graph.TelemetryEdge)) []string {
		b := setup(t, store.WithCopyChunk(4))
		run(b, named(dayOf(b)))
		return nodesTable(t, b)
	}
	one := load("one run", func(b *testBundle, edges []graph.TelemetryEdge) {
		_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
		require.NoError(t, err)
	})
	require.Equal(t, want, one, "one append writes what every occurrence upserted gives")
	requireSplitIndependent(t, one, load)
}

// TestTelemetryNodeSourceInsideWrittenTimes: a Store's appends whose edges
// name a node from two sources (a service's TelemetryWriter fed by two
// collectors): the second source's line falls inside the times the first
// chunk wrote, and the node still lists both sources, as upserting every
// occurrence gives. Before, the endpoint cache took a line inside the
// times written as written, and the second source was lost.
func TestTelemetryNodeSourceInsideWrittenTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(2))
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	edge := func(h int, source string) graph.TelemetryEdge {
		at := day.Add(time.Duration(h) * time.Hour)
		src := graph.Node{ID: graph.NamedID(graph.KindProcess, "ws-1:10"), Kind: graph.KindProcess, Key: "ws-1:10", Name: "p.exe",
			FirstSeen: at, LastSeen: at, Sources: []string{source}}
		dst := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
		dst.FirstSeen, dst.LastSeen, dst.Sources = at, at, []string{source}
		return graph.TelemetryEdge{Src: src, Relation: "connected-to", Dst: dst, AgentID: "ws-1", ObservedAt: at}
	}
	_, err := b.store.AppendTelemetry(ctx, store.SliceEdges([]graph.TelemetryEdge{edge(8, "collector-a"), edge(20, "collector-a")}))
	require.NoError(t, err)
	_, err = b.store.AppendTelemetry(ctx, store.SliceEdges([]graph.TelemetryEdge{edge(12, "collector-b")}))
	require.NoError(t, err)
	for _, id := range []uuid.UUID{graph.NamedID(graph.KindProcess, "ws-1:10"), graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7").ID} {
		n, err := b.store.GetNode(ctx, id)
		require.NoError(t, err)
		require.Equal(t, []string{"collector-a", "collector-b"}, n.Sources, n.Key)
	}
}

// TestTelemetryNamelessOccurrenceAtWrittenLastSeen: a process written
// named, seen 08:00 to 20:00, then a line at exactly 20:00 that does not
// name it (same source, nothing else new). Its rank ties the written
// record's confidence and last seen, so the digest of [name, props]
// decides (graph.RecordRank): the process name is picked so that the
// nameless line's rank is the higher. The nodes table, ranks too, must be
// what upserting every occurrence gives (graph.MergeNode): props_rank the
// nameless line's. The endpoint cache took the line as covered by the
// times written (saysNothingNew: no name, the same rest), and the stored
// props_rank stayed the named record's, below the merge's, so a later
// record ranked between the two would give the props a key the rule gives
// the nameless line.
func TestTelemetryNamelessOccurrenceAtWrittenLastSeen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dayOf := func(b *testBundle) time.Time {
		return time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	}
	ref := setup(t)
	last := dayOf(ref).Add(20 * time.Hour)
	name := ""
	for i := range 64 {
		n := fmt.Sprintf("p%d.exe", i)
		if graph.RecordRank(nil, last, last, n, nil) < graph.RecordRank(nil, last, last, "", nil) {
			name = n
			break
		}
	}
	require.NotEmpty(t, name, "a name whose record ranks below the nameless one at the same time")
	edge := func(day time.Time, h int, named bool) graph.TelemetryEdge {
		at := day.Add(time.Duration(h) * time.Hour)
		src := graph.Node{ID: graph.NamedID(graph.KindProcess, "ws-9:42"), Kind: graph.KindProcess, Key: "ws-9:42",
			FirstSeen: at, LastSeen: at, Sources: []string{"edr"}}
		if named {
			src.Name = name
		}
		dst := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.42")
		dst.FirstSeen, dst.LastSeen, dst.Sources = at, at, []string{"edr"}
		return graph.TelemetryEdge{Src: src, Relation: "connected-to", Dst: dst, AgentID: "ws-9", ObservedAt: at}
	}
	edges := func(day time.Time) [][]graph.TelemetryEdge {
		return [][]graph.TelemetryEdge{{edge(day, 8, true), edge(day, 20, true)}, {edge(day, 20, false)}}
	}
	var occurrences []graph.Node
	for _, part := range edges(dayOf(ref)) {
		for _, e := range part {
			occurrences = append(occurrences, e.Src, e.Dst)
		}
	}
	_, err := ref.store.UpsertNodes(ctx, occurrences)
	require.NoError(t, err)
	want := nodesTable(t, ref)

	b := setup(t, store.WithCopyChunk(2))
	for _, part := range edges(dayOf(b)) {
		_, err := b.store.AppendTelemetry(ctx, store.SliceEdges(part))
		require.NoError(t, err)
	}
	require.Equal(t, want, nodesTable(t, b))
}

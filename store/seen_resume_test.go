package store_test

import (
	"context"
	"fmt"
	"iter"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// revisited is n telemetry edges in which 20 processes write 30 files
// (with their hash nodes and has-hash links) over and over, at times in
// no order (agents report late), so every endpoint and implied record is
// seen again after it was first written and its first and last seen move
// with later chunks, as an EDR stream's hosts do. slow sleeps now and
// then, so a load of it can be cut while it runs.
func revisited(n int, at time.Time, slow bool) iter.Seq2[graph.TelemetryEdge, error] {
	return func(yield func(graph.TelemetryEdge, error) bool) {
		for i := range n {
			if slow && i%500 == 0 {
				time.Sleep(3 * time.Millisecond)
			}
			proc := graph.Node{ID: graph.NamedID(graph.KindProcess, fmt.Sprintf("ws-%d:4242", i%20)),
				Kind: graph.KindProcess, Key: fmt.Sprintf("ws-%d:4242", i%20)}
			seen := at.Add(time.Duration(i*7919%n) * time.Second) // out of order, as agents' clocks are
			e := fileEdge(proc, i%30, seen)
			// Timed as ingest/telemetry maps a line: every record the
			// edge names, at the edge's time.
			e.Src.FirstSeen, e.Src.LastSeen = seen, seen
			e.Dst.FirstSeen, e.Dst.LastSeen = seen, seen
			for j := range e.Implied.Nodes {
				e.Implied.Nodes[j].FirstSeen, e.Implied.Nodes[j].LastSeen = seen, seen
			}
			for j := range e.Implied.Relations {
				e.Implied.Relations[j].FirstSeen, e.Implied.Relations[j].LastSeen = seen, seen
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// seenRows dumps the times (and every other column) of the nodes and
// relations a telemetry load writes, for comparing two databases.
func seenRows(t *testing.T, b *testBundle) string {
	t.Helper()
	return pgtest.Dump(t, b.pool, "SELECT id, kind, key, name, props::text, first_seen, last_seen, sources FROM nodes ORDER BY id") +
		pgtest.Dump(t, b.pool, "SELECT src_id, relation, dst_id, first_seen, last_seen, sources FROM relations ORDER BY 1, 2, 3")
}

// cleanRevisited loads revisited(n) into a database of its own as one
// clean load, and returns the input it loaded as, the edges' base time,
// and the dumps of its edges and of its records' times.
func cleanRevisited(t *testing.T, n int) (in store.TelemetryInput, at time.Time, wantEdges, wantSeen string) {
	t.Helper()
	in = store.TelemetryInput{Name: "file:/var/log/edr.ndjson", ContentHash: "c0ffee"}
	clean := setup(t, store.WithCopyChunk(500))
	at = clean.now.Add(-5 * time.Hour)
	_, err := clean.store.Checkpointed(in).AppendTelemetry(context.Background(), revisited(n, at, false))
	require.NoError(t, err)
	return in, at, edgeRows(t, clean.pool), seenRows(t, clean)
}

// cutAfter returns a context cancelled once b's telemetry checkpoint has
// at least edges durable: a load on it is cut short there.
func cutAfter(t *testing.T, b *testBundle, edges int64) context.Context {
	t.Helper()
	cut, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		defer cancel()
		for cut.Err() == nil {
			var done int64
			_ = b.pool.QueryRow(context.Background(), "SELECT coalesce(max(edges), 0) FROM telemetry_checkpoints").Scan(&done)
			if done >= edges {
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return cut
}

// cutRevisited loads revisited(n) as in into a database of its own, cut
// once 4,000 edges are durable (its context cancelled), and returns the
// database and what the cut load reported.
func cutRevisited(t *testing.T, in store.TelemetryInput, n int, at time.Time) (*testBundle, store.TelemetryStats) {
	t.Helper()
	b := setup(t, store.WithCopyChunk(500))
	first, err := b.store.Checkpointed(in).AppendTelemetry(cutAfter(t, b, 4000), revisited(n, at, true))
	require.Error(t, err, "the first load is cut short")
	return b, first
}

// TestCutLoadKeepsEndpointTimes: a checkpointed telemetry load cut short
// after some chunks committed — its context ended, as a SIGKILL, a crash
// or the server's death ends it, so the first/last seen the endpoint
// cache kept pending were never written — then run again by another
// process (a new Store, an empty cache) leaves every endpoint node and
// implied relation with the times of one clean load, not only the edges.
// Before, the rerun skipped the stored edges and with them the times they
// carried: the nodes' last seen stopped where the cut load's records had
// last been written.
func TestCutLoadKeepsEndpointTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 12_000
	in, at, wantEdges, wantSeen := cleanRevisited(t, n)
	b, first := cutRevisited(t, in, n, at)
	require.Less(t, first.Edges, int64(n))
	require.NotEqual(t, wantSeen, seenRows(t, b), "the cut load left times unwritten (else this test proves nothing)")

	// Another process: the first Store's cache, with what it kept
	// pending, is gone.
	again := store.NewStore(b.pool, store.WithCopyChunk(500), store.WithBatchSize(500),
		store.WithClock(func() time.Time { return b.now }))
	second, err := again.Checkpointed(in).AppendTelemetry(ctx, revisited(n, at, false))
	require.NoError(t, err)
	require.Positive(t, second.Resumed)
	require.EqualValues(t, n, first.Edges+second.Edges, "each edge written once")
	require.Equal(t, wantEdges, edgeRows(t, b.pool))
	require.Equal(t, wantSeen, seenRows(t, b), "every node and relation spans its observations, as after one clean load")

	// Loaded to its end: a third run reads nothing again.
	third, err := store.NewStore(b.pool, store.WithClock(func() time.Time { return b.now })).
		Checkpointed(in).AppendTelemetry(ctx, revisited(n, at, false))
	require.NoError(t, err)
	require.Zero(t, third.Edges)
	require.Zero(t, third.Nodes.NodesInserted+third.Nodes.NodesMerged+third.Nodes.NodesUnchanged, "a complete input writes no record again")
	require.Equal(t, wantSeen, seenRows(t, b))
}

// failAt is seq up to its edge number at (1-based), which fails with a read
// error instead, as a telemetry file truncated or unreadable while read.
func failAt(seq iter.Seq2[graph.TelemetryEdge, error], at int) iter.Seq2[graph.TelemetryEdge, error] {
	return func(yield func(graph.TelemetryEdge, error) bool) {
		i := 0
		for e, err := range seq {
			if i++; i == at {
				yield(graph.TelemetryEdge{}, fmt.Errorf("read error at edge %d", at))
				return
			}
			if !yield(e, err) {
				return
			}
		}
	}
}

// TestRerunCutInItsReplayKeepsEndpointTimes: the rerun of a cut load,
// which reads the stored edges again for their records' times, is itself
// cut while doing so, after its first batch of them (a read error here;
// the server's death or a refused write in the field); a third run then
// leaves every endpoint node and implied relation with the times of one
// clean load. Before, the rerun's first replayed batch marked every stored
// edge as having its times written (inputProgress.committed set to the
// checkpoint's edges, not to the edges read), so the flush at the end of
// the failed rerun recorded seen_edges = edges: the third run read nothing
// again and the times of the rest stayed lost for good (with the built CLI,
// kill -9 of the postmaster during the replay of 212,288 edges: 9,462 of
// 154,496 nodes with other first/last seen than a clean load's).
func TestRerunCutInItsReplayKeepsEndpointTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 12_000
	in, at, wantEdges, wantSeen := cleanRevisited(t, n)
	b, _ := cutRevisited(t, in, n, at)
	checkpoint := func() (edges, seen int64) {
		require.NoError(t, b.pool.QueryRow(ctx, "SELECT edges, seen_edges FROM telemetry_checkpoints").Scan(&edges, &seen))
		return edges, seen
	}
	edges, seen := checkpoint()
	require.Less(t, seen+1200, edges, "the rerun has more than 1,200 stored edges to read again")

	newStore := func() *store.Store {
		return store.NewStore(b.pool, store.WithCopyChunk(500), store.WithBatchSize(500),
			store.WithClock(func() time.Time { return b.now }))
	}
	_, err := newStore().Checkpointed(in).AppendTelemetry(ctx, failAt(revisited(n, at, false), int(seen)+1200))
	require.ErrorContains(t, err, "read error")
	edgesAfter, seenAfter := checkpoint()
	require.Equal(t, edges, edgesAfter, "the failed rerun stored no edge")
	require.LessOrEqual(t, seenAfter, seen+1200, "seen_edges does not pass the edges the rerun read again")

	_, err = newStore().Checkpointed(in).AppendTelemetry(ctx, revisited(n, at, false))
	require.NoError(t, err)
	require.Equal(t, wantEdges, edgeRows(t, b.pool))
	require.Equal(t, wantSeen, seenRows(t, b), "every node and relation spans its observations, as after one clean load")
}

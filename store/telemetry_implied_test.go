package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// fileEdge is a process writing a file with two hashes, the file's hash
// nodes and has-hash relations carried as the edge's implied records.
func fileEdge(proc graph.Node, f int, at time.Time) graph.TelemetryEdge {
	file, hashes, rels := graph.FileNode(map[string]string{
		"SHA-256": fmt.Sprintf("%064x", 7000+f), "MD5": fmt.Sprintf("%032x", 9000+f)}, fmt.Sprintf("f%d.exe", f))
	return graph.TelemetryEdge{Src: proc, Relation: "wrote", Dst: file, AgentID: proc.Key, ObservedAt: at,
		Implied: graph.Batch{Nodes: hashes, Relations: rels}}
}

// telemetryIntegrity counts what must be zero whatever AppendTelemetry
// did or failed to do: edge endpoints that are not nodes, implied records
// parked in pending_relations.
func telemetryIntegrity(t *testing.T, b *testBundle) (orphanEndpoints, pending int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(context.Background(), `
SELECT (SELECT count(*) FROM (SELECT src_id AS id FROM telemetry_edges UNION SELECT dst_id FROM telemetry_edges) e
        WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.id)),
       (SELECT count(*) FROM pending_relations)`).Scan(&orphanEndpoints, &pending))
	return orphanEndpoints, pending
}

// filesMissingHashes counts the files written to by stored edges that lack
// a has-hash relation to one of their two hash nodes.
func filesMissingHashes(t *testing.T, b *testBundle) int {
	t.Helper()
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `
SELECT count(*) FROM (SELECT DISTINCT dst_id FROM telemetry_edges) f
WHERE (SELECT count(*) FROM relations r JOIN nodes h ON h.id = r.dst_id AND h.kind = 'hash'
       WHERE r.src_id = f.dst_id AND r.relation = 'has-hash') <> 2`).Scan(&n))
	return n
}

// TestAppendTelemetryConcurrentStreamsWriteImpliedRecords appends four
// streams at once through one Store, in small chunks, whose file endpoints
// overlap across streams and carry their hashes as implied records: every
// has-hash relation must be stored, none left pending, every edge's
// endpoints must be nodes.
func TestAppendTelemetryConcurrentStreamsWriteImpliedRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithBatchSize(20), store.WithCopyChunk(30))
	const streams, perStream, files = 4, 600, 90
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	errs := make(chan error, streams)
	var total graph.WriteStats
	stats := make(chan store.TelemetryStats, streams)
	procs := make([]graph.Node, streams)
	for s := range streams {
		proc := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: fmt.Sprintf("agent-%d:pid:1", s)}
		procs[s] = proc
		var edges []graph.TelemetryEdge
		for i := range perStream {
			// Each stream walks the files in an order of its own, so the
			// streams meet the same new files in chunks written at once.
			edges = append(edges, fileEdge(proc, (i*(s+1)+s*17)%files, day.Add(time.Duration(i)*time.Second)))
		}
		go func() {
			st, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
			stats <- st
			errs <- err
		}()
	}
	for range streams {
		require.NoError(t, <-errs)
		total.Add((<-stats).Nodes)
	}
	orphans, pending := telemetryIntegrity(t, b)
	require.Zero(t, orphans, "every edge endpoint is a node")
	require.Zero(t, pending, "no has-hash relation waits for its file")
	require.Zero(t, total.RelationsPending)
	require.Zero(t, filesMissingHashes(t, b))
	var hasHash, edges int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM relations WHERE relation = 'has-hash'),
		(SELECT count(*) FROM telemetry_edges)`).Scan(&hasHash, &edges))
	require.Equal(t, 2*files, hasHash)
	require.Equal(t, streams*perStream, edges)

	// Again on the same Store: everything is cached, nothing more is written.
	st, err := b.store.AppendTelemetry(ctx, store.SliceEdges([]graph.TelemetryEdge{fileEdge(procs[0], 1, day)}))
	require.NoError(t, err)
	require.EqualValues(t, 1, st.Edges)
	require.Zero(t, st.Nodes, "endpoints and implied records already written by this Store")
}

// TestAppendTelemetryImpliedFailureLeavesNoOrphanEdge makes the server
// reject one implied hash node in the second chunk: AppendTelemetry must
// fail before that chunk's COPY commits, so the stored edges (the first chunk's)
// all have their nodes and has-hash relations, and a second call on the
// same Store, once the node is accepted, must complete everything.
func TestAppendTelemetryImpliedFailureLeavesNoOrphanEdge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(100))
	const files = 300
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	proc := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "agent-1:pid:1"}
	var edges []graph.TelemetryEdge
	for i := range 1000 {
		edges = append(edges, fileEdge(proc, i%files, day.Add(time.Duration(i)*time.Second)))
	}
	poison := edges[150].Implied.Nodes[0] // first seen in the second chunk
	_, err := b.pool.Exec(ctx, fmt.Sprintf(`
CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key = '%s' THEN RAISE EXCEPTION 'poison node refused'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reject_poison BEFORE INSERT ON nodes FOR EACH ROW EXECUTE FUNCTION reject_poison();`, poison.Key))
	require.NoError(t, err)

	st, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.ErrorContains(t, err, "poison node refused")
	require.EqualValues(t, 100, st.Edges, "the first chunk only")
	orphans, pending := telemetryIntegrity(t, b)
	require.Zero(t, orphans)
	require.Zero(t, pending)
	require.Zero(t, filesMissingHashes(t, b), "the stored edges' files have their hashes")
	var stored int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges`).Scan(&stored))
	require.Equal(t, 100, stored)

	_, err = b.pool.Exec(ctx, `DROP TRIGGER reject_poison ON nodes`)
	require.NoError(t, err)
	st, err = b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	require.EqualValues(t, 1000, st.Edges)
	orphans, pending = telemetryIntegrity(t, b)
	require.Zero(t, orphans)
	require.Zero(t, pending)
	require.Zero(t, filesMissingHashes(t, b))
	var hasHash int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM relations WHERE relation = 'has-hash'`).Scan(&hasHash))
	require.Equal(t, 2*files, hasHash, "the retry writes the records the failed chunk did not")
}

package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestEndpointCacheClaims: records one append is writing are not handed
// to another, which waits for that write instead; they are cached when it
// commits and handed out again when it fails; a relation whose endpoint
// another append is writing waits for that node.
func TestEndpointCacheClaims(t *testing.T) {
	t.Parallel()
	file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": "aa11"}, "evil.exe")
	proc := graph.Node{ID: graph.NamedID(graph.KindProcess, "h:1"), Kind: graph.KindProcess, Key: "h:1"}
	at := time.Now().UTC()
	withFile := []graph.TelemetryEdge{{Src: proc, Relation: "wrote", Dst: file, AgentID: "h", ObservedAt: at,
		Implied: graph.Batch{Nodes: hashes, Relations: rels}}}
	procOnly := []graph.TelemetryEdge{{Src: proc, Relation: "resolved", Dst: graph.ValueNode(graph.KindDomainName, "x.example"), AgentID: "h", ObservedAt: at}}

	c := newEndpointCache(endpointCacheGeneration)
	none := &droppedSet{}
	b1, first, waits := c.claim(procOnly, none)
	require.Len(t, b1.Nodes, 2)
	require.NotNil(t, first)
	require.Empty(t, waits)

	// A second append naming the process gets the file and its hash, not
	// the process, and not the file's has-hash relation (its endpoints are
	// its own, so it may write it) ...
	b2, second, waits := c.claim(withFile, none)
	require.ElementsMatch(t, []any{file.ID, hashes[0].ID}, []any{b2.Nodes[0].ID, b2.Nodes[1].ID})
	require.Len(t, b2.Relations, 1)
	require.Equal(t, []*recordClaim{first}, waits, "it waits for the write of the process")
	// ... and a third, naming all of them, writes nothing and waits for both.
	b3, third, waits := c.claim(withFile, none)
	require.Zero(t, b3.Len())
	require.Nil(t, third)
	require.ElementsMatch(t, []*recordClaim{first, second}, waits)

	// The first write fails: its records are free again, not cached.
	c.finish(first, b1, droppedSet{}, false)
	<-first.done
	b4, fourth, waits := c.claim(procOnly, none)
	require.Len(t, b4.Nodes, 2, "a failed write's records are written by the next append")
	require.Empty(t, waits)
	c.finish(fourth, b4, droppedSet{}, true)
	// The second commits, but the database refused the hash: it is not
	// cached, and an append that already saw it refused skips it.
	var refused droppedSet
	refused.addNode(hashes[0].ID)
	c.finish(second, b2, refused, true)
	b5, _, waits := c.claim(withFile, &refused)
	require.Zero(t, b5.Len())
	require.Empty(t, waits)
	b6, _, _ := c.claim(withFile, none)
	require.Equal(t, []graph.Node{hashes[0]}, b6.Nodes, "a refused record is not remembered as written")

	// A relation whose endpoint node another append is writing waits.
	c2 := newEndpointCache(endpointCacheGeneration)
	onlyHash := []graph.TelemetryEdge{{Src: proc, Relation: "loaded", Dst: hashes[0], AgentID: "h", ObservedAt: at}}
	_, hashWrite, _ := c2.claim(onlyHash, none)
	b7, _, waits := c2.claim(withFile, none)
	require.Empty(t, b7.Relations, "has-hash waits for its hash node")
	require.Equal(t, []*recordClaim{hashWrite}, waits)
}

// TestFlushRecordsHowFarTimesAreWritten: a flush of the endpoint cache
// moves the checkpoint's seen_edges of each input being appended to the
// edges it had committed when the flush began (never past its edges,
// never back), and a flush is due once an input's committed edges have
// been ahead of its seen_edges for pendingSeenInterval, pending times or
// not.
func TestFlushRecordsHowFarTimesAreWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := NewStore(pool, WithLogger(quietLog))
	_, err := pool.Exec(ctx, `INSERT INTO telemetry_checkpoints (input, content_hash, edges, seen_edges) VALUES ('file:/x', 'h', 100, 10)`)
	require.NoError(t, err)
	seen := func() (n int64) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT seen_edges FROM telemetry_checkpoints WHERE input = 'file:/x'`).Scan(&n))
		return n
	}
	p, untrack := s.endpoints.track(TelemetryInput{Name: "file:/x", ContentHash: "h"}, 10)
	require.False(t, s.endpoints.flushDue())
	p.committed.Store(60)
	require.False(t, s.endpoints.flushDue(), "not before the interval")
	s.endpoints.mu.Lock()
	s.endpoints.lastFlush = time.Now().Add(-pendingSeenInterval)
	s.endpoints.mu.Unlock()
	require.True(t, s.endpoints.flushDue(), "the input's seen_edges lags its checkpoint")
	_, err = s.flushSeen(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 60, seen())
	require.EqualValues(t, 60, p.seen.Load())

	p.committed.Store(500) // past the checkpoint's edges: capped there
	_, err = s.flushSeen(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 100, seen())

	_, err = pool.Exec(ctx, `UPDATE telemetry_checkpoints SET seen_edges = 30 WHERE input = 'file:/x'`)
	require.NoError(t, err)
	untrack() // no longer appended: a flush leaves it alone
	p.committed.Store(90)
	p.seen.Store(0)
	_, err = s.flushSeen(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 30, seen())
}

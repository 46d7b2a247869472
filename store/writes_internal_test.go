package store

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

var quietLog = slog.New(slog.DiscardHandler)

// TestWriteIsolatingFindsRejectedRows is the safety net of row 3: records
// validation did not catch (written here past it) make the database refuse
// the batch with a data error; the batch is split until the refused
// records are alone, which are dropped and counted, and the rest is
// written.
func TestWriteIsolatingFindsRejectedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := NewStore(pool, WithLogger(quietLog))
	var nodes []graph.Node
	for i := range 64 {
		n := graph.NamedNode(graph.KindMalware, fmt.Sprintf("family-%02d", i))
		switch i {
		case 5:
			n.Name = "nul\x00name" // text refuses NUL (22021)
		case 40:
			n.Props = map[string]any{"x": "a\x00b"} // jsonb refuses \u0000 (22P05)
		}
		nodes = append(nodes, n)
	}
	rels := []graph.Relation{
		{Src: nodes[1].Ref(), Type: "variant-of", Dst: nodes[2].Ref()},
		{Src: nodes[3].Ref(), Type: "bad\x00type", Dst: nodes[4].Ref()},
		{Src: nodes[6].Ref(), Type: "variant-of", Dst: nodes[7].Ref()},
	}
	var stats graph.WriteStats
	var dropped droppedSet
	now := time.Now().UTC()
	require.NoError(t, s.writeIsolating(ctx, graph.MergeNodes(nodes), graph.MergeRelations(rels), true, now, &stats, &dropped))
	require.Equal(t, map[graph.DropReason]int64{ReasonRejected: 3}, stats.Dropped)
	require.EqualValues(t, 62, stats.NodesInserted)
	require.EqualValues(t, 2, stats.RelationsInserted)
	require.True(t, dropped.nodes[nodes[5].ID])
	require.True(t, dropped.nodes[nodes[40].ID])
	require.True(t, dropped.rels[keyOf(rels[1])])
	var n, r int
	require.NoError(t, pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM relations)").Scan(&n, &r))
	require.Equal(t, 62, n)
	require.Equal(t, 2, r)
}

// TestCopyIsolatingFindsRejectedRows: a COPY chunk holding rows the server
// refuses (NUL in text, \u0000 in jsonb), sent past validation, loses
// those rows only.
func TestCopyIsolatingFindsRejectedRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := NewStore(pool, WithLogger(quietLog))
	src := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "h:1"}
	var edges []graph.TelemetryEdge
	for i := range 1000 {
		e := graph.TelemetryEdge{Src: src, Relation: "r", Dst: src, AgentID: fmt.Sprint("a-", i), ObservedAt: time.Now().UTC()}
		switch i {
		case 0:
			e.AgentID = "nul\x00agent"
		case 517:
			e.Props = map[string]any{"k": "v\x00"}
		case 999:
			e.Relation = "r\x00"
		}
		edges = append(edges, e)
	}
	dropped := map[graph.DropReason]int64{}
	var rejected []refusedRow
	n, err := s.commitChunk(ctx, TelemetryInput{}, copyJob{edges: edges, from: 0, to: 1000}, dropped, &rejected)
	require.NoError(t, err)
	require.EqualValues(t, 997, n)
	require.ElementsMatch(t, []refusedRow{{0, ReasonRejected}, {517, ReasonRejected}, {999, ReasonRejected}}, rejected)
	require.Equal(t, map[graph.DropReason]int64{ReasonRejected: 3}, dropped)
	var rows int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges").Scan(&rows))
	require.Equal(t, 997, rows)
}

// TestChunkRecordsRefusedDropTheirEdges is row 8's safety net: when the
// write of a chunk's records drops an endpoint or implied node (sent here
// past the edge validation), the edges that need it are dropped and
// counted, never COPYed without it.
// With two writers and batches of one row, the nodes go through
// UpsertNodes first and the refusal is found by writing the batch again.
func TestChunkRecordsRefusedDropTheirEdges(t *testing.T) {
	t.Parallel()
	for _, writers := range []int{1, 2} {
		t.Run(fmt.Sprintf("writers %d", writers), func(t *testing.T) {
			t.Parallel()
			chunkRecordsRefused(t, NewStore(pgtest.Pool(t), WithLogger(quietLog), WithWriters(writers), WithBatchSize(1)))
		})
	}
}

func chunkRecordsRefused(t *testing.T, s *Store) {
	ctx := context.Background()
	good := graph.ValueNode(graph.KindIPv4Addr, "10.0.0.1")
	bad := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "host:\x00"}
	file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": fmt.Sprintf("%064x", 7)}, "a.exe")
	hashes[0].Name = "bad\x00hash"
	at := time.Now().UTC()
	chunk := []graph.TelemetryEdge{
		{Src: good, Relation: "r", Dst: good, AgentID: "a", ObservedAt: at},
		{Src: bad, Relation: "r", Dst: good, AgentID: "a", ObservedAt: at},
		{Src: good, Relation: "r", Dst: bad, AgentID: "a", ObservedAt: at},
		{Src: good, Relation: "r", Dst: file, AgentID: "a", ObservedAt: at, Implied: graph.Batch{Nodes: hashes, Relations: rels}},
		{Src: good, Relation: "r2", Dst: good, AgentID: "a", ObservedAt: at},
	}
	stats := TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	kept, err := s.writeChunkRecords(ctx, chunk, &stats)
	require.NoError(t, err)
	require.Len(t, kept, 2)
	require.Equal(t, map[graph.DropReason]int64{graph.ReasonInvalidSrc: 1, graph.ReasonInvalidDst: 1, graph.ReasonInvalidImplied: 1}, stats.Dropped)
	require.Equal(t, map[graph.DropReason]int64{ReasonInvalidText: 2}, stats.Nodes.Dropped, "the node and the hash refused")
	require.False(t, s.endpoints.nodes.has(bad.ID), "a refused node is not remembered as written")
}

func TestTransientAndDataErrors(t *testing.T) {
	t.Parallel()
	require.False(t, Transient(context.Canceled))
	require.False(t, Transient(fmt.Errorf("x: %w", context.DeadlineExceeded)))
	require.False(t, DataError(nil))
	// A Citus coordinator's words for a worker lost mid-transaction (seen
	// in TestAppendTelemetryInputSurvivesAWorkerCrash); the same codes with
	// other words (a local disk's I/O error, a bug) are not transient.
	require.True(t, Transient(&pgconn.PgError{Code: "58030", Message: "failed to COPY to shard 102008 on 127.0.0.1:35951"}))
	require.True(t, Transient(&pgconn.PgError{Code: "XX000", Message: "failure on connection marked as essential: 127.0.0.1:44765"}))
	require.True(t, Transient(&pgconn.PgError{Code: "XX000", Message: "server closed the connection unexpectedly\n\tThis probably means the server terminated abnormally\n\tbefore or while processing the request.\ninvalid socket"}))
	require.False(t, Transient(&pgconn.PgError{Code: "58030", Message: "could not read block 7 in file \"base/5/16384\": read only 0 of 8192 bytes"}))
	require.False(t, Transient(&pgconn.PgError{Code: "XX000", Message: "cache lookup failed for relation 16384"}))
	p := RetryPolicy{Attempts: 5, Base: 10 * time.Millisecond, Max: 40 * time.Millisecond}
	for attempt := 1; attempt < 10; attempt++ {
		d := p.Wait(attempt)
		ceiling := min(10*time.Millisecond<<(attempt-1), 40*time.Millisecond)
		require.GreaterOrEqual(t, d, ceiling/2, "attempt %d", attempt)
		require.LessOrEqual(t, d, ceiling, "attempt %d", attempt)
	}
}

// TestWriteIsolatingCountsANodeOnce: a batch the database refuses is split
// between nodes, never between the records of one node (node_records: one
// record per source object). Node x has four versioned records, the batch
// a node the server refuses (\u0000 in the props of both its records,
// past validation) at each place: x is inserted once and counted once,
// never inserted in one half and merged in the other, and a node refused
// with two records, each a source object's, counts two refused records
// (as the load report's nodes count records: repeated stays 0).
func TestWriteIsolatingCountsANodeOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := malwareRecord
	for bad := range 6 {
		pool := pgtest.Pool(t)
		s := NewStore(pool, WithLogger(quietLog))
		var in []graph.Node
		for i, src := range []string{"malware--a", "malware--b", "malware--c", "malware--d"} {
			in = append(in, rec("iso-x", src, map[string]any{src: i}))
		}
		for i := range 4 {
			in = append(in, rec(fmt.Sprintf("iso-%d", i), "malware--e", map[string]any{"i": i}))
		}
		// The refused node: two records, both refused.
		in = append(in, rec("iso-bad", "malware--f", map[string]any{"x": "a\x00b"}), rec("iso-bad", "malware--g", map[string]any{"y": "a\x00b"}))
		recs := nodeRecords(in)
		// Move the refused node's records to the bad-th node boundary
		// (the records of each node stay together).
		var badRecs, rest []graph.Node
		for _, r := range recs {
			if r.Name == "iso-bad" {
				badRecs = append(badRecs, r)
			} else {
				rest = append(rest, r)
			}
		}
		var bounds []int
		for i := range rest {
			if i == 0 || rest[i].ID != rest[i-1].ID {
				bounds = append(bounds, i)
			}
		}
		at := append(bounds, len(rest))[bad]
		recs = append(append(append([]graph.Node{}, rest[:at]...), badRecs...), rest[at:]...)
		var stats graph.WriteStats
		var dropped droppedSet
		require.NoError(t, s.writeIsolating(ctx, recs, nil, false, time.Now().UTC(), &stats, &dropped))
		how := fmt.Sprint("refused node at ", at)
		require.EqualValues(t, 5, stats.NodesInserted, how)
		require.Zero(t, stats.NodesMerged, how)
		require.Zero(t, stats.NodesUnchanged, how)
		require.EqualValues(t, 2, stats.NodesRefused, how)
		require.Equal(t, map[graph.DropReason]int64{ReasonRejected: 2}, stats.Dropped, how)
		require.True(t, dropped.nodes[badRecs[0].ID], how)
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&n))
		require.Equal(t, 5, n, how)
	}
}

// TestWriteIsolatingKeepsANodesGoodRecords: a node with three records (one
// per source object) of which the server refuses one (\u0000 in its props,
// past validation), in a batch with other nodes. The node is written with
// its two good records (node_records and the node's props theirs), the bad
// record alone is dropped and counted (NodesRefused 1, rejected-by-database
// 1), and the node is not named dropped. Before, the node was dropped
// whole: its good records lost, the node missing from the graph.
func TestWriteIsolatingKeepsANodesGoodRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := NewStore(pool, WithLogger(quietLog))
	rec := malwareRecord
	in := []graph.Node{
		rec("keep-x", "malware--a", map[string]any{"a": 1}),
		rec("keep-x", "malware--b", map[string]any{"b": "a\x00b"}),
		rec("keep-x", "malware--c", map[string]any{"c": 3}),
	}
	for i := range 5 {
		in = append(in, rec(fmt.Sprintf("keep-%d", i), "malware--e", map[string]any{"i": i}))
	}
	recs := nodeRecords(in)
	var stats graph.WriteStats
	var dropped droppedSet
	require.NoError(t, s.writeIsolating(ctx, recs, nil, false, time.Now().UTC(), &stats, &dropped))
	require.EqualValues(t, 6, stats.NodesInserted)
	require.EqualValues(t, 1, stats.NodesRefused)
	require.Equal(t, map[graph.DropReason]int64{ReasonRejected: 1}, stats.Dropped)
	require.False(t, dropped.nodes[in[0].ID], "the node is written")
	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&n))
	require.Equal(t, 6, n)
	var sources []string
	var props string
	require.NoError(t, pool.QueryRow(ctx, `SELECT array(SELECT source_id FROM node_records WHERE node_id = $1 ORDER BY 1), (SELECT props::text FROM nodes WHERE id = $1)`,
		in[0].ID).Scan(&sources, &props))
	require.Equal(t, []string{"malware--a", "malware--c"}, sources)
	require.Contains(t, props, `"a": 1`)
	require.Contains(t, props, `"c": 3`)
	require.NotContains(t, props, `"b"`)
}

// TestCheckBatchNamesANodeDroppedOnlyWithoutRecords: validation refuses
// one of a node's two records (\u0000 in its props): that record is counted
// refused, and the node is not named dropped (its good record writes it,
// so the edges and relations needing it stay); a node whose only record
// is refused is. Before, any refused record named its node dropped.
func TestCheckBatchNamesANodeDroppedOnlyWithoutRecords(t *testing.T) {
	t.Parallel()
	s := &Store{log: quietLog}
	rec := malwareRecord
	good, bad := rec("check-x", "malware--a", map[string]any{"a": 1}), rec("check-x", "malware--b", map[string]any{"b": "a\x00b"})
	alone := rec("check-y", "malware--c", map[string]any{"c": "a\x00b"})
	var ws graph.WriteStats
	var dropped droppedSet
	out := s.checkBatch(context.Background(), graph.Batch{Nodes: []graph.Node{good, bad, alone}}, &ws, &dropped)
	require.Len(t, out.Nodes, 1)
	require.EqualValues(t, 2, ws.NodesRefused)
	require.False(t, dropped.nodes[good.ID], "written by its good record")
	require.True(t, dropped.nodes[alone.ID])
}

// malwareRecord is a record of the malware named name by source object src
// at version 2024-03-01, with props.
func malwareRecord(name, src string, props map[string]any) graph.Node {
	n := graph.NamedNode(graph.KindMalware, name)
	n.Versions = map[string]time.Time{src: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)}
	n.Props = props
	return n
}

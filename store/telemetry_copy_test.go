package store_test

import (
	"context"
	"encoding/json"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestAppendTelemetryRowsRoundTrip checks the binary COPY encoding of every
// column against what the server stores.
func TestAppendTelemetryRowsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(2))
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	src := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "agent-é:pid:1"}
	dst := graph.ValueNode(graph.KindDomainName, "évil.example")
	edges := []graph.TelemetryEdge{
		{Src: src, Relation: "resolved", Dst: dst, AgentID: "agent-é ✓", ObservedAt: day.Add(time.Hour + 123456789*time.Nanosecond),
			Props: map[string]any{"pid": float64(4242), "cmd": `powershell -enc "x\y"` + "\n\t", "ok": true, "none": nil}},
		{Src: dst, Relation: "x", Dst: src, AgentID: "a", ObservedAt: day.In(time.FixedZone("X", -5*3600)).Add(2 * time.Hour),
			Props: map[string]any{"args": []any{"-a", 1.5}, "env": map[string]any{"K": "v"}}},
		{Src: src, Relation: "x", Dst: src, AgentID: "a", ObservedAt: day},
	}
	st, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	require.EqualValues(t, len(edges), st.Edges)

	rows, err := b.pool.Query(ctx, `SELECT src_id, dst_id, relation, agent_id, observed_at, props::text FROM telemetry_edges ORDER BY observed_at`)
	require.NoError(t, err)
	defer rows.Close()
	i := 0
	for rows.Next() {
		var (
			srcID, dstID    uuid.UUID
			relation, agent string
			at              time.Time
			props           string
		)
		require.NoError(t, rows.Scan(&srcID, &dstID, &relation, &agent, &at, &props))
		want := edges[[]int{2, 0, 1}[i]]
		require.Equal(t, want.Src.ID, srcID)
		require.Equal(t, want.Dst.ID, dstID)
		require.Equal(t, want.Relation, relation)
		require.Equal(t, want.AgentID, agent)
		require.True(t, want.ObservedAt.Truncate(time.Microsecond).Equal(at), "%s != %s", want.ObservedAt, at)
		var got map[string]any
		require.NoError(t, json.Unmarshal([]byte(props), &got))
		if want.Props == nil {
			want.Props = map[string]any{}
		}
		require.Equal(t, want.Props, got)
		i++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, len(edges), i)
}

// TestAppendTelemetryCopyFailureStops makes the server refuse a row of the
// second chunk with an error that is not about the data (a trigger
// raising P0001, as a broken server-side rule would): AppendTelemetry must
// return the COPY's error, once, with the first chunk stored and nothing
// after it.
func TestAppendTelemetryCopyFailureStops(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(10))
	_, err := b.pool.Exec(ctx, `CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.agent_id = 'boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER boom BEFORE INSERT ON telemetry_edges FOR EACH ROW EXECUTE FUNCTION boom()`)
	require.NoError(t, err)
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	proc := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "agent-1:pid:1"}
	var edges []graph.TelemetryEdge
	for i := range 50 {
		e := fileEdge(proc, i, day.Add(time.Duration(i)*time.Second))
		if i == 15 {
			e.AgentID = "boom"
		}
		edges = append(edges, e)
	}
	st, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.ErrorContains(t, err, "copy 10 telemetry edges")
	require.Equal(t, 1, strings.Count(err.Error(), "copy "), "one error, said once: %v", err)
	require.EqualValues(t, 10, st.Edges)
	requireStoredWhole(t, b, 10)
}

// TestAppendTelemetryDropsRowsPostgresWouldRefuse is row 3 for
// telemetry: NUL in an edge's agent id, relation or props, invalid UTF-8,
// an endpoint whose key holds a NUL (row 8) — each edge is dropped alone
// and counted, the rest of its chunk is written, and no edge is stored
// without its endpoint nodes.
//
// The same edges handed to AppendCheckedTelemetry, which does not run
// CheckEdge, as if a caller had checked them wrongly: the database
// refuses each bad row or record, and the safety net drops that edge
// alone and counts it. Edge 31 is then stored: its src node (the process
// of every edge, with a NUL in this copy's name) was written by the first
// chunk, so its bad name never reaches the database.
func TestAppendTelemetryDropsRowsPostgresWouldRefuse(t *testing.T) {
	t.Parallel()
	type appendFunc func(*store.Store, context.Context, iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error)
	for _, c := range []struct {
		name    string
		append  appendFunc
		stored  int
		dropped map[graph.DropReason]int64
	}{
		{"AppendTelemetry", (*store.Store).AppendTelemetry, 44, map[graph.DropReason]int64{store.ReasonInvalidText: 2,
			store.ReasonInvalidProps: 2, graph.ReasonInvalidSrc: 1, graph.ReasonInvalidDst: 1}},
		{"AppendCheckedTelemetry", (*store.Store).AppendCheckedTelemetry, 45, map[graph.DropReason]int64{store.ReasonRejected: 4,
			graph.ReasonInvalidDst: 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, store.WithCopyChunk(10))
			st, err := c.append(b.store, context.Background(), store.SliceEdges(refusedEdges(b)))
			require.NoError(t, err)
			require.EqualValues(t, c.stored, st.Edges)
			require.Equal(t, c.dropped, st.Dropped)
			requireStoredWhole(t, b, c.stored)
		})
	}
}

// requireStoredWhole checks that telemetry_edges holds n rows, none
// without its endpoints and no implied relation pending.
func requireStoredWhole(t *testing.T, b *testBundle, n int) {
	t.Helper()
	var stored int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM telemetry_edges`).Scan(&stored))
	require.Equal(t, n, stored)
	orphans, pending := telemetryIntegrity(t, b)
	require.Zero(t, orphans)
	require.Zero(t, pending)
}

// refusedEdges are 50 edges of one process, six of which PostgreSQL
// would refuse: NUL in an edge's agent id (3) and props (16, 17),
// invalid UTF-8 in its relation (15), NUL in the dst node's key (30) and
// in the src node's name (31).
func refusedEdges(b *testBundle) []graph.TelemetryEdge {
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	proc := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "agent-1:pid:1"}
	var edges []graph.TelemetryEdge
	for i := range 50 {
		e := fileEdge(proc, i, day.Add(time.Duration(i)*time.Second))
		switch i {
		case 3:
			e.AgentID = "agent\x00"
		case 15:
			e.Relation = "wro\xfete" // invalid UTF-8
		case 16:
			e.Props = map[string]any{"cmd": "a\x00b"}
		case 17:
			e.Props = map[string]any{"k\x00": 1}
		case 30:
			e.Dst = graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "host:\x00"}
			e.Implied = graph.Batch{}
		case 31:
			e.Src.Name = "bad\x00"
		}
		edges = append(edges, e)
	}
	return edges
}

// refusingEnsurer refuses one day (as past retention) and leaves the
// others to the default partition.
type refusingEnsurer struct{ refused time.Time }

func (r refusingEnsurer) EnsureDays(_ context.Context, days []time.Time) (store.DayOutcome, error) {
	var out store.DayOutcome
	for _, d := range days {
		if d.Equal(r.refused) {
			out.Refused = append(out.Refused, d)
		}
	}
	return out, nil
}

func (refusingEnsurer) Horizon(context.Context, store.DBTX) (time.Time, error) {
	return time.Time{}, nil
}

// TestAppendTelemetryInputChunkDroppedWhole: a chunk whose every edge is
// dropped while its records are prepared (its day is refused) is never
// COPYed, and its positions in the input go with the next chunk's
// checkpoint move, so the load completes, the checkpoint counts every
// edge of the input and a rerun writes nothing.
func TestAppendTelemetryInputChunkDroppedWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().UTC()
	today := graph.UTCDay(now)
	refused := today.AddDate(0, 0, -1)
	b := setup(t, store.WithCopyChunk(10), store.WithDayEnsurer(refusingEnsurer{refused: refused}))
	src := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "host-1:4242"}
	dst := graph.ValueNode(graph.KindDomainName, "example.org")
	// Chunks of 10: refused, kept, refused, refused, kept (5 edges).
	var edges []graph.TelemetryEdge
	for i := range 45 {
		at := today.Add(time.Duration(i) * time.Second)
		if chunk := i / 10; chunk == 0 || chunk == 2 || chunk == 3 {
			at = refused.Add(time.Duration(i) * time.Second)
		}
		edges = append(edges, graph.TelemetryEdge{Src: src, Relation: "resolved", Dst: dst, AgentID: "host-1", ObservedAt: at})
	}
	in := store.TelemetryInput{Name: "file:/tmp/whole.ndjson", ContentHash: strings.Repeat("ab", 32)}
	st, err := b.store.AppendTelemetryInput(ctx, in, store.SliceEdges(edges))
	require.NoError(t, err)
	require.EqualValues(t, 15, st.Edges)
	require.EqualValues(t, 30, st.Dropped[graph.ReasonBeforeRetention])
	var done, written int64
	var complete bool
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT edges, rows_written, complete FROM telemetry_checkpoints WHERE input = $1`,
		in.Name).Scan(&done, &written, &complete))
	require.EqualValues(t, 45, done)
	require.EqualValues(t, 15, written)
	require.True(t, complete)

	st, err = b.store.AppendTelemetryInput(ctx, in, store.SliceEdges(edges))
	require.NoError(t, err)
	require.EqualValues(t, 0, st.Edges)
	require.EqualValues(t, 45, st.Resumed)
	var stored int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges`).Scan(&stored))
	require.EqualValues(t, 15, stored)
}

// racingEnsurer stands for another load of the same input that stores
// the whole input while this one prepares its first chunk: it moves the
// input's checkpoint to its end.
type racingEnsurer struct {
	pool  *pgxpool.Pool
	in    store.TelemetryInput
	edges int64
}

func (r racingEnsurer) EnsureDays(ctx context.Context, _ []time.Time) (store.DayOutcome, error) {
	_, err := r.pool.Exec(ctx, `INSERT INTO telemetry_checkpoints (input, content_hash, edges, rows_written, complete)
		VALUES ($1, $2, $3, $3, true)
		ON CONFLICT (input, content_hash) DO UPDATE SET edges = $3, rows_written = $3, complete = true`, r.in.Name, r.in.ContentHash, r.edges)
	return store.DayOutcome{}, err
}

func (racingEnsurer) Horizon(context.Context, store.DBTX) (time.Time, error) {
	return time.Time{}, nil
}

// TestAppendTelemetryInputStoredByAnotherLoad: two loads of one input at
// once. The one whose chunks the other stored first must not report them
// as written by itself (it said "edges written" for rows it never wrote):
// it stops with an error naming the other load, having written nothing.
func TestAppendTelemetryInputStoredByAnotherLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	in := store.TelemetryInput{Name: "file:/tmp/twice.ndjson", ContentHash: strings.Repeat("cd", 32)}
	st := store.NewStore(pool, store.WithLogger(quietLogger), store.WithCopyChunk(10),
		store.WithDayEnsurer(racingEnsurer{pool: pool, in: in, edges: 25}))
	src := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "host-1:4242"}
	dst := graph.ValueNode(graph.KindDomainName, "example.org")
	var edges []graph.TelemetryEdge
	for i := range 25 {
		edges = append(edges, graph.TelemetryEdge{Src: src, Relation: "resolved", Dst: dst, AgentID: "host-1",
			ObservedAt: time.Now().UTC().Add(-time.Duration(i) * time.Second)})
	}
	stats, err := st.AppendTelemetryInput(ctx, in, store.SliceEdges(edges))
	require.ErrorContains(t, err, "another load")
	require.Zero(t, stats.Edges, "nothing written by this load")
	var rows int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges`).Scan(&rows))
	require.Zero(t, rows)
}

// TestAppendTelemetryFlushWritesWhatWasRead: an edge sequence that yields
// store.ErrFlush has the edges read so far stored at once, before it goes
// on (a streaming input that paused: before, they waited in a chunk of
// thousands until the input ended); the rest follow, none twice.
func TestAppendTelemetryFlushWritesWhatWasRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	edge := func(i int) graph.TelemetryEdge {
		return graph.TelemetryEdge{Src: graph.ValueNode(graph.KindIPv4Addr, "192.0.2.7"), Relation: "connected",
			Dst: graph.ValueNode(graph.KindDomainName, "flush.example"), AgentID: "agent-" + strings.Repeat("x", i), ObservedAt: b.now}
	}
	stored := func() int {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges`).Scan(&n))
		return n
	}
	seen := false
	seq := func(yield func(graph.TelemetryEdge, error) bool) {
		for i := range 3 {
			if !yield(edge(i), nil) {
				return
			}
		}
		if !yield(graph.TelemetryEdge{}, store.ErrFlush) {
			return
		}
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if stored() == 3 {
				seen = true
				break
			}
		}
		for i := 3; i < 5; i++ {
			if !yield(edge(i), nil) {
				return
			}
		}
	}
	stats, err := b.store.AppendTelemetry(ctx, seq)
	require.NoError(t, err)
	require.True(t, seen, "the 3 edges read before the flush were stored while the sequence waited")
	require.EqualValues(t, 5, stats.Edges)
	require.Equal(t, 5, stored())
}

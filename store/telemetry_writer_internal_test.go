package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// writerBatch is n valid edges of agent, seq in their props.
func writerBatch(agent string, n int) []graph.TelemetryEdge {
	src := graph.Node{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte(agent)), Kind: graph.KindProcess, Key: agent + ":pid:1"}
	dst := graph.ValueNode(graph.KindDomainName, "writer.example")
	at := time.Now().UTC()
	edges := make([]graph.TelemetryEdge, n)
	for i := range edges {
		edges[i] = graph.TelemetryEdge{Src: src, Relation: "resolved", Dst: dst, AgentID: agent,
			ObservedAt: at.Add(time.Duration(i) * time.Microsecond), Props: map[string]any{"seq": i}}
	}
	return edges
}

// agentRows counts the stored rows of agent.
func agentRows(t *testing.T, pool *pgxpool.Pool, agent string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM telemetry_edges WHERE agent_id = $1", agent).Scan(&n))
	return n
}

// pendingRows is how many edges the writer holds.
func (w *TelemetryWriter) pendingRows() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows
}

// waitPending waits until the writer holds n edges.
func waitPending(t *testing.T, w *TelemetryWriter, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return w.pendingRows() == n }, 10*time.Second, time.Millisecond, "pending rows, want %d", n)
}

// TestTelemetryWriterManyCallers: every caller's edges are stored exactly
// once, and already when its Append returns; invalid edges are counted
// for the caller that sent them.
func TestTelemetryWriterManyCallers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	w := NewStore(pool, WithLogger(quietLog)).NewTelemetryWriter(TelemetryWriterOptions{Streams: 2, GroupRows: 400})
	const callers, calls = 24, 8
	var wg sync.WaitGroup
	errs := make(chan error, callers*calls)
	for c := range callers {
		wg.Go(func() {
			for i := range calls {
				agent := fmt.Sprintf("c%d-b%d", c, i)
				batch := writerBatch(agent, 50+(c*37+i*11)%250)
				batch[len(batch)/2].Relation = "bad\x00" // dropped, counted for this caller
				st, err := w.Append(ctx, batch)
				if err != nil {
					errs <- fmt.Errorf("%s: %w", agent, err)
					continue
				}
				var n int
				if err := pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges WHERE agent_id = $1", agent).Scan(&n); err != nil {
					errs <- err
					continue
				}
				if n != len(batch)-1 || st.Edges != int64(n) || st.Dropped[ReasonInvalidText] != 1 {
					errs <- fmt.Errorf("%s: %d rows stored on return, stats %d edges %v dropped; want %d and 1", agent, n, st.Edges, st.Dropped, len(batch)-1)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.NoError(t, w.Close(ctx))
	var total, distinct int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT (agent_id, props->>'seq')) FROM telemetry_edges").Scan(&total, &distinct))
	require.Equal(t, total, distinct, "no edge stored twice")
}

// TestTelemetryWriterCloseFlushes: Close writes what waits for its group
// to fill, and the writer refuses edges after it.
func TestTelemetryWriterCloseFlushes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	w := NewStore(pool, WithLogger(quietLog)).NewTelemetryWriter(TelemetryWriterOptions{Linger: time.Hour, GroupRows: 10_000})
	done := make(chan error)
	go func() {
		_, err := w.Append(ctx, writerBatch("a", 120))
		done <- err
	}()
	waitPending(t, w, 120)
	require.NoError(t, w.Close(ctx))
	require.NoError(t, <-done)
	require.Equal(t, 120, agentRows(t, pool, "a"))
	_, err := w.Append(ctx, writerBatch("b", 1))
	require.ErrorIs(t, err, ErrTelemetryWriterClosed)
	require.NoError(t, w.Close(ctx), "a second Close")
}

// TestTelemetryWriterBackpressureAndCancel: Append blocks while the
// pending edges fill the budget, and a caller whose context ends, waiting
// for room or for its group, gets the context's error and its edges are
// not written; the others' are.
func TestTelemetryWriterBackpressureAndCancel(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	w := NewStore(pool, WithLogger(quietLog)).NewTelemetryWriter(TelemetryWriterOptions{
		Linger: time.Hour, GroupRows: 1_000, MaxPendingRows: 1_000})
	first := make(chan error)
	go func() {
		_, err := w.Append(ctx, writerBatch("first", 700))
		first <- err
	}()
	waitPending(t, w, 700)

	// No room for 400 more: Append blocks until its deadline.
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	st, err := w.Append(tctx, writerBatch("blocked", 400))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.Zero(t, st.Edges)
	require.Equal(t, 700, w.pendingRows())

	// Admitted, then cancelled before a stream took its group: withdrawn.
	cctx, cancel2 := context.WithCancel(ctx)
	second := make(chan error)
	go func() {
		_, err := w.Append(cctx, writerBatch("withdrawn", 200))
		second <- err
	}()
	waitPending(t, w, 900)
	cancel2()
	require.ErrorIs(t, <-second, context.Canceled)
	require.Equal(t, 700, w.pendingRows())

	require.NoError(t, w.Close(ctx))
	require.NoError(t, <-first)
	require.Equal(t, 700, agentRows(t, pool, "first"))
	require.Zero(t, agentRows(t, pool, "blocked"))
	require.Zero(t, agentRows(t, pool, "withdrawn"))
}

// TestTelemetryWriterFailedGroup: a group the server refuses (a trigger
// raises, which is no data error, so nothing is isolated) fails for the
// callers in it, stores none of their edges, and leaves the other group
// alone.
func TestTelemetryWriterFailedGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
		IF NEW.agent_id = 'poison' THEN RAISE EXCEPTION 'poisoned telemetry'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_poison BEFORE INSERT ON telemetry_edges FOR EACH ROW EXECUTE FUNCTION refuse_poison()`)
	require.NoError(t, err)
	w := NewStore(pool, WithLogger(quietLog), WithRetryPolicy(RetryPolicy{Attempts: 1})).
		NewTelemetryWriter(TelemetryWriterOptions{Linger: time.Hour, GroupRows: 200, Streams: 1})
	type result struct {
		agent string
		st    TelemetryStats
		err   error
	}
	results := make(chan result, 3)
	send := func(agent string, edges []graph.TelemetryEdge) {
		go func() {
			st, err := w.Append(ctx, edges)
			results <- result{agent, st, err}
		}()
	}
	poisoned := writerBatch("a", 100)
	poisoned[42].AgentID = "poison"
	send("a", poisoned)
	waitPending(t, w, 100)
	send("b", writerBatch("b", 100)) // fills the group: written with a's
	got := map[string]result{}
	for range 2 {
		r := <-results
		got[r.agent] = r
	}
	send("c", writerBatch("c", 200)) // a group of its own
	r := <-results
	got[r.agent] = r
	require.NoError(t, w.Close(ctx))
	for _, agent := range []string{"a", "b"} {
		require.ErrorContains(t, got[agent].err, "poisoned telemetry", agent)
		require.Zero(t, got[agent].st.Edges, agent)
		require.Zero(t, agentRows(t, pool, agent), agent)
	}
	require.Zero(t, agentRows(t, pool, "poison"))
	require.NoError(t, got["c"].err)
	require.EqualValues(t, 200, got["c"].st.Edges)
	require.Equal(t, 200, agentRows(t, pool, "c"))
}

// TestTelemetryWriterDropsPerCaller: edges of a group that the steps
// after validation drop — an endpoint the database refuses, a row the COPY
// refuses, both sent here past CheckEdge — are counted for the caller that
// sent them, and the rest of the group is stored.
func TestTelemetryWriterDropsPerCaller(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	w := NewStore(pool, WithLogger(quietLog)).NewTelemetryWriter(TelemetryWriterOptions{Streams: 1})
	defer func() { require.NoError(t, w.Close(ctx)) }()
	a, b := writerBatch("a", 150), writerBatch("b", 150)
	a[3].Src = graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "host:\x00"} // refused node
	b[7].Props = map[string]any{"k": "v\x00"}                                        // refused row
	parts := []*writerPart{{edges: a}, {edges: b}}
	var chunk []graph.TelemetryEdge
	var keys []edgeKey
	for i, p := range parts {
		p.stats = TelemetryStats{Dropped: map[graph.DropReason]int64{}}
		for _, e := range p.edges {
			chunk = append(chunk, e)
			keys = append(keys, keyOfEdge(&e, i))
		}
	}
	kept, err := w.writeChunk(w.ctx, chunk, keys, parts)
	require.NoError(t, err)
	require.Equal(t, []int64{149, 149}, kept)
	require.Equal(t, map[graph.DropReason]int64{graph.ReasonInvalidSrc: 1}, parts[0].stats.Dropped)
	require.Equal(t, map[graph.DropReason]int64{ReasonRejected: 1}, parts[1].stats.Dropped)
	require.Equal(t, 149, agentRows(t, pool, "a"))
	require.Equal(t, 149, agentRows(t, pool, "b"))
}

// TestCommittedBefore: the outcome of a transaction is read back by its id.
func TestCommittedBefore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := NewStore(pool, WithLogger(quietLog))
	for _, commit := range []bool{true, false} {
		tx, err := pool.Begin(ctx)
		require.NoError(t, err)
		var xid int64
		require.NoError(t, tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid))
		_, err = s.committedBefore(ctx, xid)
		require.True(t, errors.Is(err, ErrRetryable), "in progress: %v", err)
		if commit {
			require.NoError(t, tx.Commit(ctx))
		} else {
			require.NoError(t, tx.Rollback(ctx))
		}
		done, err := s.committedBefore(ctx, xid)
		require.NoError(t, err)
		require.Equal(t, commit, done)
	}
}

// TestTelemetryWriterGroupAfterAllWithdrew: a caller that joins the open
// group after every earlier caller in it withdrew (their contexts ended
// before a stream took it) is written, though the stream, finding the
// group empty, went to sleep meanwhile. The writer once woke a stream only
// for a group's first part, so this caller waited until another caller
// filled a group or Close came: for ever when it was the last caller (a
// make test-citus run at load 17-22 hit the package's 15-minute timeout in
// TestTelemetryWriterCancelledCallersToldTheTruth, an Append waiting 12
// minutes).
func TestTelemetryWriterGroupAfterAllWithdrew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	w := NewStore(pool, WithLogger(quietLog)).NewTelemetryWriter(TelemetryWriterOptions{Streams: 1, GroupRows: 60, Linger: time.Millisecond})
	defer func() { require.NoError(t, w.Close(ctx)) }()
	_, err := w.Append(ctx, writerBatch("warm", 3)) // the records of the shared node, so the blocked group waits on the COPY alone
	require.NoError(t, err)

	// The one stream is busy: its COPY waits for a lock held here.
	lock, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = lock.Rollback(ctx) }()
	_, err = lock.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	busy := make(chan error, 1)
	go func() {
		_, err := w.Append(ctx, writerBatch("busy", 60)) // a full group: taken at once
		busy <- err
	}()
	require.Eventually(t, func() bool {
		var n int
		return pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'COPY%telemetry_edges%'`).Scan(&n) == nil && n > 0
	}, time.Minute, 10*time.Millisecond, "the stream's COPY waits for the lock")

	// A caller joins the open group and withdraws before the stream is free.
	wctx, cancel := context.WithCancel(ctx)
	withdrawn := make(chan error, 1)
	go func() {
		_, err := w.Append(wctx, writerBatch("withdrawn", 5))
		withdrawn <- err
	}()
	waitPending(t, w, 65)
	cancel()
	require.ErrorIs(t, <-withdrawn, context.Canceled)

	// The stream writes its group, finds the open group empty and sleeps.
	require.NoError(t, lock.Rollback(ctx))
	require.NoError(t, <-busy)
	require.Eventually(t, func() bool { return w.idleStreams() == 1 }, time.Minute, time.Millisecond, "the stream waits for work")

	// The next caller joins that group: it is written. The bound only
	// catches a caller left waiting for ever.
	lctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	st, err := w.Append(lctx, writerBatch("last", 5))
	require.NoError(t, err, "writer: %s", w.state())
	require.EqualValues(t, 5, st.Edges)
	require.Equal(t, 5, agentRows(t, pool, "last"))
	require.Zero(t, agentRows(t, pool, "withdrawn"))
}

// idleStreams is how many streams wait with no group to take.
func (w *TelemetryWriter) idleStreams() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.idle
}

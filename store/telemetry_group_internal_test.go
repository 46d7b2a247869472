package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// groupFixture is a Store on a fresh database, a named input whose
// checkpoint is at 0, and three chunks of ten edges each (positions 0-10,
// 10-20, 20-30) whose records are being written (rec, not yet done).
type groupFixture struct {
	s    *Store
	in   TelemetryInput
	jobs []copyJob
}

func newGroupFixture(t *testing.T) *groupFixture {
	t.Helper()
	ctx := context.Background()
	s := NewStore(pgtest.Pool(t), WithLogger(quietLog))
	in := TelemetryInput{Name: "agents.ndjson", ContentHash: "c0ffee"}
	_, err := s.q.TelemetryCheckpointStart(ctx, gen.TelemetryCheckpointStartParams{Input: in.Name, ContentHash: in.ContentHash})
	require.NoError(t, err)
	src := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "h:1"}
	f := &groupFixture{s: s, in: in}
	for c := range 3 {
		job := copyJob{from: int64(10 * c), to: int64(10*c + 10), rec: &chunkRecords{done: make(chan struct{})}}
		for i := range 10 {
			job.edges = append(job.edges, graph.TelemetryEdge{Src: src, Relation: "r", Dst: src,
				AgentID: fmt.Sprintf("a-%d-%d", c, i), ObservedAt: time.Now().UTC()})
		}
		job.rec.edges = job.edges
		f.jobs = append(f.jobs, job)
	}
	return f
}

// stored is how many edges telemetry_edges holds (committed) and where
// the input's checkpoint is.
func (f *groupFixture) stored(t *testing.T) (rows int, checkpoint int64) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, f.s.pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges`).Scan(&rows))
	cp, err := f.s.q.TelemetryCheckpointGet(ctx, gen.TelemetryCheckpointGetParams{Input: f.in.Name, ContentHash: f.in.ContentHash})
	require.NoError(t, err)
	return rows, cp.Edges
}

// recordsEnd ends the records of every chunk.
func (f *groupFixture) recordsEnd() {
	for _, j := range f.jobs {
		close(j.rec.done)
	}
}

// failCopiesOf makes the COPY of any edge of agent fail (a trigger that
// raises, not a data error: the COPY is not split to drop the row).
func (f *groupFixture) failCopiesOf(t *testing.T, agent string) {
	t.Helper()
	if pgtest.CitusMode() {
		t.Skip("Citus refuses triggers on distributed tables")
	}
	_, err := f.s.pool.Exec(context.Background(), fmt.Sprintf(`CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.agent_id = %s THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER boom BEFORE INSERT ON telemetry_edges FOR EACH ROW EXECUTE FUNCTION boom()`, pgQuote(agent)))
	require.NoError(t, err)
}

// pgQuote is s as an SQL string literal.
func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// commit runs commitGroup over the chunks from the first and checks what
// it stored: how many chunks, rows, and where the checkpoint is.
func (f *groupFixture) commit(t *testing.T, extend func([]copyJob) (copyJob, bool), chunks, rows int, checkpoint int64) ([]copyJob, error) {
	t.Helper()
	group := f.jobs
	if extend != nil {
		group = f.jobs[:1]
	}
	group, kept, n, err := f.s.commitGroup(context.Background(), f.in, group, extend, map[graph.DropReason]int64{}, nil)
	require.Equal(t, chunks, kept)
	require.EqualValues(t, rows, n)
	stored, cp := f.stored(t)
	require.Equal(t, rows, stored)
	require.Equal(t, checkpoint, cp)
	return group, err
}

// TestCommitGroup holds the copier's transaction to its contract: chunks
// COPYed while their records are written commit together, only once the
// records have; a chunk whose records or COPY fail is rolled back with
// those after it while the chunks before it commit, with the checkpoint
// after the last of them; a chunk that lost edges to refused records is
// COPYed again without them.
func TestCommitGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("chunks added while records are written commit in one transaction", func(t *testing.T) {
		t.Parallel()
		f := newGroupFixture(t)
		added := 0
		extend := func(g []copyJob) (copyJob, bool) {
			rows, cp := f.stored(t)
			require.Zero(t, rows, "nothing is committed while records are written")
			require.Zero(t, cp)
			if len(g) < len(f.jobs) {
				added++
				return f.jobs[len(g)], true
			}
			f.recordsEnd() // the records end only now
			return copyJob{}, false
		}
		group, err := f.commit(t, extend, 3, 30, 30)
		require.NoError(t, err)
		require.Len(t, group, 3)
		require.Equal(t, 2, added)
	})

	t.Run("records failing in the second chunk keep the first", func(t *testing.T) {
		t.Parallel()
		f := newGroupFixture(t)
		f.jobs[1].rec.err = fmt.Errorf("node refused")
		f.recordsEnd()
		_, err := f.commit(t, nil, 1, 10, 10)
		require.ErrorIs(t, err, errRecordsFailed)
	})

	t.Run("edges whose records were refused are COPYed again without them", func(t *testing.T) {
		t.Parallel()
		f := newGroupFixture(t)
		f.jobs[1].rec.edges = append([]graph.TelemetryEdge(nil), f.jobs[1].edges[3:]...)
		f.recordsEnd()
		group, err := f.commit(t, nil, 3, 27, 30)
		require.NoError(t, err)
		require.Len(t, group, 3)
		var gone int
		require.NoError(t, f.s.pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges WHERE agent_id IN ('a-1-0', 'a-1-1', 'a-1-2')`).Scan(&gone))
		require.Zero(t, gone)
	})

	t.Run("a chunk whose records are still written when another's were refused is kept whole", func(t *testing.T) {
		t.Parallel()
		f := newGroupFixture(t)
		f.jobs[1].rec.edges = append([]graph.TelemetryEdge(nil), f.jobs[1].edges[3:]...)
		close(f.jobs[0].rec.done)
		close(f.jobs[1].rec.done)
		third := f.jobs[2].rec
		go func() { // the third chunk's records end later
			time.Sleep(200 * time.Millisecond)
			close(third.done)
		}()
		_, err := f.commit(t, nil, 3, 27, 30)
		require.NoError(t, err)
	})

	t.Run("a COPY failing in the third chunk keeps the first two", func(t *testing.T) {
		t.Parallel()
		f := newGroupFixture(t)
		f.failCopiesOf(t, "boom")
		f.jobs[2].edges[4].AgentID = "boom"
		f.recordsEnd()
		_, err := f.commit(t, nil, 2, 20, 20)
		require.ErrorContains(t, err, "boom")
	})

	t.Run("a transaction that fails after a COPY failed counts nothing", func(t *testing.T) {
		// The second chunk's COPY fails; the first chunk's records are
		// still being written when the append is cut, so the transaction
		// rolls back: nothing is stored, and nothing may be counted
		// (TelemetryStats.Edges once over-counted such a cut by the
		// chunks before the failed one).
		t.Parallel()
		f := newGroupFixture(t)
		f.failCopiesOf(t, "boom")
		f.jobs[1].edges[4].AgentID = "boom"
		cut, cancel := context.WithCancel(ctx)
		defer cancel()
		time.AfterFunc(300*time.Millisecond, cancel) // while the first chunk's records are written
		_, kept, n, err := f.s.commitGroup(cut, f.in, f.jobs, nil, map[graph.DropReason]int64{}, nil)
		require.Error(t, err)
		rows, cp := f.stored(t)
		require.Zero(t, rows)
		require.Zero(t, cp)
		require.Zero(t, kept, "chunks counted as committed")
		require.Zero(t, n, "rows counted as stored")
	})
}

// TestConcurrentAppendsOnASmallPool: many AppendTelemetry calls at once,
// each bringing new endpoint nodes, on a pool of four connections. A COPY
// transaction that waits for its chunks' records holds a connection while
// the records need one: were every connection held so, no append would
// end. The copy-ahead slots keep one free; every append must finish, with
// no edge stored without its nodes.
func TestConcurrentAppendsOnASmallPool(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pool := pgtest.PoolFor(t, pgtest.DSN(t)+"&pool_max_conns=4")
	s := NewStore(pool, WithLogger(quietLog), WithCopyChunk(400), WithBatchSize(50), WithWriters(2))
	const callers, perCaller = 8, 3000
	errs := make(chan error, callers)
	day := time.Now().UTC()
	for c := range callers {
		go func() {
			edges := make([]graph.TelemetryEdge, 0, perCaller)
			for i := range perCaller {
				edges = append(edges, graph.TelemetryEdge{
					Src:      graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: fmt.Sprintf("h%d:%d", c, i)},
					Relation: "connected-to", Dst: graph.ValueNode(graph.KindIPv4Addr, fmt.Sprintf("10.%d.%d.%d", c, i/250, i%250)),
					AgentID: fmt.Sprintf("agent-%d", c), ObservedAt: day})
			}
			_, err := s.AppendTelemetry(ctx, SliceEdges(edges))
			errs <- err
		}()
	}
	for range callers {
		require.NoError(t, <-errs)
	}
	var rows, orphans int
	require.NoError(t, pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM telemetry_edges),
       (SELECT count(*) FROM (SELECT src_id AS id FROM telemetry_edges UNION SELECT dst_id FROM telemetry_edges) e
        WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.id))`).Scan(&rows, &orphans))
	require.Equal(t, callers*perCaller, rows)
	require.Zero(t, orphans)
}

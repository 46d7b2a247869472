package store_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// writerCorpus is telemetry edges of many processes over a day, files with
// hashes (implied nodes and has-hash links) among them, each edge told
// apart by its seq prop: the input the writer fault tests append in small
// batches from many callers and compare with one clean append.
func writerCorpus(day time.Time) []graph.TelemetryEdge {
	hours := make([][]float64, 24)
	for i := range hours {
		for j := range 9 {
			hours[i] = append(hours[i], float64((i*7+j*5)%23)+float64(j)/10)
		}
	}
	edges := append(fileEdges(day, 5, hours), seenEdges(day, hours)...)
	for i := range edges {
		edges[i].Props = map[string]any{"seq": float64(i)}
	}
	return edges
}

// writerTables dumps what an append leaves: the edges, the nodes, the
// relations and their records, first and last seen included.
func writerTables(t *testing.T, b *testBundle) map[string]string {
	t.Helper()
	out := map[string]string{"telemetry_edges": pgtest.Dump(t, b.pool,
		"SELECT src_id, dst_id, relation, agent_id, observed_at, props::text FROM telemetry_edges ORDER BY props->>'seq', observed_at")}
	for _, table := range []string{"nodes", "relations", "relation_records"} {
		out[table] = strings.Join(rowsOf(t, b, table), "\n")
	}
	return out
}

// cleanTables is writerTables after one AppendTelemetry of edges.
func cleanTables(t *testing.T, edges []graph.TelemetryEdge) map[string]string {
	t.Helper()
	b := setup(t)
	_, err := b.store.AppendTelemetry(context.Background(), store.SliceEdges(edges))
	require.NoError(t, err)
	return writerTables(t, b)
}

// deal splits edges among callers, caller c taking every callers-th edge
// from c (so callers share endpoints and groups mix them), in batches of
// at most size.
func deal(edges []graph.TelemetryEdge, callers, size int) [][][]graph.TelemetryEdge {
	out := make([][][]graph.TelemetryEdge, callers)
	for c := range callers {
		var mine []graph.TelemetryEdge
		for i := c; i < len(edges); i += callers {
			mine = append(mine, edges[i])
		}
		for len(mine) > 0 {
			n := min(size, len(mine))
			out[c] = append(out[c], mine[:n])
			mine = mine[n:]
		}
	}
	return out
}

// appendFromCallers appends edges through w from 12 callers side by side,
// dealt in batches of 5, and returns the error of each Append that failed
// or stored fewer edges than its batch.
func appendFromCallers(ctx context.Context, w *store.TelemetryWriter, edges []graph.TelemetryEdge) []error {
	var wg sync.WaitGroup
	errs := make(chan error, len(edges))
	for c, batches := range deal(edges, 12, 5) {
		wg.Go(func() {
			for i, batch := range batches {
				st, err := w.Append(ctx, batch)
				if err == nil && st.Edges != int64(len(batch)) {
					err = fmt.Errorf("%d edges stored of %d", st.Edges, len(batch))
				}
				if err != nil {
					errs <- fmt.Errorf("caller %d batch %d: %w", c, i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var out []error
	for err := range errs {
		out = append(out, err)
	}
	return out
}

// callerOutcome is what one caller's Append of n edges for agent returned.
type callerOutcome struct {
	agent string
	n     int
	st    store.TelemetryStats
	err   error
}

// yesterday is the start of yesterday, UTC.
func yesterday() time.Time {
	now := time.Now().UTC()
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
}

// TestTelemetryWriterCallersSurviveKills: many callers append small
// batches through one writer while the server kills its connections again
// and again; every Append succeeds, and the tables (edges, nodes with
// their first and last seen, relations, records) equal one clean append's.
func TestTelemetryWriterCallersSurviveKills(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	edges := writerCorpus(yesterday())
	want := cleanTables(t, edges)

	var logs lockedBuffer
	b := setup(t, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		// Tries that outlast the terminator: at load 20 a COPY transaction
		// or a node upsert outlasts the 30 ms between kills, and each round
		// kills idle connections too (not counted in its 40), so all of
		// them fell on one write's tries (4 runs in 6 failed with 40 tries,
		// 1 in 6 with 42; 40 sufficed at CI's load).
		store.WithRetryPolicy(store.RetryPolicy{Attempts: 200, Base: 5 * time.Millisecond, Max: 100 * time.Millisecond}))
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 3, GroupRows: 40, Linger: time.Millisecond})
	// One edge before the kills start, so that the Store has made and
	// knows the day's partition (as TestAppendTelemetrySurvivesServerKillingConnections
	// makes its day's first): at load 20 a partition check took longer
	// than the 30 ms between kills, so all 40 kills fell on its 40 tries
	// and a caller failed with the last, while the writes this test is
	// about were never hit (2 runs in 6).
	_, err := w.Append(ctx, edges[:1])
	require.NoError(t, err)
	stop, _ := terminator(t, b.pool, 30*time.Millisecond, 40)
	errs := appendFromCallers(ctx, w, edges[1:])
	closeErr := w.Close(ctx) // the kills go on: the seen times' flush rides them out too
	killed := stop()
	for _, err := range errs {
		require.NoError(t, err, "logs:\n%s", logs.String())
	}
	require.NoError(t, closeErr, "logs:\n%s", logs.String())
	require.Positive(t, killed)
	b.pool.Reset() // idle connections the last kills ended
	got := writerTables(t, b)
	for table := range want {
		require.Equal(t, want[table], got[table], table)
	}
}

// TestTelemetryWriterCancelledCallersToldTheTruth: callers whose contexts
// end at any moment of their Append are told the truth: an error means
// the pieces it names were withdrawn and are not stored (the stats count
// those that are), nil means stored, once, whatever the cancelled callers
// in their groups did.
func TestTelemetryWriterCancelledCallersToldTheTruth(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 2, GroupRows: 60, Linger: 2 * time.Millisecond})
	results := make(chan callerOutcome, 1000)
	var wg sync.WaitGroup
	for c := range 10 {
		wg.Go(func() {
			for i := range 30 {
				results <- cancelledAppend(ctx, w, c, i, 20)
			}
		})
	}
	waitCallers(t, &wg, b, w)
	require.NoError(t, w.Close(ctx))
	close(results)
	var cancelled int
	for r := range results {
		stored := store.AgentRows(t, b.pool, r.agent)
		switch {
		case r.err == nil:
			require.Equal(t, r.n, stored, r.agent)
			require.EqualValues(t, r.n, r.st.Edges, r.agent)
		case errors.Is(r.err, context.Canceled):
			cancelled++
			// Withdrawn: the stats count the pieces stored, and nothing else is.
			require.EqualValues(t, r.st.Edges, stored, "%s: %v", r.agent, r.err)
		default:
			require.NoError(t, r.err, r.agent)
		}
	}
	t.Logf("%d callers cancelled", cancelled)
}

// cancelledAppend is batch i of caller c (5 to 84 edges of an agent of
// its own: some batches in two pieces) appended through w, its context
// cancelled within steps/4 ms for a third of the batches, and what Append
// told.
func cancelledAppend(ctx context.Context, w *store.TelemetryWriter, c, i, steps int) callerOutcome {
	agent := fmt.Sprintf("c%d-b%d", c, i)
	batch := store.WriterBatch(agent, 5+(c*7+i*3)%80)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	if (c+i)%3 == 0 {
		time.AfterFunc(time.Duration((c*13+i*7)%steps)*time.Millisecond/4, cancel)
	}
	st, err := w.Append(actx, batch)
	return callerOutcome{agent, len(batch), st, err}
}

// callersBound is how long waitCallers waits: the callers of the writer
// fault tests take seconds (6 to 22 s for TestTelemetryWriterCancelledCallersToldTheTruth
// on Citus at load 10); the bound catches a caller left waiting for ever.
const callersBound = 5 * time.Minute

// waitCallers waits for the callers of w, and when they are not done
// within callersBound fails the test with what explains the wait: the
// writer's state, the goroutines (each stream's and each caller's stack)
// and what the servers are doing (pgtest.Activity). It then closes w on a
// short context, which cancels its writes, so the test ends.
func waitCallers(t *testing.T, wg *sync.WaitGroup, b *testBundle, w *store.TelemetryWriter) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return
	case <-time.After(callersBound):
	}
	var stacks strings.Builder
	_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
	report := fmt.Sprintf("callers still waiting after %s\nwriter: %s\n\nservers:\n%s\ngoroutines:\n%s",
		callersBound, store.WriterState(w), pgtest.Activity(t, b.pool.Config().ConnString()), stacks.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Fatalf("%s\nclose: %v", report, w.Close(ctx))
}

// TestTelemetryWriterCloseWhileAppending: Close (twice, side by side)
// while callers append: each Append either succeeds with its edges stored
// or is refused with ErrTelemetryWriterClosed and stores nothing; Appends
// after Close are refused.
func TestTelemetryWriterCloseWhileAppending(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 2, GroupRows: 50, MaxPendingRows: 100})
	var mu sync.Mutex
	told := map[string]error{}
	var wg sync.WaitGroup
	started := make(chan struct{}, 16)
	for c := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				agent := fmt.Sprintf("c%d-b%d", c, i)
				_, err := w.Append(ctx, store.WriterBatch(agent, 1+(c+i)%30))
				mu.Lock()
				told[agent] = err
				mu.Unlock()
				if i == 2 {
					started <- struct{}{}
				}
				if err != nil {
					return
				}
			}
		})
	}
	for range 16 {
		<-started
	}
	closed := make(chan error, 2)
	for range 2 {
		go func() { closed <- w.Close(ctx) }()
	}
	require.NoError(t, <-closed)
	require.NoError(t, <-closed)
	wg.Wait()
	_, err := w.Append(ctx, store.WriterBatch("late", 3))
	require.ErrorIs(t, err, store.ErrTelemetryWriterClosed)
	for agent, err := range told {
		stored := store.AgentRows(t, b.pool, agent)
		if err != nil {
			require.ErrorIs(t, err, store.ErrTelemetryWriterClosed, agent)
			require.Zero(t, stored, agent)
		} else {
			require.Positive(t, stored, agent)
		}
	}
	require.Zero(t, store.AgentRows(t, b.pool, "late"))
}

// TestTelemetryWriterCloseGivesUp: Close whose context ends while groups
// are still being written cancels them; each caller is told the truth
// (nil: stored; an error: none of its edges stored), and a second Close
// returns.
func TestTelemetryWriterCloseGivesUp(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 2, GroupRows: 200})
	results := make(chan callerOutcome, 64)
	var wg sync.WaitGroup
	for c := range 32 {
		wg.Go(func() {
			agent := fmt.Sprintf("c%d", c)
			batch := store.WriterBatch(agent, 300)
			st, err := w.Append(ctx, batch)
			results <- callerOutcome{agent, len(batch), st, err}
		})
	}
	time.Sleep(20 * time.Millisecond) // some groups being written, others waiting
	cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	err := w.Close(cctx)
	wg.Wait()
	close(results)
	if err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	t.Logf("Close: %v", err)
	require.NoError(t, w.Close(ctx), "a second Close")
	for r := range results {
		stored := store.AgentRows(t, b.pool, r.agent)
		if r.err == nil {
			require.Equal(t, r.n, stored, r.agent)
		} else {
			require.EqualValues(t, r.st.Edges, stored, "%s: %v", r.agent, r.err)
		}
	}
}

// TestTelemetryWriterTinyPool: with a pool of 2 or 3 connections, many
// callers of a writer, a checkpointless AppendTelemetry and graph writes
// beside them all finish (no deadlock over connections).
func TestTelemetryWriterTinyPool(t *testing.T) {
	t.Parallel()
	for _, conns := range []int32{1, 2, 3} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			t.Parallel()
			cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
			require.NoError(t, err)
			cfg.MaxConns = conns
			pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
			require.NoError(t, err)
			defer pool.Close()
			s := store.NewStore(pool, store.WithLogger(slog.New(slog.DiscardHandler)), store.WithWriters(4),
				store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{})))
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			w := s.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 4, GroupRows: 30})
			edges := writerCorpus(yesterday())
			var wg sync.WaitGroup
			errs := make(chan error, len(edges)+10)
			for _, batches := range deal(edges, 16, 4) {
				wg.Go(func() {
					for _, batch := range batches {
						if _, err := w.Append(ctx, batch); err != nil {
							errs <- err
						}
					}
				})
			}
			wg.Go(func() {
				_, err := s.AppendTelemetry(ctx, store.SliceEdges(store.WriterBatch("direct", 500)))
				errs <- err
			})
			wg.Go(func() {
				file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": strings.Repeat("ab", 32)}, "tiny.exe")
				_, err := s.Write(ctx, graph.Batch{Nodes: append(hashes, file), Relations: rels})
				errs <- err
			})
			wg.Wait()
			require.NoError(t, w.Close(ctx))
			close(errs)
			for err := range errs {
				require.NoError(t, err)
			}
			var n int
			require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges").Scan(&n))
			require.Equal(t, len(edges)+500, n)
		})
	}
}

// TestTelemetryWriterBadEdgesStayTheirCallers: a group mixing callers'
// valid edges with every kind of invalid one stores the valid ones, and
// each caller's stats count its own drops alone.
func TestTelemetryWriterBadEdgesStayTheirCallers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 1, GroupRows: 1000, Linger: 50 * time.Millisecond})
	bad := []func(e *graph.TelemetryEdge){
		func(e *graph.TelemetryEdge) { e.Relation = "x\x00" },
		func(e *graph.TelemetryEdge) { e.AgentID = "" },
		func(e *graph.TelemetryEdge) { e.ObservedAt = time.Time{} },
		func(e *graph.TelemetryEdge) { e.Props = map[string]any{"k": "v\x00"} },
		func(e *graph.TelemetryEdge) { e.Src.Key = "host:\x00" },
		func(e *graph.TelemetryEdge) { e.Dst = graph.Node{} },
		func(e *graph.TelemetryEdge) { e.Props = map[string]any{"nan": math.NaN()} },
	}
	type outcome struct {
		agent   string
		st      store.TelemetryStats
		err     error
		dropped int
	}
	results := make(chan outcome, 2*len(bad))
	var wg sync.WaitGroup
	for i, spoil := range bad {
		for _, good := range []bool{true, false} {
			wg.Go(func() {
				agent := fmt.Sprintf("a%d-%t", i, good)
				batch := store.WriterBatch(agent, 20)
				dropped := 0
				if !good {
					spoil(&batch[10])
					dropped = 1
				}
				st, err := w.Append(ctx, batch)
				results <- outcome{agent, st, err, dropped}
			})
		}
	}
	wg.Wait()
	require.NoError(t, w.Close(ctx))
	close(results)
	for r := range results {
		require.NoError(t, r.err, r.agent)
		var drops int64
		for _, n := range r.st.Dropped {
			drops += n
		}
		require.EqualValues(t, r.dropped, drops, "%s: %v", r.agent, r.st.Dropped)
		require.EqualValues(t, 20-r.dropped, r.st.Edges, r.agent)
		require.Equal(t, 20-r.dropped, store.AgentRows(t, b.pool, r.agent), r.agent)
	}
}

// TestTelemetryWriterSameEdgesTwice: two callers appending the same edges
// store them twice (telemetry_edges is an append-only log of
// observations; only a checkpointed AppendTelemetry input is written
// once), while the endpoint nodes and records are merged: once each, with
// the times of one append.
func TestTelemetryWriterSameEdgesTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	edges := writerCorpus(yesterday())
	want := cleanTables(t, edges)
	b := setup(t)
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 2, GroupRows: 50})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for _, batch := range deal(edges, 1, 9)[0] {
				_, err := w.Append(ctx, batch)
				require.NoError(t, err)
			}
		})
	}
	wg.Wait()
	require.NoError(t, w.Close(ctx))
	got := writerTables(t, b)
	for _, table := range []string{"nodes", "relations", "relation_records"} {
		require.Equal(t, want[table], got[table], table)
	}
	var total, distinct int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT props->>'seq') FROM telemetry_edges").Scan(&total, &distinct))
	require.Equal(t, 2*len(edges), total)
	require.Equal(t, len(edges), distinct)
}

// heldEnsurer is a DayEnsurer that, while armed, tells entered when a
// stream asks for days (its group is taken: being written) and waits for
// release before asking the real one.
type heldEnsurer struct {
	store.DayEnsurer
	armed            chan struct{}
	entered, release chan struct{}
}

func (h *heldEnsurer) EnsureDays(ctx context.Context, days []time.Time) (store.DayOutcome, error) {
	select {
	case <-h.armed:
		h.entered <- struct{}{}
		<-h.release
	default:
	}
	return h.DayEnsurer.EnsureDays(ctx, days)
}

// TestTelemetryWriterCancelledCallerLearnsTheOutcome: a caller whose
// context ends while its edges are being written hears how the write
// ended (here: stored, no error, the edges counted), not "they may be
// stored", and Append does not return while the writer still reads the
// caller's edges: the caller may reuse its batch at once.
func TestTelemetryWriterCancelledCallerLearnsTheOutcome(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	armed := make(chan struct{})
	held := &heldEnsurer{DayEnsurer: partman.NewDayEnsurer(b.pool, partman.Options{}), armed: armed,
		entered: make(chan struct{}), release: make(chan struct{})}
	s := store.NewStore(b.pool, store.WithLogger(slog.New(slog.DiscardHandler)), store.WithDayEnsurer(held))
	w := s.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 1})
	close(armed)
	batch := store.WriterBatch("cancelled", 50)
	cctx, cancel := context.WithCancel(ctx)
	type outcome struct {
		st  store.TelemetryStats
		err error
	}
	result := make(chan outcome, 1)
	go func() {
		st, err := w.Append(cctx, batch)
		result <- outcome{st, err}
	}()
	<-held.entered // the group is taken
	cancel()
	close(held.release)
	r := <-result
	for i := range batch { // the caller reuses its batch
		batch[i].AgentID = "reused"
		batch[i].Props["seq"] = -1
	}
	require.NoError(t, r.err)
	require.EqualValues(t, 50, r.st.Edges)
	require.NoError(t, w.Close(ctx))
	require.Equal(t, 50, store.AgentRows(t, b.pool, "cancelled"))
	require.Zero(t, store.AgentRows(t, b.pool, "reused"))
}

// afterCut is what a commitCutter does, once it has cut a COMMIT, to the
// other connections through it and to new ones.
type afterCut int

const (
	// answer: they go on as before: the server can be asked.
	answer afterCut = iota
	// silent: they are frozen, and new ones accepted but never answered,
	// as a server stopped with SIGSTOP or a network partition does.
	silent
	// gone: they are cut, and new ones refused, as a server that went
	// away does.
	gone
)

// commitCutter is a TCP proxy to a server that cuts the first COMMIT a
// client sends after a COPY: it passes that COMMIT on to the server (or
// drops it), never lets the answer through, and does what after says to
// every other connection. cut is closed once it has.
type commitCutter struct {
	l      net.Listener
	target string
	pass   bool
	after  afterCut
	cut    chan struct{}

	mu     sync.Mutex
	done   bool // the COMMIT is cut
	conns  []net.Conn
	frozen []*atomic.Bool // each connection's: forward nothing more
}

func startCommitCutter(t *testing.T, target string, pass bool, after afterCut) *commitCutter {
	t.Helper()
	p := &commitCutter{target: target, pass: pass, after: after, cut: make(chan struct{})}
	p.l = pgtest.Listen(t, p.serve)
	return p
}

// join adds a connection through the proxy, whose answers frozen stops,
// and reports whether a COMMIT was cut and the server is not to answer
// it (frozen is then set).
func (p *commitCutter) join(c net.Conn, frozen *atomic.Bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns = append(p.conns, c)
	p.frozen = append(p.frozen, frozen)
	if p.done && p.after != answer {
		frozen.Store(true)
		return true
	}
	return false
}

// close ends the proxy and every connection through it.
func (p *commitCutter) close() {
	_ = p.l.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
}

// url is dsn with the proxy as its host.
func (p *commitCutter) url(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.Host = p.l.Addr().String()
	return u.String()
}

func (p *commitCutter) serve(c net.Conn) {
	frozen := new(atomic.Bool)
	if p.join(c, frozen) {
		if p.after == gone {
			_ = c.Close()
		} else {
			_, _ = io.Copy(io.Discard, c) // accepted, never answered
		}
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err == nil && p.join(s, frozen) && p.after == gone {
		_ = s.Close() // cut meanwhile
	}
	if err != nil {
		_ = c.Close()
		return
	}
	go func() { // the server's answers
		buf := make([]byte, 32<<10)
		for {
			n, err := s.Read(buf)
			if n > 0 && !frozen.Load() {
				if _, werr := c.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		_ = c.Close()
	}()
	p.forward(c, s, frozen)
	_ = s.Close()
}

// forward passes the client's messages on to the server until the client
// closes, and cuts the first COMMIT after a COPY.
func (p *commitCutter) forward(c, s net.Conn, frozen *atomic.Bool) {
	r := bufio.NewReader(c)
	// The startup packet (after an SSL or GSS encryption request that
	// sslmode=disable does not send) has no type byte.
	for startup := true; startup; {
		var head [8]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		body := make([]byte, binary.BigEndian.Uint32(head[:4])-8)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		code := binary.BigEndian.Uint32(head[4:])
		startup = code == 80877103 || code == 80877104
		if _, err := s.Write(append(head[:], body...)); err != nil {
			return
		}
	}
	copied := false
	for {
		var head [5]byte
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return
		}
		msg := make([]byte, 5+binary.BigEndian.Uint32(head[1:])-4)
		copy(msg, head[:])
		if _, err := io.ReadFull(r, msg[5:]); err != nil {
			return
		}
		commit := head[0] == 'Q' && strings.EqualFold(strings.TrimSpace(strings.TrimRight(string(msg[5:]), "\x00")), "commit")
		copied = copied || head[0] == 'c' // CopyDone
		if commit && copied && p.cutOnce(frozen) {
			if p.pass {
				_, _ = s.Write(msg)
			} else {
				_ = s.Close() // lost with the connection: the server rolls back
			}
			p.afterCut()
			close(p.cut)
			_, _ = io.Copy(io.Discard, r) // until the client gives up
			return
		}
		if commit {
			copied = false
		}
		if frozen.Load() {
			continue
		}
		if _, err := s.Write(msg); err != nil {
			return
		}
	}
}

// cutOnce reports whether this COMMIT is the one to cut, and then lets
// no more answers through to its connection (frozen).
func (p *commitCutter) cutOnce(frozen *atomic.Bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return false
	}
	p.done = true
	frozen.Store(true)
	return true
}

// afterCut freezes or cuts every connection as after says.
func (p *commitCutter) afterCut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.after {
	case silent:
		for _, f := range p.frozen {
			f.Store(true)
		}
	case gone:
		for _, c := range p.conns {
			_ = c.Close()
		}
	}
}

// TestTelemetryWriterLostCommitOutcome: the answer to the COMMIT of a
// stream's COPY transaction is lost (a proxy passes the COMMIT to the
// server, or drops it, and lets no answer through), and the writer gives
// up on it (a Close whose context ends, or the retries spent on a server
// gone). When the server can be asked afterwards, Append says what
// happened: nil and stored, or an error and nothing stored. When it
// cannot (silent, as with SIGSTOP, for longer than the writer asks; or
// gone), Append returns ErrOutcomeUnknown, and only then: before, it
// returned a plain error while the edges were stored, and a caller that
// retries on error stored them twice. AppendTelemetry (no writer) says the
// same.
func TestTelemetryWriterLostCommitOutcome(t *testing.T) {
	t.Parallel()
	const (
		stored = iota
		notStored
		unknown
	)
	for _, tc := range []struct {
		name   string
		writer bool // else AppendTelemetry
		pass   bool // the COMMIT reaches the server
		after  afterCut
		tries  int
		want   int
	}{
		{"writer, committed, server answers", true, true, answer, 3, stored},
		{"writer, COMMIT dropped, server answers", true, false, answer, 3, stored}, // by the retry, once
		{"writer, COMMIT dropped, no retry, server answers", true, false, answer, 1, notStored},
		{"writer, committed, server silent", true, true, silent, 3, unknown},
		{"writer, COMMIT dropped, server silent", true, false, silent, 3, unknown},
		{"writer, committed, server gone", true, true, gone, 3, unknown},
		{"append, committed, server silent", false, true, silent, 3, unknown},
		{"append, committed, server gone", false, true, gone, 3, unknown},
		{"append, committed, server answers", false, true, answer, 3, stored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := pgtest.DSN(t)
			direct := pgtest.PoolFor(t, dsn)
			u, err := url.Parse(dsn)
			require.NoError(t, err)
			proxy := startCommitCutter(t, u.Host, tc.pass, tc.after)
			pool := pgtest.PoolFor(t, proxy.url(t, dsn))
			t.Cleanup(proxy.close) // first: the pool closes at once
			var logs lockedBuffer
			s := store.NewStore(pool, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
				store.WithRetryPolicy(store.RetryPolicy{Attempts: tc.tries, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond}),
				store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{})))
			batch := store.WriterBatch("lost", 50)
			// How long after the cut the caller gives up: at once to a
			// silent server (the outcome is unknown however long it
			// waits), and only as a safety net to one that answers,
			// whose retry or outcome can take seconds on a loaded Citus
			// run (a 200 ms limit there cancelled a retry that would have
			// stored the rows: CI, 2026-12-06).
			giveUp := 200 * time.Millisecond
			if tc.after == answer {
				giveUp = time.Minute
			}
			var st store.TelemetryStats
			if tc.writer {
				w := s.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 1})
				go func() {
					<-proxy.cut
					if tc.after != gone { // the retries end a write to a server gone
						cctx, cancel := context.WithTimeout(ctx, giveUp)
						defer cancel()
						_ = w.Close(cctx) // gives up
					}
				}()
				st, err = w.Append(ctx, batch)
			} else {
				actx, cancel := context.WithCancel(ctx)
				defer cancel()
				go func() {
					<-proxy.cut
					if tc.after != gone {
						select {
						case <-time.After(giveUp):
							cancel()
						case <-actx.Done():
						}
					}
				}()
				st, err = s.AppendTelemetry(actx, store.SliceEdges(batch))
			}
			rows := store.AgentRows(t, direct, "lost")
			t.Logf("Append: %d edges, %v; %d rows stored; logs:\n%s", st.Edges, err, rows, logs.String())
			select {
			case <-proxy.cut:
			default:
				t.Fatalf("no COMMIT was cut; logs:\n%s", logs.String())
			}
			switch tc.want {
			case stored:
				require.Equal(t, len(batch), rows)
				require.EqualValues(t, len(batch), st.Edges)
				if tc.writer {
					require.NoError(t, err)
				}
			case notStored:
				require.Error(t, err)
				require.NotErrorIs(t, err, store.ErrOutcomeUnknown)
				require.Zero(t, rows)
			case unknown:
				require.ErrorIs(t, err, store.ErrOutcomeUnknown, "%d rows stored", rows)
				require.False(t, store.Transient(err), "never retried")
				require.Zero(t, st.Edges)
			}
		})
	}
}

// TestTelemetryWriterHungWriteIsBounded: a group's COMMIT reaches the
// server, whose answer never comes, and the server then answers nothing
// at all (a hung host, SIGSTOP): no statement_timeout can end that. The
// caller's Append returns once the group's WriteTimeout has passed (and
// the writer's 5 s ask of the server's outcome), with ErrOutcomeUnknown,
// without a Close; its context had ended long before. Before, the write
// had no bound but a Close that gave up: Append waited for ever (seen once
// in Citus CI: a caller held by a group whose write hung).
func TestTelemetryWriterHungWriteIsBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	direct := pgtest.PoolFor(t, dsn)
	// The days made beforehand, so the group's write reaches its COMMIT
	// well within its bound however loaded the machine (a 500 ms bound
	// once ran out while the group made its days).
	_, err = partman.Ensure(ctx, direct, partman.Options{})
	require.NoError(t, err)
	proxy := startCommitCutter(t, u.Host, true, silent)
	pool := pgtest.PoolFor(t, proxy.url(t, dsn))
	t.Cleanup(proxy.close) // first: the pool closes at once
	var logs lockedBuffer
	s := store.NewStore(pool, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		store.WithRetryPolicy(store.RetryPolicy{Attempts: 3, Base: 10 * time.Millisecond, Max: 20 * time.Millisecond}),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{})))
	w := s.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 1, WriteTimeout: 5 * time.Second})
	actx, cancel := context.WithCancel(ctx)
	go func() {
		<-proxy.cut
		cancel() // the caller gives up while its group is being written
	}()
	type outcome struct {
		st  store.TelemetryStats
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		st, err := w.Append(actx, store.WriterBatch("hung", 50))
		done <- outcome{st, err}
	}()
	select {
	case o := <-done:
		t.Logf("Append: %v; logs:\n%s", o.err, logs.String())
		require.ErrorIs(t, o.err, store.ErrGroupWriteTimeout)
		require.Zero(t, o.st.Edges)
		select {
		case <-proxy.cut:
			require.ErrorIs(t, o.err, store.ErrOutcomeUnknown)
		default: // the bound ran out before the COMMIT (a very loaded machine): nothing stored
			require.Zero(t, store.AgentRows(t, direct, "hung"))
		}
	case <-time.After(2 * time.Minute): // a safety net: it returns within seconds
		t.Fatalf("Append did not return while its group's write hung; logs:\n%s", logs.String())
	}
	cctx, cancelClose := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancelClose()
	_ = w.Close(cctx)
}

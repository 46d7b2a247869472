package engine_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/sinktest"
)

// numbers is a Source of n records whose bytes are their index, stopping
// with stop (if set) after them.
type numbers struct {
	n    int
	stop error
	read int64
}

func (s *numbers) Read(ctx context.Context, emit func(engine.Record[int]) error) error {
	for i := range s.n {
		raw := []byte(strconv.Itoa(i))
		if err := emit(engine.Record[int]{Index: int64(i), Offset: s.read, Raw: raw, Meta: i % 7}); err != nil {
			return err
		}
		s.read += int64(len(raw)) + 1
	}
	return s.stop
}

func (s *numbers) Bytes() int64 { return s.read }

// mapNumber maps record i to i%5 nodes (none for multiples of 5), drops
// every 13th, and takes a random while, so workers finish out of order.
func mapNumber(rec engine.Record[int]) engine.Result {
	time.Sleep(time.Duration(rand.IntN(50)) * time.Microsecond)
	i, _ := strconv.Atoi(string(rec.Raw))
	if i%13 == 12 {
		return engine.Result{Read: 1, Drops: []engine.Drop{{Reason: engine.ReasonInvalidProperty, ID: fmt.Sprint(i), Detail: "unlucky"}}}
	}
	res := engine.Result{Read: 1, Mapped: 1}
	for k := range i % 5 {
		n := graph.SourceNode("x-number", fmt.Sprintf("n-%d-%d", i, k))
		n.Props = map[string]any{"meta": rec.Meta}
		res.Batch.Nodes = append(res.Batch.Nodes, n)
	}
	return res
}

var quiet = slog.New(slog.DiscardHandler)

// TestBatchesDoNotDependOnWorkers: the batches written are the same with
// 1, 2 and 8 workers.
func TestBatchesDoNotDependOnWorkers(t *testing.T) {
	t.Parallel()
	var want []graph.Batch
	var wantReport *engine.Report
	for _, workers := range []int{1, 2, 8} {
		sink := &sinktest.Recorder{}
		rep := engine.NewReport("numbers", "test")
		err := engine.Run(context.Background(), &numbers{n: 3000}, mapNumber, sink,
			engine.Options{Feed: "numbers", Workers: workers, BatchSize: 37, Logger: quiet}, rep)
		require.NoError(t, err)
		require.NotEmpty(t, sink.Batches)
		if want == nil {
			want, wantReport = sink.Batches, rep
			continue
		}
		require.Equal(t, want, sink.Batches, "%d workers", workers)
		require.Equal(t, wantReport, rep, "%d workers", workers)
	}
	require.EqualValues(t, 3000, wantReport.RecordsRead)
	require.EqualValues(t, 3000/13, wantReport.Dropped[engine.ReasonInvalidProperty])
	require.Equal(t, wantReport.RecordsRead, wantReport.RecordsMapped+wantReport.DroppedTotal())
	for _, b := range want[:len(want)-1] {
		require.GreaterOrEqual(t, b.Len(), 37, "a batch is cut once it is full")
		require.Less(t, b.Len(), 37+5, "a record's nodes are never split")
	}
}

// TestOrderedRunsInFeedOrder: Ordered hooks see the records in the order
// the source emitted them, whatever the workers.
func TestOrderedRunsInFeedOrder(t *testing.T) {
	t.Parallel()
	var seen []int64
	mapper := func(rec engine.Record[int]) engine.Result {
		time.Sleep(time.Duration(rand.IntN(20)) * time.Microsecond)
		return engine.Result{Read: 1, Mapped: 1, Ordered: func(*engine.Result) { seen = append(seen, rec.Index) }}
	}
	rep := engine.NewReport("order", "test")
	require.NoError(t, engine.Run(context.Background(), &numbers{n: 2000}, mapper, &sinktest.Recorder{}, engine.Options{Workers: 8, Logger: quiet}, rep))
	require.Len(t, seen, 2000)
	for i, idx := range seen {
		require.EqualValues(t, i, idx)
	}
}

// TestSourceErrorKeepsWhatCameBefore: the records a source emitted before
// its error are written, and an *OffsetError gets the feed name.
func TestSourceErrorKeepsWhatCameBefore(t *testing.T) {
	t.Parallel()
	src := &numbers{n: 1000, stop: engine.SyntaxAt(4242, errors.New("invalid character"))}
	sink := &sinktest.Recorder{}
	rep := engine.NewReport("cut", "test")
	var lastBytes, lastRecords int64
	err := engine.Run(context.Background(), src, mapNumber, sink, engine.Options{Feed: "cut", Workers: 4, Logger: quiet,
		Progress: func(b, r int64) { lastBytes, lastRecords = b, r }}, rep)
	require.ErrorIs(t, err, engine.ErrSyntax)
	var oe *engine.OffsetError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, "cut", oe.Feed)
	require.EqualValues(t, 4242, oe.Offset)
	require.Contains(t, err.Error(), `read feed "cut" at byte 4242`)
	require.EqualValues(t, 1000, rep.RecordsRead)
	var nodes int64
	for _, b := range sink.Batches {
		nodes += int64(len(b.Nodes))
	}
	require.Equal(t, rep.Nodes, nodes)
	require.Equal(t, src.read, rep.Bytes)
	require.Equal(t, src.read, lastBytes)
	require.EqualValues(t, 1000, lastRecords)
}

// TestSinkErrorStops: a failing sink stops the load with its error.
func TestSinkErrorStops(t *testing.T) {
	t.Parallel()
	errDown := errors.New("sink down")
	rep := engine.NewReport("down", "test")
	err := engine.Run(context.Background(), &numbers{n: 100000}, mapNumber, &sinktest.Recorder{Fail: errDown},
		engine.Options{Workers: 4, BatchSize: 10, Logger: quiet}, rep)
	require.ErrorIs(t, err, errDown)
	require.Less(t, rep.RecordsRead, int64(100000))
}

// TestCancelledContextStops: the end of the context stops the load.
func TestCancelledContextStops(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := engine.Run(ctx, &numbers{n: 100000}, mapNumber, &sinktest.Recorder{}, engine.Options{Workers: 2, Logger: quiet}, engine.NewReport("c", "test"))
	require.ErrorIs(t, err, context.Canceled)
}

// TestDefaults: the engine does not measure the machine.
func TestDefaults(t *testing.T) {
	t.Parallel()
	o := engine.Options{}.WithDefaults()
	require.Equal(t, 1, o.Workers)
	require.Equal(t, 500, o.BatchSize)
	require.EqualValues(t, engine.DefaultMaxRecordBytes, o.MaxRecordBytes)
	require.NotNil(t, o.Logger)
}

// panicky is a Source that panics after emitting n records.
type panicky struct{ numbers }

func (s *panicky) Read(ctx context.Context, emit func(engine.Record[int]) error) error {
	if err := s.numbers.Read(ctx, emit); err != nil {
		return err
	}
	panic("source bug")
}

// TestPanicsAreContained: a record whose mapping panics is dropped alone
// (internal-error) and the others are written; a source that panics stops
// its load with ErrPanic. Neither takes the process down (issue 13, row 2).
func TestPanicsAreContained(t *testing.T) {
	t.Parallel()
	mapper := func(rec engine.Record[int]) engine.Result {
		if string(rec.Raw) == "3" {
			panic("mapper bug")
		}
		return engine.Result{Read: 1, Mapped: 1, Batch: graph.Batch{Nodes: []graph.Node{graph.SourceNode("x-number", string(rec.Raw))}}}
	}
	for _, workers := range []int{1, 4} {
		rep := engine.NewReport("f", "test")
		sink := &sinktest.Recorder{}
		err := engine.Run(context.Background(), &numbers{n: 10}, mapper, sink, engine.Options{Workers: workers, Logger: quiet}, rep)
		require.NoError(t, err)
		require.Equal(t, map[engine.Reason]int64{engine.ReasonInternalError: 1}, rep.Dropped)
		require.Equal(t, int64(10), rep.RecordsRead)
		require.Equal(t, int64(9), rep.RecordsMapped)
		require.Equal(t, int64(9), rep.Nodes)

		rep = engine.NewReport("f", "test")
		err = engine.Run(context.Background(), &panicky{numbers{n: 5}}, mapper, &sinktest.Recorder{}, engine.Options{Workers: workers, Logger: quiet}, rep)
		require.ErrorIs(t, err, engine.ErrPanic)
		require.Contains(t, err.Error(), "source bug")
	}
}

// TestWritersWriteTheSameBatches: with Options.Writers above 1 the batches
// are written side by side (so in any order) but are the same batches (of
// nodes only: see TestWritersLeaveRelationsToBatchesBeingWritten), and the
// report is the same; a failing sink still stops the load with its error.
func TestWritersWriteTheSameBatches(t *testing.T) {
	t.Parallel()
	run := func(writers int) ([]graph.Batch, *engine.Report) {
		sink := &sinktest.Recorder{}
		rep := engine.NewReport("numbers", "test")
		require.NoError(t, engine.Run(context.Background(), &numbers{n: 3000}, mapNumber, sink,
			engine.Options{Feed: "numbers", Workers: 2, Writers: writers, BatchSize: 37, Logger: quiet}, rep))
		slices.SortFunc(sink.Batches, func(a, b graph.Batch) int { return strings.Compare(a.Nodes[0].Key, b.Nodes[0].Key) })
		return sink.Batches, rep
	}
	want, wantReport := run(1)
	require.False(t, wantReport.WritesOverlapped(), "one writer")
	for _, writers := range []int{2, 4} {
		got, rep := run(writers)
		require.Equal(t, want, got, "%d writers", writers)
		require.Equal(t, wantReport.Written, rep.Written, "%d writers", writers)
		require.Equal(t, wantReport.Dropped, rep.Dropped, "%d writers", writers)
		require.Equal(t, [3]int64{wantReport.RecordsRead, wantReport.RecordsMapped, wantReport.Nodes},
			[3]int64{rep.RecordsRead, rep.RecordsMapped, rep.Nodes}, "%d writers", writers)
	}

	errDown := errors.New("sink down")
	rep := engine.NewReport("down", "test")
	err := engine.Run(context.Background(), &numbers{n: 100000}, mapNumber, &sinktest.Recorder{Fail: errDown},
		engine.Options{Workers: 2, Writers: 3, BatchSize: 10, Logger: quiet}, rep)
	require.ErrorIs(t, err, errDown)
	require.Less(t, rep.RecordsRead, int64(100000))
}

// chainNode is record i's node, known by the alias "c-<i>".
func chainNode(i int) graph.Node {
	n := graph.SourceNode("x-number", "c-"+strconv.Itoa(i))
	n.Aliases = []string{"c-" + strconv.Itoa(i)}
	return n
}

// mapChain maps record i to its node and, from record 15 on, a relation
// from it to record i-15's node: a batch or two back at batch size 10.
func mapChain(rec engine.Record[int]) engine.Result {
	i, _ := strconv.Atoi(string(rec.Raw))
	res := engine.Result{Read: 1, Mapped: 1}
	res.Batch.Nodes = []graph.Node{chainNode(i)}
	if i >= 15 {
		res.Batch.Relations = []graph.Relation{{Src: "c-" + graph.Ref(strconv.Itoa(i)), Type: "follows", Dst: "c-" + graph.Ref(strconv.Itoa(i-15))}}
	}
	return res
}

// inOrderSink is a graph.Sink of mapChain's records whose writes commit in
// input order (a write of nodes returns once every earlier node has been
// written), like a database whose batches take the same time. It counts
// the relations written while their endpoint was not: a store would park
// them (pending), to be written again when the endpoint comes.
type inOrderSink struct {
	mu      sync.Mutex
	cond    sync.Cond
	written int // nodes c-0 .. c-(written-1) are written
	parked  int
	nodes   []string
	rels    []string
}

func (s *inOrderSink) Write(_ context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	first := -1
	mine := map[graph.Ref]bool{}
	for _, n := range b.Nodes {
		i, _ := strconv.Atoi(strings.TrimPrefix(n.Key, "c-"))
		if first < 0 || i < first {
			first = i
		}
		mine[graph.Ref(n.Aliases[0])] = true
		s.nodes = append(s.nodes, n.Key)
	}
	for _, r := range b.Relations {
		dst, _ := strconv.Atoi(strings.TrimPrefix(string(r.Dst), "c-"))
		if dst >= s.written && !mine[r.Dst] {
			s.parked++
		}
		s.rels = append(s.rels, string(r.Src)+">"+string(r.Dst))
	}
	for first >= 0 && s.written < first {
		s.cond.Wait()
	}
	if first >= 0 {
		s.written = first + len(b.Nodes)
		s.cond.Broadcast()
	}
	return graph.WriteStats{NodesInserted: int64(len(b.Nodes)), RelationsInserted: int64(len(b.Relations))}, nil
}

// TestWritersLeaveRelationsToBatchesBeingWritten: with two writers, a
// relation naming a node of a batch still being written goes to a later
// batch, so none is written before its endpoint when batches commit in
// order; with more writers every record is still written once.
func TestWritersLeaveRelationsToBatchesBeingWritten(t *testing.T) {
	t.Parallel()
	const records = 2000
	var wantNodes, wantRels []string
	for i := range records {
		wantNodes = append(wantNodes, "c-"+strconv.Itoa(i))
		if i >= 15 {
			wantRels = append(wantRels, "c-"+strconv.Itoa(i)+">c-"+strconv.Itoa(i-15))
		}
	}
	slices.Sort(wantNodes)
	slices.Sort(wantRels)
	for _, writers := range []int{2, 4} {
		sink := &inOrderSink{}
		sink.cond.L = &sink.mu
		rep := engine.NewReport("chain", "test")
		require.NoError(t, engine.Run(context.Background(), &numbers{n: records}, mapChain, sink,
			engine.Options{Feed: "chain", Workers: 2, Writers: writers, BatchSize: 10, Logger: quiet}, rep))
		slices.Sort(sink.nodes)
		slices.Sort(sink.rels)
		require.Equal(t, wantNodes, sink.nodes, "%d writers", writers)
		require.Equal(t, wantRels, sink.rels, "%d writers: every relation once", writers)
		require.EqualValues(t, len(wantRels), rep.Written.RelationsInserted, "%d writers", writers)
		if writers == 2 {
			require.Zero(t, sink.parked, "no relation written before the batch of its endpoint committed")
		}
	}
}

// jitterSink records batches like sinktest.Recorder but takes a random
// time over each write, so batches end in a different order each run.
type jitterSink struct {
	sinktest.Recorder
	mu  sync.Mutex
	rng *rand.Rand
}

func (s *jitterSink) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.mu.Lock()
	d := time.Duration(s.rng.IntN(1500)) * time.Microsecond
	s.mu.Unlock()
	time.Sleep(d)
	return s.Recorder.Write(ctx, b)
}

// TestWritersBatchesDoNotDependOnTiming: which relations wait for a later
// batch depends on the input and the writer count alone, never on which
// write happens to end first, so the same load makes the same batches
// every time.
func TestWritersBatchesDoNotDependOnTiming(t *testing.T) {
	t.Parallel()
	for _, writers := range []int{2, 3} {
		var want []graph.Batch
		for seed := range uint64(4) {
			sink := &jitterSink{rng: rand.New(rand.NewPCG(seed, uint64(writers)))}
			require.NoError(t, engine.Run(context.Background(), &numbers{n: 600}, mapChain, sink,
				engine.Options{Feed: "chain", Workers: 2, Writers: writers, BatchSize: 10, Logger: quiet},
				engine.NewReport("chain", "test")))
			got := sink.Batches
			slices.SortFunc(got, func(a, b graph.Batch) int {
				return cmp.Compare(fmt.Sprint(a.Nodes, a.Relations), fmt.Sprint(b.Nodes, b.Relations))
			})
			if want == nil {
				want = got
				continue
			}
			require.Equal(t, want, got, "%d writers, seed %d", writers, seed)
		}
	}
}

// mapAhead maps record i to its node and a relation to the node of record
// i+ahead (none for the last ahead records), and every 50th record also to
// a relation naming a node no record gives.
func mapAhead(ahead int) engine.Mapper[int] {
	return func(rec engine.Record[int]) engine.Result {
		i, _ := strconv.Atoi(string(rec.Raw))
		res := engine.Result{Read: 1, Mapped: 1}
		res.Batch.Nodes = []graph.Node{chainNode(i)}
		if i+ahead < 2000 {
			res.Batch.Relations = append(res.Batch.Relations, graph.Relation{Src: "c-" + graph.Ref(strconv.Itoa(i)), Type: "precedes", Dst: "c-" + graph.Ref(strconv.Itoa(i+ahead))})
		}
		if i%50 == 0 {
			res.Batch.Relations = append(res.Batch.Relations, graph.Relation{Src: "c-" + graph.Ref(strconv.Itoa(i)), Type: "names", Dst: "elsewhere"})
		}
		return res
	}
}

// TestRelationsWaitForNodesAhead: a relation naming a node that a later
// record gives waits until that record's batch instead of being written
// before its endpoint (which a store parks, then releases: written three
// times); relations naming a node the input never gives are written at
// the end; every relation is written once, with one writer or several,
// and at most 8 batches of relations wait (the oldest leave first).
func TestRelationsWaitForNodesAhead(t *testing.T) {
	t.Parallel()
	const records = 2000
	for _, tc := range []struct {
		ahead, writers int
		parked         bool // relations had to leave before their endpoint came
	}{{15, 1, false}, {15, 2, false}, {15, 4, false}, {300, 1, true}, {300, 2, true}} {
		sink := &sinktest.Recorder{}
		rep := engine.NewReport("ahead", "test")
		require.NoError(t, engine.Run(context.Background(), &numbers{n: records}, mapAhead(tc.ahead), sink,
			engine.Options{Feed: "ahead", Workers: 2, Writers: tc.writers, BatchSize: 10, RelationsWaitAhead: true, Logger: quiet}, rep))
		written := map[graph.Ref]int{} // node ref -> batch index
		var rels []string
		early, lastNodes := 0, 0
		for k, b := range sink.Batches {
			if len(b.Nodes) > 0 {
				lastNodes = k
			}
		}
		for k, b := range sink.Batches {
			for _, n := range b.Nodes {
				written[graph.Ref(n.Aliases[0])] = k
			}
			for _, r := range b.Relations {
				rels = append(rels, string(r.Src)+">"+string(r.Dst))
				if r.Dst == "elsewhere" {
					if !tc.parked { // else some left before the end
						require.Greater(t, k, lastNodes, "%+v: a relation to a node never given is written after every batch of nodes", tc)
					}
					continue
				}
				if kd, ok := written[r.Dst]; !ok || kd > k {
					early++
				}
			}
		}
		want := records - tc.ahead + records/50
		require.Len(t, rels, want, "%+v", tc)
		slices.Sort(rels)
		require.Len(t, slices.Compact(rels), want, "%+v: every relation once", tc)
		require.EqualValues(t, want, rep.Written.RelationsInserted, "%+v", tc)
		if tc.writers == 1 {
			// Batches are written in order: a relation in a batch before
			// its endpoint's would be parked by a store.
			if tc.parked {
				require.Positive(t, early, "%+v: 300 records ahead is more than 8 batches of 10 can wait for", tc)
			} else {
				require.Zero(t, early, "%+v", tc)
			}
		}
	}
}

// lastBatchFails is a graph.Sink that fails, after a while, the write of
// the batch holding node c-<last>, and refuses any write whose context has
// ended, as the product's sink does (a batch does not start once the load
// has stopped).
type lastBatchFails struct {
	last int
	err  error
}

func (s lastBatchFails) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	if err := ctx.Err(); err != nil {
		return graph.WriteStats{}, err
	}
	for _, n := range b.Nodes {
		if n.Key == "c-"+strconv.Itoa(s.last) {
			time.Sleep(5 * time.Millisecond)
			return graph.WriteStats{}, s.err
		}
	}
	return graph.WriteStats{NodesInserted: int64(len(b.Nodes)), RelationsInserted: int64(len(b.Relations))}, nil
}

// TestLastBatchsErrorIsTheLoadsError: with batches written side by side,
// the last batch of nodes fails (the server turned read-only under `intel
// ingest feeds`) while the relations left for after it wait. The load must
// fail with that batch's error. Before, the wait for it took the end of
// the batch for its success, wrote the waiting relations on the context
// the failure had just cancelled, and the load failed with "write batch of
// 0 nodes and 98 relations: context canceled": the cause (read-only
// server, with what to do) was lost.
func TestLastBatchsErrorIsTheLoadsError(t *testing.T) {
	t.Parallel()
	boom := errors.New("the server is read-only")
	for range 20 {
		err := engine.Run(context.Background(), &numbers{n: 200}, mapNear, lastBatchFails{last: 199, err: boom},
			engine.Options{Feed: "chain", Workers: 2, Writers: 2, BatchSize: 10, Logger: quiet}, engine.NewReport("chain", "test"))
		require.ErrorIs(t, err, boom)
	}
}

// mapNear maps record i to its node and, from record 3 on, a relation to
// record i-3's node: often in the batch written just before, so the
// relation waits for it (batch size 10: five records a batch).
func mapNear(rec engine.Record[int]) engine.Result {
	i, _ := strconv.Atoi(string(rec.Raw))
	res := engine.Result{Read: 1, Mapped: 1}
	res.Batch.Nodes = []graph.Node{chainNode(i)}
	if i >= 3 {
		res.Batch.Relations = []graph.Relation{{Src: "c-" + graph.Ref(strconv.Itoa(i)), Type: "follows", Dst: "c-" + graph.Ref(strconv.Itoa(i-3))}}
	}
	return res
}

// TestAtEndRunsAfterTheLastRecord: Options.AtEnd runs once, after every
// record's Ordered hook, also when the source stopped with an error, and
// what it puts in the result's batch is written last; it runs not when the
// context ended.
func TestAtEndRunsAfterTheLastRecord(t *testing.T) {
	t.Parallel()
	for _, stop := range []error{nil, engine.SyntaxAt(99, errors.New("invalid character"))} {
		var seen, atEnd int
		mapper := func(rec engine.Record[int]) engine.Result {
			return engine.Result{Read: 1, Mapped: 1, Ordered: func(*engine.Result) { seen++ }}
		}
		sink := &sinktest.Recorder{}
		opts := engine.Options{Workers: 4, BatchSize: 7, Logger: quiet, AtEnd: func(res *engine.Result) {
			atEnd++
			require.Equal(t, 500, seen, "after every record")
			res.Batch.Nodes = append(res.Batch.Nodes, graph.SourceNode("x-end", "x-end--1"))
		}}
		err := engine.Run(context.Background(), &numbers{n: 500, stop: stop}, mapper, sink, opts, engine.NewReport("end", "test"))
		if stop == nil {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, engine.ErrSyntax)
		}
		require.Equal(t, 1, atEnd)
		last := sink.Batches[len(sink.Batches)-1]
		require.Equal(t, "x-end--1", last.Nodes[len(last.Nodes)-1].Key, "its batch is written")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	err := engine.Run(ctx, &numbers{n: 100000}, mapNumber, &sinktest.Recorder{},
		engine.Options{Workers: 2, Logger: quiet, AtEnd: func(*engine.Result) { ran = true }}, engine.NewReport("c", "test"))
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, ran)
}

package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// Chunking: the source's records travel to the workers and the batcher in
// chunks of up to chunkRecords records or chunkBytes bytes, so that channel
// traffic is per chunk, not per record.
const (
	chunkRecords = 256
	chunkBytes   = 1 << 20
)

// Record is one raw record a Source read.
type Record[M any] struct {
	// Index is the record's position among the records of the input.
	Index int64
	// Offset is the byte offset of the record's first byte in the input.
	Offset int64
	// Line is the 1-based line of the record (NDJSON), 0 when unknown.
	Line int64
	// Raw is the record's bytes. The record owns them: a source must not
	// reuse the buffer. It may be nil for a record the source already
	// knows the outcome of (one it dropped, the end of an event).
	Raw []byte
	// Meta is the format's context of the record (the MISP event it
	// belongs to, why the reader dropped it, ...). The mapper reads it and
	// may fill it for its Result's Ordered hook.
	Meta M
}

// Drop is one record dropped, with why.
type Drop struct {
	// Reason is the Report.Dropped key.
	Reason Reason
	// ID is the record's id or uuid when known, for the log line.
	ID string
	// Detail says what was wrong, for the log line.
	Detail string
	// Attrs are further slog attributes of the log line (the record type,
	// the MISP event, the file).
	Attrs []any
	// Quiet logs the drop at DEBUG instead of WARN (records deleted on
	// purpose).
	Quiet bool
}

// Result is what a Mapper made of one record.
type Result struct {
	// Batch holds the record's graph records; they go to the sink in one
	// batch.
	Batch graph.Batch
	// Edges are the record's telemetry edges, for RunTelemetry, which
	// hands them to its TelemetryWriter in input order.
	Edges []graph.TelemetryEdge
	// EdgesChecked says the mapper has given Edges store.CheckEdge's
	// answer itself, on its worker goroutine, and dropped the edges it
	// refuses: count does not check them again (see ingest/telemetry,
	// which checks each endpoint once, not on every line).
	EdgesChecked bool
	// Read, Mapped and Sightings count for the report: the records read
	// (one record of the source may hold several, such as a MISP object
	// and its attributes), those mapped, and the sightings in Batch.
	Read, Mapped, Sightings int64
	// Drops are the records dropped, each logged and counted.
	Drops []Drop
	// PartDrops are the parts of a record that loaded without them (the
	// observables of an indicator's pattern that could not be read), each
	// logged at WARN and counted in Report.PartsDropped, not in Dropped:
	// the record itself was read and mapped.
	PartDrops []Drop
	// Ordered, when set, runs on the batcher goroutine in feed order,
	// before the result is counted and its Batch queued. It is where a
	// format keeps state across records (marking definitions seen so far,
	// the links an event keeps until its end) and may change the result.
	Ordered func(*Result)
}

// Mapper turns one record into graph records. It runs on the worker
// goroutines, so it must not touch state shared across records; that is
// what Result.Ordered is for.
type Mapper[M any] func(Record[M]) Result

// Source reads an input and emits its records in order.
type Source[M any] interface {
	// Read emits the records of the input in order and returns nil at its
	// end, or the error that stopped reading (an *OffsetError for a syntax
	// or read error). emit returns an error when the load stops (the
	// context ended, the sink failed); Read then returns it.
	Read(ctx context.Context, emit func(Record[M]) error) error
	// Bytes is the number of bytes of the input read so far. Run calls it
	// on the goroutine of Read, and once Read has returned.
	Bytes() int64
}

// chunk is a run of consecutive records and, once a worker is done with it
// (done closed), what they became.
type chunk[M any] struct {
	records []Record[M]
	results []Result
	done    chan struct{}
	// idle: the splitter sent the chunk because the source had emitted
	// nothing for Options.IdleFlush (results then yields a nil record
	// after it).
	idle bool
}

// Run loads one input: it reads src, maps its records with mapRecord on
// opts.Workers goroutines and writes what they map to, in input order, to
// sink in batches of opts.BatchSize, counting everything into rep (so one
// report can sum several inputs, such as the files of a feed directory).
//
// A dropped record is logged at WARN (feed, record index, byte offset,
// line, id, reason, detail) and counted. When src stops with an error,
// everything it emitted before is written and the error (an *OffsetError
// gets opts.Feed) is returned; a sink error or the end of ctx also stops
// the load. rep.Bytes grows by the bytes read, and opts.Progress is called
// once at the end.
func Run[M any](ctx context.Context, src Source[M], mapRecord Mapper[M], sink graph.Sink, opts Options, rep *Report) error {
	l := start(ctx, src, mapRecord, opts, rep)
	bt := newBatcher(l.ctx, sink, l.opts, rep, l.log)
	var writeErr error
	for rec, res := range l.results {
		if rec == nil {
			continue // idle (Options.IdleFlush): batches depend on the input alone
		}
		if writeErr = bt.collect(l.ctx, rec, res); writeErr != nil {
			break
		}
	}
	if writeErr == nil {
		writeErr = l.err
	}
	if writeErr == nil && l.ctx.Err() == nil && l.opts.AtEnd != nil {
		res := Result{Ordered: l.opts.AtEnd}
		writeErr = bt.collect(l.ctx, &Record[M]{Index: l.sp.records}, &res)
	}
	if writeErr == nil {
		writeErr = bt.flush(l.ctx, true)
	}
	if err := bt.wait(); writeErr == nil {
		writeErr = err
	}
	return l.finish(writeErr)
}

// load is one input being loaded: the source's goroutine and the workers,
// whose results its output stage (Run's batcher, RunTelemetry's writer)
// reads in input order through results.
type load[M any] struct {
	parent, ctx context.Context
	cancel      context.CancelFunc
	src         Source[M]
	opts        Options
	rep         *Report
	log         *slog.Logger
	sp          *splitter[M]
	ordered     <-chan *chunk[M]
	wg          sync.WaitGroup
	readErr     error // set before ordered is closed
	// err is the end of ctx while results waited for a worker.
	err error
}

// start starts reading src and mapping its records with mapRecord.
func start[M any](ctx context.Context, src Source[M], mapRecord Mapper[M], opts Options, rep *Report) *load[M] {
	opts = opts.WithDefaults()
	if rep.Dropped == nil {
		rep.Dropped = map[Reason]int64{}
	}
	l := &load[M]{parent: ctx, src: src, opts: opts, rep: rep,
		log: opts.Logger.With("feed", opts.Feed, "format", rep.Format)}
	l.ctx, l.cancel = context.WithCancel(ctx)
	jobs := make(chan *chunk[M], opts.Workers)
	ordered := make(chan *chunk[M], 2*opts.Workers+2)
	l.ordered = ordered
	l.sp = &splitter[M]{src: src, opts: opts, jobs: jobs, ordered: ordered,
		bytesBase: rep.Bytes, recordsBase: rep.emitted}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(jobs)
		defer close(ordered)
		defer func() {
			if p := recover(); p != nil {
				l.readErr = fmt.Errorf("%w: reading the feed: %v", ErrPanic, p)
				l.log.Error("panic reading the feed", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		l.readErr = l.sp.run(l.ctx)
	}()
	for range opts.Workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for c := range jobs {
				c.results = make([]Result, len(c.records))
				for i, rec := range c.records {
					c.results[i] = mapSafely(mapRecord, rec)
					c.records[i].Raw = nil
				}
				close(c.done)
			}
		}()
	}
	return l
}

// mapSafely maps one record; a record whose mapping panics is dropped
// alone under ReasonInternalError (with the panic and stack in the log
// line) instead of killing the process and every other feed loading in it.
func mapSafely[M any](mapRecord Mapper[M], rec Record[M]) (res Result) {
	defer func() {
		if p := recover(); p != nil {
			res = Result{Read: 1, Drops: []Drop{{Reason: ReasonInternalError,
				Detail: fmt.Sprintf("panic mapping the record: %v", p), Attrs: []any{"stack", string(debug.Stack())}}}}
		}
	}()
	return mapRecord(rec)
}

// results yields the records and what they mapped to in input order, until
// the source has emitted its last record, the consumer stops (which stops
// the load) or ctx ends (l.err is then set).
func (l *load[M]) results(yield func(*Record[M], *Result) bool) {
	for c := range l.ordered {
		select {
		case <-c.done:
		case <-l.ctx.Done():
			l.err = l.ctx.Err()
			return
		}
		for i := range c.results {
			if !yield(&c.records[i], &c.results[i]) {
				l.cancel()
				return
			}
		}
		if c.idle && !yield(nil, nil) { // the source went idle: write what was read
			l.cancel()
			return
		}
	}
}

// finish stops the load, waits for its goroutines, completes the report
// and returns the error of the load: writeErr, the output stage's, or the
// source's.
func (l *load[M]) finish(writeErr error) error {
	if writeErr != nil {
		l.cancel()
	}
	for range l.ordered { // drain; the source stops at the cancelled context
	}
	l.wg.Wait()
	l.cancel()
	rep, sp, readErr := l.rep, l.sp, l.readErr
	rep.Bytes = sp.bytesBase + l.src.Bytes()
	rep.emitted = sp.recordsBase + sp.records
	if l.opts.Progress != nil {
		l.opts.Progress(rep.Bytes, rep.emitted)
	}
	if readErr != nil {
		if oe := (*OffsetError)(nil); errors.As(readErr, &oe) {
			oe.Feed = l.opts.Feed
			if oe.Records == 0 {
				oe.Records = sp.records
			}
		}
	}
	if writeErr != nil && readErr != nil && errors.Is(writeErr, readErr) {
		writeErr = nil // the output stage returned the source's error
	}
	switch {
	case writeErr != nil && (readErr == nil || errors.Is(readErr, context.Canceled)):
		return writeErr
	case readErr != nil:
		if writeErr != nil {
			return errors.Join(readErr, writeErr)
		}
		return readErr
	}
	return l.parent.Err()
}

// splitter cuts the source's records into chunks and sends each to the
// workers and, in order, to the batcher. It runs on the source's goroutine.
type splitter[M any] struct {
	src           Source[M]
	opts          Options
	jobs, ordered chan<- *chunk[M]
	bytesBase     int64
	recordsBase   int64
	records       int64
	cur           *chunk[M]
	size          int
	// mu guards cur, size and records against the idle flusher
	// (Options.IdleFlush); last is when the source last emitted.
	mu   sync.Mutex
	last time.Time
}

func (s *splitter[M]) run(ctx context.Context) error {
	s.cur = &chunk[M]{done: make(chan struct{})}
	stop, stopped := make(chan struct{}), make(chan struct{})
	if s.opts.IdleFlush > 0 {
		go s.flushIdle(ctx, stop, stopped)
	} else {
		close(stopped)
	}
	err := s.src.Read(ctx, func(rec Record[M]) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.last = time.Now()
		s.cur.records = append(s.cur.records, rec)
		s.records++
		s.size += len(rec.Raw)
		if len(s.cur.records) >= chunkRecords || s.size >= chunkBytes {
			return s.send(ctx, false)
		}
		return nil
	})
	close(stop)
	<-stopped
	if len(s.cur.records) > 0 {
		if serr := s.send(ctx, false); serr != nil && err == nil {
			err = serr
		}
	}
	return err
}

// flushIdle sends the records read so far, marked idle, whenever the
// source has emitted nothing for Options.IdleFlush, until stop closes.
func (s *splitter[M]) flushIdle(ctx context.Context, stop <-chan struct{}, stopped chan<- struct{}) {
	defer close(stopped)
	tick := time.NewTicker(max(s.opts.IdleFlush/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		var err error
		if len(s.cur.records) > 0 && time.Since(s.last) >= s.opts.IdleFlush {
			err = s.send(ctx, true)
		}
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// send hands the records read so far to the workers and the output stage;
// idle marks a chunk the idle flusher sends, which does not report
// progress (Source.Bytes is read on the goroutine of Read only).
func (s *splitter[M]) send(ctx context.Context, idle bool) error {
	c := s.cur
	c.idle = idle
	s.cur, s.size = &chunk[M]{done: make(chan struct{})}, 0
	select {
	case s.ordered <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case s.jobs <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	if s.opts.Progress != nil && !idle {
		s.opts.Progress(s.bytesBase+s.src.Bytes(), s.recordsBase+s.records)
	}
	return nil
}

// batcher is the one goroutine that sees results in input order: it logs
// and counts them and writes full batches to the sink, itself or (with
// Options.Writers above 1) on up to Writers goroutines while it collects
// the next batch.
//
// With several writers, a relation naming a node of a batch that may still
// be being written is not written beside it: that batch may not have
// committed, so the relation's write could not see the node and would park
// it (pending in the store, released by a later write or by the final
// sweep: written three times). Batch k starts only once batch k-Writers has
// ended, so the batches that may be written beside a new one are the last
// Writers-1 started; a relation naming a node of those waits for a later
// batch (see split). At most BatchSize relations wait, the oldest first,
// and the last batch waits for every other. The records written are the
// same, only their batches differ, and they differ by the input and the
// writer count alone (TestWritersBatchesDoNotDependOnTiming); a sink
// written to concurrently gives one result whatever the order anyway.
type batcher struct {
	sink    graph.Sink
	size    int
	rep     *Report
	log     *slog.Logger
	pending graph.Batch
	// deferred is how many relations at the head of pending.Relations
	// wait for batches being written: they do not count toward a full batch.
	deferred int
	// writes runs the batch writes when they are concurrent (nil when
	// not); wctx ends when one of them fails.
	writes  *errgroup.Group
	wctx    context.Context
	parent  context.Context // of wctx
	writers int
	// started holds, oldest first, a channel closed by each batch started
	// and not yet seen to end, at most writers of them: a batch starts
	// only once the one writers before it has ended. So the batches that
	// may be written beside a new one are the last writers-1 started,
	// whatever the timing, and which relations wait (split) depends on the
	// input and the writer count alone.
	started []chan struct{}
	// window holds the node references of the last writers-1 batches
	// started, and recent counts them per reference (node--<uuid> or
	// alias). Both are the collecting goroutine's own.
	window [][]graph.Ref
	recent map[graph.Ref]int
	mu     sync.Mutex // guards rep and inflight while writes are concurrent
	// inflight counts the batches being written.
	inflight int
	// ahead keeps the relations that name a node no record has given yet
	// (see relationsAhead).
	ahead relationsAhead
}

func newBatcher(ctx context.Context, sink graph.Sink, opts Options, rep *Report, log *slog.Logger) *batcher {
	b := &batcher{sink: sink, size: opts.BatchSize, rep: rep, log: log}
	if opts.RelationsWaitAhead {
		b.ahead.limit = aheadBatches * opts.BatchSize
	}
	if opts.Writers > 1 {
		b.writes, b.wctx = errgroup.WithContext(ctx)
		b.parent = ctx
		b.writers = opts.Writers
		b.recent = map[graph.Ref]int{}
	}
	return b
}

// collect handles one result in input order.
func (b *batcher) collect(ctx context.Context, rec interface{ where() []any }, res *Result) error {
	b.mu.Lock()
	count(ctx, b.log, b.rep, rec, res)
	b.mu.Unlock()
	if res.Batch.Len() == 0 {
		return nil
	}
	b.pending.Nodes = append(b.pending.Nodes, res.Batch.Nodes...)
	b.pending.Relations = b.ahead.add(b.pending.Relations, res.Batch.Nodes, res.Batch.Relations)
	if b.pending.Len()-b.deferred < b.size {
		return nil
	}
	return b.flush(ctx, false)
}

// count runs a result's Ordered hook, counts it into rep and logs its drops.
// Output stages call it on one goroutine, in input order.
func count(ctx context.Context, log *slog.Logger, rep *Report, rec interface{ where() []any }, res *Result) {
	if res.Ordered != nil {
		res.Ordered(res)
	}
	if reason, err := check(res); reason != "" {
		// The database would refuse a record of the result: drop the
		// result alone, rather than fail its batch or COPY chunk.
		n := max(res.Mapped, 1)
		rep.Dropped[reason] += n
		args := rec.where()
		args = append(args, "reason", reason, "detail", err, "records", n)
		log.WarnContext(ctx, "record dropped", args...)
		res.Mapped, res.Sightings, res.Batch, res.Edges = 0, 0, graph.Batch{}, nil
	}
	rep.RecordsRead += res.Read
	rep.RecordsMapped += res.Mapped
	rep.Sightings += res.Sightings
	if res.Mapped > 0 {
		for _, d := range res.PartDrops {
			rep.DropPart(d.Reason)
			args := rec.where()
			args = append(args, "id", d.ID, "reason", d.Reason, "detail", d.Detail)
			args = append(args, d.Attrs...)
			log.WarnContext(ctx, "part of a record dropped; the record loaded without it", args...)
		}
	}
	for _, d := range res.Drops {
		rep.Dropped[d.Reason]++
		level := slog.LevelWarn
		if d.Quiet {
			level = slog.LevelDebug
		}
		args := rec.where()
		args = append(args, "id", d.ID, "reason", d.Reason, "detail", d.Detail)
		args = append(args, d.Attrs...)
		log.Log(ctx, level, "record dropped", args...)
	}
}

// check returns why PostgreSQL would refuse a graph record or telemetry
// edge of res (store.CheckBatch, store.CheckEdge: the store's own
// validation, so a dry run drops what a load drops), or "".
func check(res *Result) (Reason, error) {
	if reason, err := store.CheckBatch(&res.Batch); reason != "" {
		return reason, err
	}
	if res.EdgesChecked { // the mapper checked them
		return "", nil
	}
	for i := range res.Edges {
		if reason, err := store.CheckEdge(&res.Edges[i]); reason != "" {
			return reason, err
		}
	}
	return "", nil
}

// flush writes what is queued, or starts writing it when writes are
// concurrent (waiting while Writers batches are being written); it returns
// the error of a write that failed. A concurrent flush leaves for a later
// batch the relations that name nodes of the last Writers-1 batches
// started (see batcher); the last flush (last) then waits for every batch
// and writes those too, and then the relations that waited for nodes the
// input never gave (relationsAhead), in batches of their own.
func (b *batcher) flush(ctx context.Context, last bool) error {
	if last {
		// The relations still waiting name no node this input gave by
		// their references: they go in batches of their own once every
		// other batch is written (the store may still resolve a name
		// otherwise), side by side when writes are concurrent.
		rest := b.ahead.drain(nil)
		if err := b.flushPending(ctx, true); err != nil || len(rest) == 0 {
			return err
		}
		if err := b.drain(); err != nil {
			return err
		}
		for chunk := range slices.Chunk(rest, b.size) {
			write := b.start
			if b.writes == nil {
				write = b.write
			}
			if err := write(ctx, graph.Batch{Relations: chunk}); err != nil {
				return err
			}
		}
		return nil
	}
	return b.flushPending(ctx, false)
}

// flushPending is flush of what is queued.
func (b *batcher) flushPending(ctx context.Context, last bool) error {
	if b.pending.Len() == 0 {
		return nil
	}
	if b.writes == nil {
		batch := b.pending
		b.pending = graph.Batch{}
		return b.write(ctx, batch)
	}
	batch, later := b.split()
	b.pending, b.deferred = graph.Batch{Relations: later}, len(later)
	if batch.Len() > 0 {
		if err := b.start(ctx, batch); err != nil {
			return err
		}
	}
	if !last || len(later) == 0 {
		return nil
	}
	if err := b.drain(); err != nil { // every batch written
		return err
	}
	batch, b.pending, b.deferred = b.pending, graph.Batch{}, 0
	return b.write(b.wctx, batch)
}

// drain waits for every batch being written to end and returns the first
// error of one; batches started after it go on a new group. Waiting on the
// batches' channels alone (await) is not enough before a write of the
// collecting goroutine's own: a failed batch ends (its channel closed) just
// before its error cancels wctx, so await may take it for a success, and
// the write that follows then fails with the end of wctx ("context
// canceled") in place of the batch's error.
func (b *batcher) drain() error {
	if b.writes == nil {
		return nil
	}
	err := b.writes.Wait()
	b.started = b.started[:0]
	if err != nil {
		return err
	}
	b.writes, b.wctx = errgroup.WithContext(b.parent)
	return nil
}

// await waits for the oldest batch started to end, or for a write to fail
// or the load to stop (then it returns why, after the other writes have
// ended).
func (b *batcher) await(ctx context.Context) error {
	if b.wctx.Err() == nil {
		select {
		case <-b.started[0]:
			b.started = b.started[1:]
			return nil
		case <-b.wctx.Done():
		}
	}
	// A write failed, or the load stopped.
	return cmp.Or(b.wait(), ctx.Err(), context.Cause(b.wctx))
}

// split cuts pending into the batch to write now and the relations to
// leave for a later one: the first BatchSize that name a node of the last
// Writers-1 batches started.
func (b *batcher) split() (now graph.Batch, later []graph.Relation) {
	now.Nodes = b.pending.Nodes
	if len(b.recent) == 0 {
		now.Relations = b.pending.Relations
		return now, nil
	}
	for _, r := range b.pending.Relations {
		if len(later) < b.size && (b.recent[r.Src] > 0 || b.recent[r.Dst] > 0) {
			later = append(later, r)
			continue
		}
		now.Relations = append(now.Relations, r)
	}
	return now, later
}

// start writes batch on a goroutine of its own once the batch Writers
// before it has ended, and puts its nodes in the window of the last
// Writers-1 batches started.
func (b *batcher) start(ctx context.Context, batch graph.Batch) error {
	if len(b.started) == b.writers {
		if err := b.await(ctx); err != nil {
			return err
		}
	}
	if b.wctx.Err() != nil {
		return cmp.Or(b.wait(), ctx.Err(), context.Cause(b.wctx))
	}
	refs := nodeRefs(batch.Nodes)
	b.window = append(b.window, refs)
	for _, r := range refs {
		b.recent[r]++
	}
	if len(b.window) > b.writers-1 {
		for _, r := range b.window[0] {
			if b.recent[r]--; b.recent[r] == 0 {
				delete(b.recent, r)
			}
		}
		b.window = b.window[1:]
	}
	done := make(chan struct{})
	b.started = append(b.started, done)
	b.mu.Lock()
	if b.inflight > 0 {
		b.rep.overlapped = true
	}
	b.inflight++
	b.mu.Unlock()
	b.writes.Go(func() error {
		defer func() {
			b.mu.Lock()
			b.inflight--
			b.mu.Unlock()
			close(done)
		}()
		return b.write(b.wctx, batch)
	})
	return nil
}

// nodeRefs lists the references by which relations name nodes: their
// node--<uuid> refs and their aliases (source ids).
func nodeRefs(nodes []graph.Node) []graph.Ref {
	refs := make([]graph.Ref, 0, 2*len(nodes))
	for i := range nodes {
		refs = append(refs, nodes[i].Ref())
		for _, a := range nodes[i].Aliases {
			refs = append(refs, graph.Ref(a))
		}
	}
	return refs
}

// write writes one batch and counts it.
func (b *batcher) write(ctx context.Context, batch graph.Batch) error {
	ws, err := b.sink.Write(ctx, batch)
	if err != nil {
		return fmt.Errorf("write batch of %d nodes and %d relations: %w", len(batch.Nodes), len(batch.Relations), err)
	}
	b.mu.Lock()
	b.rep.addBatch(batch, ws)
	b.mu.Unlock()
	return nil
}

// wait waits for the batches being written and returns the first error.
func (b *batcher) wait() error {
	if b.writes == nil {
		return nil
	}
	return b.writes.Wait()
}

// where are the log attributes that place a record in its input.
func (r *Record[M]) where() []any {
	args := []any{"record", r.Index, "offset", r.Offset}
	if r.Line > 0 {
		args = append(args, "line", r.Line)
	}
	return args
}

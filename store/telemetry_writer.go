package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
)

// ErrTelemetryWriterClosed is returned by TelemetryWriter.Append after
// Close has begun.
var ErrTelemetryWriterClosed = errors.New("telemetry writer closed")

// ErrFlush is not an error: an edge sequence given to AppendTelemetry may
// yield it (with a zero edge) to have the edges read so far written now,
// rather than when their chunk is full: ingest yields it when a streaming
// input pauses (engine.Options.IdleFlush).
var ErrFlush = errors.New("store: write the telemetry edges read so far")

// TelemetryWriterOptions configure a TelemetryWriter. A zero field takes
// its default.
type TelemetryWriterOptions struct {
	// Streams is how many groups are written at once, each on a pooled
	// connection of its own (default: the Store's writers, WithWriters;
	// services pass tuning.Plan.TelemetryStreams). It is capped at half
	// the pool's connections.
	Streams int
	// GroupRows is the size at which a group is written without waiting
	// (default 5,000, at most the Store's copy chunk). A group holds whole
	// pieces of callers' batches, so it may exceed GroupRows by less than
	// one piece; a batch larger than GroupRows is split into pieces of
	// GroupRows edges.
	GroupRows int
	// Linger is how long a free stream waits for a group that is not full
	// to fill before writing it (default 5 ms). While every stream is busy
	// groups fill anyway: the more callers, the longer the COPYs.
	Linger time.Duration
	// MaxPendingRows bounds the edges accepted and not yet committed
	// (default 8 × Streams × GroupRows); Append blocks while a piece would
	// exceed it. It is at least GroupRows.
	MaxPendingRows int
	// MaxPendingBytes bounds the estimated memory of those edges (default
	// 64 MiB), the same way. A piece alone in the writer is accepted
	// whatever its size.
	MaxPendingBytes int64
	// WriteTimeout bounds the write of one group, its transactions, their
	// retries and the waits between them together (default 2 min; a
	// negative value: no bound). When it passes the write is cancelled as a
	// Close that gives up cancels it: the group's callers get an error
	// wrapping ErrGroupWriteTimeout, and none of their edges is stored,
	// unless the COMMIT was on its way (then nil when the server says it
	// landed, ErrOutcomeUnknown when it cannot be asked). Before, a write
	// to a server that stopped answering (a hung host, SIGSTOP; no
	// statement_timeout reaches a server that is not running) held its
	// callers, also those whose context had ended, until Close gave up.
	// It also bounds the Store's wait for a server that is starting up
	// (RetryPolicy.Recovery) within one group's write.
	WriteTimeout time.Duration
}

// ErrGroupWriteTimeout is wrapped by the error of the callers of a
// TelemetryWriter group whose write outlasted WriteTimeout.
var ErrGroupWriteTimeout = errors.New("the telemetry writer's group write outlasted its WriteTimeout (TelemetryWriterOptions)")

// TelemetryWriter is a telemetry writer shared by many callers, each with
// a small batch (group commit): Append hands a batch to it, and a few
// streams write the batches that arrived together as one chunk — day
// partitions, endpoint nodes and implied records in one transaction, then
// one COPY transaction, the per-chunk steps of AppendTelemetry with its
// drops, retries and isolation of refused rows — so the COPYs stay long
// and the connections few however many callers there are.
//
// Append returns once the transaction that holds the caller's edges has
// committed, or with the error that lost them: a group that fails fails
// for every caller in it and for no other, and stores none of its edges
// (a retry after a lost connection never doubles them: see commitChunk),
// or, when the answer to its COMMIT was lost and the server could not be
// asked, with ErrOutcomeUnknown.
// Memory is bounded (MaxPendingRows, MaxPendingBytes): Append blocks while
// the writer is full, and gives up when its context ends, unless its
// edges are already being written: then it waits for that write's outcome.
// Rows are not deduplicated: the same edges appended twice are stored
// twice, as telemetry_edges is a log of observations (their endpoint
// nodes and records merge); an input written exactly once is
// AppendTelemetryInput's.
//
// A TelemetryWriter is safe for concurrent use. Close flushes what was
// accepted and stops the streams.
type TelemetryWriter struct {
	s    *Store
	opts TelemetryWriterOptions
	ctx  context.Context // of the writes; cancelled by a Close that gives up
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu      sync.Mutex
	work    *sync.Cond     // signalled when a group can be taken, or on close
	open    *writerGroup   // the group callers join, nil when none
	sealed  []*writerGroup // full groups, oldest first
	rows    int            // pending edges
	bytes   int64          // their estimated memory
	freed   chan struct{}  // closed (and replaced) when room is freed
	closing bool
	bufs    [][]graph.TelemetryEdge // chunk buffers to reuse
	idle    int                     // streams waiting with no group to take
	writing int                     // groups being written
}

// writerGroup is the edges that are written as one chunk.
type writerGroup struct {
	parts  []*writerPart
	rows   int
	opened time.Time
	taken  bool // by a stream: its parts are final
}

// writerPart is one piece of a caller's batch in a group.
type writerPart struct {
	edges     []graph.TelemetryEdge // the caller's, never written to
	bytes     int64
	g         *writerGroup
	withdrawn bool // by its caller, before the group was taken
	done      chan struct{}
	stats     TelemetryStats // set before done is closed
	err       error
}

// Default sizes of a TelemetryWriter.
const (
	defaultGroupRows       = 5_000
	defaultLinger          = 5 * time.Millisecond
	defaultPendingGroups   = 8 // groups of edges pending per stream
	defaultMaxPendingBytes = 64 << 20
	defaultWriteTimeout    = 2 * time.Minute
)

// NewTelemetryWriter starts a TelemetryWriter on the Store; Close stops it.
func (s *Store) NewTelemetryWriter(opts TelemetryWriterOptions) *TelemetryWriter {
	if opts.Streams <= 0 {
		opts.Streams = s.writers
	}
	opts.Streams = max(1, min(opts.Streams, int(s.pool.Config().MaxConns)/2))
	if opts.GroupRows <= 0 {
		opts.GroupRows = defaultGroupRows
	}
	opts.GroupRows = min(opts.GroupRows, s.copyChunk)
	if opts.Linger <= 0 {
		opts.Linger = defaultLinger
	}
	if opts.MaxPendingRows <= 0 {
		opts.MaxPendingRows = defaultPendingGroups * opts.Streams * opts.GroupRows
	}
	opts.MaxPendingRows = max(opts.MaxPendingRows, opts.GroupRows)
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = defaultMaxPendingBytes
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	ctx, stop := context.WithCancel(context.Background())
	w := &TelemetryWriter{s: s, opts: opts, ctx: ctx, stop: stop, freed: make(chan struct{})}
	w.work = sync.NewCond(&w.mu)
	w.wg.Add(opts.Streams)
	for range opts.Streams {
		go w.stream()
	}
	return w
}

// Options returns the writer's options, defaults filled in.
func (w *TelemetryWriter) Options() TelemetryWriterOptions { return w.opts }

// Append writes edges through the writer and returns once they are
// durable: the stats count what was stored and dropped of these edges
// (Edges, Dropped; an invalid edge is dropped as AppendTelemetry drops
// it), and the counts that belong to a whole group (Nodes,
// PartitionsCreated, OutOfWindow, InDefault) go to the caller whose edges
// the group wrote first, so the callers' stats add up to what was done.
//
// On an error none of the edges of the failed piece (a batch is written in
// pieces of at most GroupRows edges) is stored, but for one error:
// ErrOutcomeUnknown (errors.Is) says a COMMIT's answer was lost and the
// server could not then be asked whether it landed (a Close that gave up
// on a server silent for longer than the 5 s the writer asks, or the
// server gone through the retries), so those edges may be stored: do not
// simply append them again. The stats count the pieces stored. When ctx
// ends while Append waits for room, or before
// its edges were taken by a stream, they are withdrawn and not written,
// and Append returns ctx's error; when it ends while they are being
// written, Append waits for that write (one group's transactions, with
// their retries, bounded by WriteTimeout; a Close that gives up cancels it)
// and reports how it ended, so a nil error means stored even then. Append never returns while
// the writer still reads edges: the caller may reuse them once it returns.
func (w *TelemetryWriter) Append(ctx context.Context, edges []graph.TelemetryEdge) (TelemetryStats, error) {
	start := time.Now()
	stats := TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	var parts []*writerPart
	var err error
	for piece := range slices.Chunk(edges, w.opts.GroupRows) {
		p := &writerPart{edges: piece, bytes: edgesBytes(piece), done: make(chan struct{})}
		if err = w.admit(ctx, p); err != nil {
			break
		}
		parts = append(parts, p)
	}
	for _, p := range parts {
		done, perr := w.await(ctx, p)
		if done {
			addStats(&stats, p.stats)
		}
		if perr != nil && !errors.Is(err, perr) {
			err = errors.Join(err, perr)
		}
	}
	stats.Duration = time.Since(start)
	return stats, err
}

// addStats adds what a piece did to a caller's stats.
func addStats(to *TelemetryStats, from TelemetryStats) {
	to.Edges += from.Edges
	to.OutOfWindow += from.OutOfWindow
	to.InDefault += from.InDefault
	to.PartitionsCreated += from.PartitionsCreated
	to.Nodes.Add(from.Nodes)
	for r, n := range from.Dropped {
		to.Dropped[r] += n
	}
}

// admit waits for room for p and puts it in the open group.
func (w *TelemetryWriter) admit(ctx context.Context, p *writerPart) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("append telemetry: %w", context.Cause(ctx))
	}
	w.mu.Lock()
	for !w.closing && w.rows > 0 && (w.rows+len(p.edges) > w.opts.MaxPendingRows || w.bytes+p.bytes > w.opts.MaxPendingBytes) {
		freed := w.freed
		w.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return fmt.Errorf("wait for room in the telemetry writer (%d edges not written): %w", len(p.edges), context.Cause(ctx))
		}
		w.mu.Lock()
	}
	defer w.mu.Unlock()
	if w.closing {
		return ErrTelemetryWriterClosed
	}
	w.rows += len(p.edges)
	w.bytes += p.bytes
	g := w.open
	if g == nil {
		g = &writerGroup{opened: time.Now()}
		w.open = g
	}
	g.parts = append(g.parts, p)
	g.rows += len(p.edges)
	p.g = g
	if g.rows >= w.opts.GroupRows {
		w.sealed = append(w.sealed, g)
		w.open = nil
		w.work.Broadcast() // a stream lingering on the open group takes it
	} else if g.rows == len(p.edges) {
		// The group's first live part (its earlier ones, if any, were
		// withdrawn: a stream that found it empty went to sleep): a free
		// stream starts lingering on it.
		w.work.Signal()
	}
	return nil
}

// await waits for p's outcome. When ctx ends before a stream took p's
// group, p is withdrawn; once taken, p is being written and await waits
// for the write to end (Close bounds that wait), so the caller hears
// whether its edges are stored, and the writer reads none of them after
// Append returns. done reports whether p's stats are final.
func (w *TelemetryWriter) await(ctx context.Context, p *writerPart) (done bool, err error) {
	select {
	case <-p.done:
		return true, p.err
	case <-ctx.Done():
	}
	if w.withdraw(p) {
		return false, fmt.Errorf("append telemetry (%d edges withdrawn, not written): %w", len(p.edges), context.Cause(ctx))
	}
	<-p.done
	return true, p.err
}

// withdraw takes p out of its group unless a stream has taken the group,
// and reports whether it did.
func (w *TelemetryWriter) withdraw(p *writerPart) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if p.g.taken {
		return false
	}
	p.withdrawn = true
	p.g.rows -= len(p.edges)
	w.release(len(p.edges), p.bytes)
	return true
}

// release frees room; w.mu is held.
func (w *TelemetryWriter) release(rows int, bytes int64) {
	w.rows -= rows
	w.bytes -= bytes
	close(w.freed)
	w.freed = make(chan struct{})
}

// Close stops accepting edges, writes those accepted and waits for them.
// When ctx ends first it cancels the writes still running, whose callers
// get the error, and returns ctx's error, leaving the endpoints' first and
// last seen pending: a later Close writes them. Close may be called more
// than once, also side by side.
func (w *TelemetryWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	w.closing = true
	close(w.freed) // callers waiting for room see the close
	w.freed = make(chan struct{})
	w.work.Broadcast()
	w.mu.Unlock()
	done := make(chan struct{})
	go func() {
		w.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		w.stop()
		// The first/last seen the endpoint cache kept pending.
		if _, err := w.s.flushSeen(ctx); err != nil {
			return fmt.Errorf("close telemetry writer: %w", err)
		}
		return nil
	case <-ctx.Done():
		w.stop()
		<-done
		return fmt.Errorf("close telemetry writer: %w", context.Cause(ctx))
	}
}

// stream writes groups until the writer is closed and empty.
func (w *TelemetryWriter) stream() {
	defer w.wg.Done()
	for {
		g := w.next()
		if g == nil {
			return
		}
		w.write(g)
	}
}

// next takes the oldest full group, or the open one once it has lingered,
// waiting for one; nil when the writer is closed and empty.
func (w *TelemetryWriter) next() *writerGroup {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if len(w.sealed) > 0 {
			g := w.sealed[0]
			w.sealed = slices.Delete(w.sealed, 0, 1)
			g.taken = true
			w.writing++
			return g
		}
		if g := w.open; g != nil && g.rows > 0 {
			wait := w.opts.Linger - time.Since(g.opened)
			if wait <= 0 || w.closing {
				w.open = nil
				g.taken = true
				w.writing++
				return g
			}
			// Wait for the linger to pass, for a group to fill or for Close.
			t := time.AfterFunc(wait, func() {
				w.mu.Lock()
				w.work.Broadcast()
				w.mu.Unlock()
			})
			w.work.Wait()
			t.Stop()
			continue
		}
		if w.closing {
			return nil
		}
		w.idle++
		w.work.Wait()
		w.idle--
	}
}

// write writes a group as one chunk and tells each of its callers.
func (w *TelemetryWriter) write(g *writerGroup) {
	parts := slices.DeleteFunc(g.parts, func(p *writerPart) bool { return p.withdrawn })
	chunk, keys := w.buffer(g.rows)
	for i, p := range parts {
		p.stats = TelemetryStats{Dropped: map[graph.DropReason]int64{}}
		for _, e := range p.edges {
			if reason, detail := CheckEdge(&e); reason != "" {
				p.stats.Dropped[reason]++
				w.s.log.WarnContext(w.ctx, "dropping telemetry edge", "agent_id", clip(e.AgentID),
					"reason", string(reason), "err", detail)
				continue
			}
			chunk = append(chunk, e)
			keys = append(keys, keyOfEdge(&e, i))
		}
	}
	ctx, cancel := w.ctx, context.CancelFunc(func() {})
	if w.opts.WriteTimeout > 0 {
		ctx, cancel = context.WithTimeoutCause(w.ctx, w.opts.WriteTimeout,
			fmt.Errorf("%w: %s", ErrGroupWriteTimeout, w.opts.WriteTimeout))
	}
	kept, err := w.writeChunk(ctx, chunk, keys, parts)
	if err != nil && ctx.Err() != nil && w.ctx.Err() == nil && !errors.Is(err, ErrGroupWriteTimeout) {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err) // the bound, not a Close, ended it
	}
	cancel()
	w.mu.Lock()
	w.bufs = append(w.bufs, chunk[:0])
	var rows int
	var bytes int64
	for _, p := range parts {
		rows += len(p.edges)
		bytes += p.bytes
	}
	w.release(rows, bytes)
	w.writing--
	w.mu.Unlock()
	for i, p := range parts {
		if err != nil {
			p.err = err
		} else {
			p.stats.Edges = kept[i]
		}
		close(p.done)
	}
}

// writeChunk runs the per-chunk steps of AppendTelemetry on a group's
// valid edges (keys tells whose each is) and returns, per part, how many
// of its edges are stored; the drops are added to the parts' stats.
func (w *TelemetryWriter) writeChunk(ctx context.Context, chunk []graph.TelemetryEdge, keys []edgeKey, parts []*writerPart) ([]int64, error) {
	if len(parts) == 0 {
		return nil, nil
	}
	group := TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	chunk, err := w.s.ensureChunkDays(ctx, chunk, &group)
	var rejected []refusedRow
	var copyErr error
	if err == nil && len(chunk) > 0 {
		chunk, err, copyErr = w.copyWithRecords(ctx, chunk, &group, &rejected)
	}
	keys = attributeDrops(keys, chunk, group.Dropped, parts)
	first := &parts[0].stats
	first.Nodes, first.OutOfWindow, first.InDefault, first.PartitionsCreated = group.Nodes, group.OutOfWindow, group.InDefault, group.PartitionsCreated
	if err != nil {
		return nil, fmt.Errorf("append telemetry: %w", err)
	}
	if copyErr != nil {
		return nil, fmt.Errorf("copy %d telemetry edges: %w", len(chunk), copyErr)
	}
	kept := make([]int64, len(parts))
	for _, k := range keys {
		kept[k.part]++
	}
	for _, r := range rejected {
		kept[keys[r.at].part]--
		parts[keys[r.at].part].stats.Dropped[r.reason]++
	}
	return kept, nil
}

// copyWithRecords COPYs a group's chunk of valid edges while its records
// are written (writeChunkRecords, on a goroutine of its own: the streams
// write their groups' new records side by side, each those no other
// stream is writing, so none waits on another's uncommitted rows), and
// commits the COPY once they have (commitGroup). It returns the chunk
// without the edges whose records the database refused, the records'
// failure (err) or the COPY's (copyErr), adds the records' stats to
// stats, and appends to rejected the index in the returned chunk of each
// row the server refused.
func (w *TelemetryWriter) copyWithRecords(ctx context.Context, chunk []graph.TelemetryEdge, stats *TelemetryStats, rejected *[]refusedRow) (kept []graph.TelemetryEdge, err, copyErr error) {
	records := TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	job := copyJob{edges: chunk, rec: &chunkRecords{done: make(chan struct{})}}
	go func() {
		job.rec.edges, job.rec.err = w.s.writeChunkRecords(ctx, chunk, &records)
		close(job.rec.done)
	}()
	_, release := w.s.copyAheadSlot(ctx, job)
	group, committed, _, copyErr := w.s.commitGroup(ctx, TelemetryInput{}, []copyJob{job}, nil, map[graph.DropReason]int64{}, rejected)
	release()
	if committed == len(group) {
		// Stored, even when a Close that gave up cancelled the COMMIT on
		// its way (commitGroup found the transaction committed): the
		// callers must hear that their edges are durable, or a caller
		// that retries would write them twice.
		copyErr = nil
	}
	<-job.rec.done
	stats.Nodes.Add(records.Nodes)
	addDrops(stats.Dropped, records.Dropped)
	if job.rec.err != nil {
		return job.rec.edges, job.rec.err, nil
	}
	return group[0].edges, nil, copyErr
}

// state describes the writer for a report of a caller that waited too
// long: the edges pending, the open group, the full groups waiting, the
// groups being written and the streams with nothing to take.
func (w *TelemetryWriter) state() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	open := "none"
	if g := w.open; g != nil {
		withdrawn := 0
		for _, p := range g.parts {
			if p.withdrawn {
				withdrawn++
			}
		}
		open = fmt.Sprintf("%d edges in %d parts (%d withdrawn), opened %s ago", g.rows, len(g.parts), withdrawn, time.Since(g.opened).Round(time.Millisecond))
	}
	return fmt.Sprintf("%d edges (%d bytes) pending; open group: %s; %d full groups waiting; %d groups being written; %d of %d streams idle; closing %v",
		w.rows, w.bytes, open, len(w.sealed), w.writing, w.idle, w.opts.Streams, w.closing)
}

// edgeKey identifies an edge of a group and the part it came from.
type edgeKey struct {
	src, dst uuid.UUID
	relation string
	agent    string
	at       time.Time
	part     int
}

func keyOfEdge(e *graph.TelemetryEdge, part int) edgeKey {
	return edgeKey{src: e.Src.ID, dst: e.Dst.ID, relation: e.Relation, agent: e.AgentID, at: e.ObservedAt, part: part}
}

func (k *edgeKey) is(e *graph.TelemetryEdge) bool {
	return k.src == e.Src.ID && k.dst == e.Dst.ID && k.relation == e.Relation && k.agent == e.AgentID && k.at.Equal(e.ObservedAt)
}

// attributeDrops finds which edges of a group its day partitions and
// records dropped (ensureChunkDays, copyWithRecords): kept
// is what it returned, the edges of keys in order minus the dropped ones.
// It adds each dropped edge to its part's stats, under a reason from
// dropped (the group's drop counts by reason: which reason is exact when
// one reason dropped edges in the group, which is the rule), and returns
// the keys of kept.
func attributeDrops(keys []edgeKey, kept []graph.TelemetryEdge, dropped map[graph.DropReason]int64, parts []*writerPart) []edgeKey {
	if len(keys) == len(kept) {
		return keys
	}
	reasons := make([]graph.DropReason, 0, len(dropped))
	for r, n := range dropped {
		if n > 0 {
			reasons = append(reasons, r)
		}
	}
	slices.Sort(reasons)
	left := maps.Clone(dropped)
	out := keys[:0]
	j := 0
	for _, k := range keys {
		if j < len(kept) && k.is(&kept[j]) {
			out = append(out, k)
			j++
			continue
		}
		reason := ReasonRejected
		for len(reasons) > 0 && left[reasons[0]] == 0 {
			reasons = reasons[1:]
		}
		if len(reasons) > 0 {
			reason = reasons[0]
			left[reason]--
		}
		parts[k.part].stats.Dropped[reason]++
	}
	return out
}

// buffer returns an empty chunk buffer for about rows edges, and the keys
// buffer for it.
func (w *TelemetryWriter) buffer(rows int) ([]graph.TelemetryEdge, []edgeKey) {
	keys := make([]edgeKey, 0, rows)
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.bufs); n > 0 {
		b := w.bufs[n-1]
		w.bufs = w.bufs[:n-1]
		return b, keys
	}
	return make([]graph.TelemetryEdge, 0, rows), keys
}

// edgesBytes estimates the memory of edges: a fixed cost per edge, its
// texts, its props and its implied records.
func edgesBytes(edges []graph.TelemetryEdge) int64 {
	const perEdge, perProp, perRecord = 512, 64, 256
	var n int64
	for i := range edges {
		e := &edges[i]
		n += perEdge + int64(len(e.Relation)+len(e.AgentID)+len(e.Src.Key)+len(e.Dst.Key)) +
			perProp*int64(len(e.Props)) + perRecord*int64(len(e.Implied.Nodes)+len(e.Implied.Relations))
	}
	return n
}

package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// TelemetryStats counts what AppendTelemetry did.
type TelemetryStats struct {
	// Edges is the number of edges written.
	Edges int64 `json:"edges"`
	// OutOfWindow counts edges written outside the telemetry window, for
	// whose days this load made no partition: they land in their day's
	// partition where one exists (partition upkeep makes the coming days'),
	// else in the default partition, which `intel partitions check`
	// reports.
	OutOfWindow int64 `json:"out_of_window"`
	// Dropped counts invalid edges by reason; each is logged at WARN.
	Dropped map[graph.DropReason]int64 `json:"dropped,omitempty"`
	// Resumed counts the edges at the start of the input that an earlier
	// load of the same input had stored (its checkpoint), skipped.
	Resumed int64 `json:"resumed,omitempty"`
	// InDefault counts edges of days in the window that have no partition
	// and got none (the role may not make partitions, or the day is past
	// retention and kept): they land in the default partition.
	InDefault int64 `json:"in_default"`
	// PartitionsCreated counts the day partitions made on demand.
	PartitionsCreated int `json:"partitions_created"`
	// Nodes is what writing the endpoint nodes and the records they imply
	// (TelemetryEdge.Implied) did.
	Nodes    graph.WriteStats `json:"nodes"`
	Duration time.Duration    `json:"duration_ns"`
}

// EdgesPerSecond is the write rate.
func (t TelemetryStats) EdgesPerSecond() float64 {
	if t.Duration <= 0 {
		return 0
	}
	return float64(t.Edges) / t.Duration.Seconds()
}

// SliceEdges adapts a slice to the sequence AppendTelemetry reads.
func SliceEdges(edges []graph.TelemetryEdge) iter.Seq2[graph.TelemetryEdge, error] {
	return func(yield func(graph.TelemetryEdge, error) bool) {
		for _, e := range edges {
			if !yield(e, nil) {
				return
			}
		}
	}
}

// TelemetryInput names a telemetry input whose progress is recorded in
// telemetry_checkpoints with every chunk (see AppendTelemetryInput).
type TelemetryInput struct {
	// Name is the input's identity: "file:<absolute path>" (symbolic links
	// resolved) for a file, whether given alone or in a feed list, so one
	// file is one input however it is loaded.
	Name string
	// ContentHash is the SHA-256 (hex) of the input's content; an input
	// whose content changed is a new input.
	ContentHash string
	// Restart starts the input's checkpoint over, so the whole input is
	// written again (intel ingest feeds --force); a rerun without Restart
	// after this load was cut short resumes it.
	Restart bool
	// Formerly is a name the input's checkpoint may have been recorded
	// under by an older intel ("feed:<name>" for a feed list's file): when
	// the input has no checkpoint of its content under Name, that one is
	// taken over, so a load cut short before an upgrade resumes.
	Formerly string
	// Planned says the fields below were worked out against the input's
	// last checkpoint (TelemetryCheckpointLatest; telemetry.PlanFile does
	// it for a file): the checkpoint of this content is recorded with
	// them, replacing one the content may have had. Without it the
	// content's own checkpoint is resumed (or made, from the start).
	Planned bool
	// BaseOffset is the byte offset in the content where the edges given
	// to the writer start: the lines before it are stored already (the
	// same lines, loaded from an earlier content of the input).
	BaseOffset int64
	// Bytes is the length of the content ContentHash covers, and
	// LineHashes the FNV-64a of each of its lines (8 bytes each,
	// big-endian, newline included), so a later content of the input can
	// be compared with it line by line.
	Bytes      int64
	LineHashes []byte
	// Skip is how many edges from BaseOffset are stored already (a load
	// of an earlier content, cut short, whose lines this content extends);
	// Done says nothing of this content is left to load (it is a prefix of
	// what was loaded).
	Skip int64
	Done bool
}

// TelemetryCheckpoint is an input's checkpoint as recorded: see
// TelemetryInput for the fields.
type TelemetryCheckpoint struct {
	ContentHash string
	BaseOffset  int64
	// Bytes is -1 and LineHashes nil for a checkpoint recorded before
	// they were (an older intel): its content cannot be compared.
	Bytes       int64
	LineHashes  []byte
	Edges       int64
	RowsWritten int64
	Complete    bool
}

// TelemetryCheckpointLatest returns the checkpoint of input touched last,
// the one of the content whose rows the input has stored; false when the
// input has none.
func (s *Store) TelemetryCheckpointLatest(ctx context.Context, input string) (TelemetryCheckpoint, bool, error) {
	var r gen.TelemetryCheckpointLatestRow
	err := s.retry(ctx, "read telemetry checkpoint", func(ctx context.Context) error {
		var err error
		r, err = s.q.TelemetryCheckpointLatest(ctx, input)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return TelemetryCheckpoint{}, false, nil
	}
	if err != nil {
		return TelemetryCheckpoint{}, false, Interpret("read telemetry checkpoint of "+input, err)
	}
	cp := TelemetryCheckpoint{ContentHash: r.ContentHash, BaseOffset: r.BaseOffset, Bytes: -1, LineHashes: r.LineHashes,
		Edges: r.Edges, RowsWritten: r.RowsWritten, Complete: r.Complete}
	if r.Bytes != nil {
		cp.Bytes = *r.Bytes
	}
	return cp, true, nil
}

// CheckpointedWriter is a telemetry writer (AppendTelemetry) that records
// its input's progress: see Store.Checkpointed.
type CheckpointedWriter struct {
	s  *Store
	in TelemetryInput
}

// Checkpointed returns a writer whose AppendTelemetry is
// AppendTelemetryInput for in.
func (s *Store) Checkpointed(in TelemetryInput) *CheckpointedWriter {
	return &CheckpointedWriter{s: s, in: in}
}

// AppendTelemetry is AppendTelemetryInput for the writer's input.
func (w *CheckpointedWriter) AppendTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (TelemetryStats, error) {
	return w.s.AppendTelemetryInput(ctx, w.in, edges)
}

// AppendCheckedTelemetry is AppendTelemetry for edges that CheckEdge has
// passed and that have not changed since (the ingest engine checks every
// edge as it maps it): they are not checked again. An edge that would
// still fail the check is not stored half: the database refuses it and
// the safety net drops it alone, counted under ReasonRejected.
func (w *CheckpointedWriter) AppendCheckedTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (TelemetryStats, error) {
	return w.s.appendTelemetryInput(ctx, w.in, edges, true)
}

// AppendCheckedTelemetry is CheckpointedWriter.AppendCheckedTelemetry
// without an input.
func (s *Store) AppendCheckedTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (TelemetryStats, error) {
	return s.appendTelemetryInput(ctx, TelemetryInput{}, edges, true)
}

// AppendTelemetry is AppendTelemetryInput without an input: nothing
// records its progress, so a load cut short and run again writes the edges
// committed before the cut again.
func (s *Store) AppendTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (TelemetryStats, error) {
	return s.AppendTelemetryInput(ctx, TelemetryInput{}, edges)
}

// AppendTelemetryInput streams telemetry edges into telemetry_edges. It
// reads the sequence in chunks of the copy-chunk size, so memory stays
// bounded however long the stream. For each chunk, in this order, it
//
//   - makes the day partitions the chunk needs inside the telemetry window
//     (through the Store's DayEnsurer, so rows never wait in the default
//     partition);
//   - writes the chunk's graph records (writeChunkBatch: one transaction,
//     or many new nodes side by side before their relations): its
//     endpoint nodes and the nodes and relations they imply
//     (TelemetryEdge.Implied: a file's hash nodes and has-hash relations),
//     each once per chunk and only if this Store has not written it already
//     or not with times that span the chunk's (see endpointCache: a node
//     carries the earliest first seen and latest last seen of its
//     occurrences, and the times it is not written again for are written
//     once the chunks are: flushSeen). A relation's endpoints are thus committed with
//     it or before it, so none is left pending, and the write releases the
//     pending relations of other writers that its nodes complete;
//   - once that transaction has committed, COPYs the edges in binary
//     format (see copyEdges) in a transaction that also advances the
//     input's checkpoint, when in names one.
//
// The three steps overlap: a chunk is COPYed on a connection of its own
// while the records of the next one are written (see chunkPreparer) and
// the one after it is read, so at most four chunks are in memory. The
// first chunk is small and each next one twice the size, up to the
// copy-chunk size (firstChunkEdges), so the COPYs start early. The steps
// of one chunk still run in that order, so every stored edge's endpoints
// and implied records exist, also while the append runs and after it
// fails.
//
// An edge PostgreSQL would reject (CheckEdge: a missing field, a NUL or
// invalid UTF-8 in a text, props jsonb refuses, an endpoint or implied
// record that is invalid) is logged at WARN, counted in Dropped by its
// graph.DropReason and skipped; the rest of its chunk is written. As a
// safety net, a record or an edge the database still refuses with a data
// error is found by splitting its write (see writeIsolating) and dropped
// alone, counted under ReasonRejected, and an edge whose endpoint or
// implied record was dropped is dropped with it: an edge is never stored
// without its endpoints.
//
// Exactly once: with in.Name set, the transaction that COPYs a chunk also
// moves the input's checkpoint (telemetry_checkpoints) past the chunk's
// edges, so after a crash, a SIGKILL or a server restart, calling again
// with the same input and the same sequence skips the edges the checkpoint
// says are stored (counted in Resumed) and writes the rest: the rows are
// those of one clean load. An input loaded to its end writes nothing more.
// Transient failures (see Transient) of every transaction are retried as
// the Store's RetryPolicy allows.
//
// An error from the sequence stops the append after the edges before it
// are written. An error writing a chunk's records stops it before that
// chunk's edges (the chunks before it are still COPYed), and the records
// not written are written again by the next call; an error COPYing a chunk
// stops it with that chunk's edges and those after it not written.
func (s *Store) AppendTelemetryInput(ctx context.Context, in TelemetryInput, edges iter.Seq2[graph.TelemetryEdge, error]) (TelemetryStats, error) {
	return s.appendTelemetryInput(ctx, in, edges, false)
}

// appendTelemetryInput is AppendTelemetryInput; with checked set it leaves
// out CheckEdge (see AppendCheckedTelemetry).
func (s *Store) appendTelemetryInput(ctx context.Context, in TelemetryInput, edges iter.Seq2[graph.TelemetryEdge, error], checked bool) (TelemetryStats, error) {
	start := time.Now()
	stats := TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	var skip int64
	if in.Name != "" {
		if in.ContentHash == "" {
			return stats, errors.New("telemetry checkpoint: input " + in.Name + " has no content hash")
		}
		var cp gen.TelemetryCheckpointStartRow
		err := s.retry(ctx, "start telemetry checkpoint", func(ctx context.Context) error {
			var err error
			if in.Formerly != "" && !in.Restart {
				err = s.q.TelemetryCheckpointAdopt(ctx, gen.TelemetryCheckpointAdoptParams{
					Input: in.Name, OldInput: in.Formerly, ContentHash: in.ContentHash})
				if Code(err) == pgerrcode.UniqueViolation {
					err = nil // another load took it over meanwhile
				}
				if err != nil {
					return err
				}
			}
			if in.Planned {
				p := gen.TelemetryCheckpointBeginParams{Input: in.Name, ContentHash: in.ContentHash,
					BaseOffset: in.BaseOffset, Bytes: &in.Bytes, LineHashes: in.LineHashes, Edges: in.Skip, Complete: in.Done}
				if in.Restart {
					p.BaseOffset, p.Edges, p.Complete = 0, 0, false
				}
				var r gen.TelemetryCheckpointBeginRow
				r, err = s.q.TelemetryCheckpointBegin(ctx, p)
				cp = gen.TelemetryCheckpointStartRow(r)
				return err
			}
			if in.Restart {
				var r gen.TelemetryCheckpointRestartRow
				r, err = s.q.TelemetryCheckpointRestart(ctx, gen.TelemetryCheckpointRestartParams{Input: in.Name, ContentHash: in.ContentHash})
				cp = gen.TelemetryCheckpointStartRow(r)
				return err
			}
			p := gen.TelemetryCheckpointStartParams{Input: in.Name, ContentHash: in.ContentHash}
			if in.LineHashes != nil {
				p.Bytes, p.LineHashes = &in.Bytes, in.LineHashes
			}
			cp, err = s.q.TelemetryCheckpointStart(ctx, p)
			return err
		})
		if err != nil {
			return stats, Interpret("start telemetry checkpoint of "+in.Name, err)
		}
		skip = cp.Edges
		if skip > 0 {
			s.log.InfoContext(ctx, "resuming telemetry input after its checkpoint", "input", in.Name,
				"edges_done", cp.Edges, "rows_written", cp.RowsWritten, "complete", cp.Complete)
		}
	}
	// A records or COPY error cancels wctx, which stops the reading and
	// the records; the COPYs themselves run on ctx, so a records error
	// lets the chunks before it whose records committed be COPYed (those
	// in one transaction with the failed chunk are rolled back with it;
	// the checkpoint stays before them).
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cp := s.startCopier(ctx, cancel, in)
	pr := s.startPreparer(wctx, cancel, cp)
	chunk := cp.buffer()
	size := min(firstChunkEdges, s.copyChunk)
	var index, from int64 = 0, skip
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		full := len(chunk) >= size
		if err := pr.send(wctx, copyJob{edges: chunk, from: from, to: index}); err != nil {
			return err
		}
		from = index
		size = min(2*size, s.copyChunk)
		chunk = cp.buffer()
		if full { // the next chunk will likely be full too: grow it once, not by doubling
			chunk = slices.Grow(chunk, size)
		}
		return nil
	}
	var srcErr, err error
	for e, eerr := range edges {
		if errors.Is(eerr, ErrFlush) {
			if err = flush(); err != nil {
				break
			}
			continue
		}
		if eerr != nil {
			srcErr = eerr
			break
		}
		index++
		if index <= skip {
			stats.Resumed++
			continue
		}
		if reason, detail := checkEdge(&e, checked); reason != "" {
			stats.Dropped[reason]++
			s.log.WarnContext(ctx, "dropping telemetry edge", "index", index, "agent_id", clip(e.AgentID),
				"reason", string(reason), "err", detail)
			continue
		}
		chunk = append(chunk, e)
		if len(chunk) >= size {
			if err = flush(); err != nil {
				break
			}
		} else if len(chunk)%1024 == 0 && wctx.Err() != nil { // a later stage failed
			err = context.Cause(wctx)
			break
		}
	}
	if err == nil {
		err = flush()
	}
	close(pr.queue)
	<-pr.done // it closes cp.queue
	<-cp.done
	stats.Edges = cp.edges
	addDrops(stats.Dropped, pr.stats.Dropped)
	addDrops(stats.Dropped, pr.rstats.Dropped)
	addDrops(stats.Dropped, cp.dropped)
	stats.OutOfWindow, stats.InDefault = pr.stats.OutOfWindow, pr.stats.InDefault
	stats.PartitionsCreated, stats.Nodes = pr.stats.PartitionsCreated, pr.rstats.Nodes
	if errors.Is(cp.err, errRecordsFailed) { // pr.err says why
		cp.err = nil
	}
	// The first failure cancels the rest, whose errors then only say so:
	// report the records' or the COPY's, and both when the rest failed
	// on its own.
	err = withCause(withCause(err, pr.err), cp.err)
	// The first/last seen the endpoint cache kept pending (see
	// endpointCache): written also when the load failed, so what it
	// stored has its exact times, unless ctx has ended. Before the
	// checkpoint completes, so a complete input has them.
	if ctx.Err() == nil {
		ws, ferr := s.flushSeen(ctx)
		stats.Nodes.Add(ws)
		if err == nil {
			err = ferr
		}
	}
	if err == nil && srcErr == nil && ctx.Err() == nil {
		stats.PartitionsCreated += s.recheckDays(ctx)
	}
	if err == nil && srcErr == nil && in.Name != "" {
		err = s.retry(ctx, "complete telemetry checkpoint", func(ctx context.Context) error {
			return s.q.TelemetryCheckpointComplete(ctx, gen.TelemetryCheckpointCompleteParams{
				Input: in.Name, ContentHash: in.ContentHash, Edges: index})
		})
		err = Interpret("complete telemetry checkpoint of "+in.Name, err)
	}
	stats.Duration = time.Since(start)
	if err != nil {
		return stats, err
	}
	if srcErr != nil {
		return stats, fmt.Errorf("read telemetry edge %d: %w", index+1, srcErr)
	}
	return stats, nil
}

// checkEdge is CheckEdge, or nothing for an edge already checked.
func checkEdge(e *graph.TelemetryEdge, checked bool) (graph.DropReason, error) {
	if checked {
		return "", nil
	}
	return CheckEdge(e)
}

// copyJob is one chunk for the copier: its edges, the positions in the
// input (edges of the sequence, dropped ones included) before its first
// and after its last edge, for the checkpoint, and the write of its
// records (nil when they are committed already).
type copyJob struct {
	edges    []graph.TelemetryEdge
	from, to int64
	rec      *chunkRecords
}

// chunkRecords is the write of one chunk's endpoint nodes and implied
// records (writeChunkRecords): done is closed when it has ended; then err
// is its failure, or edges the chunk without the edges whose records the
// database refused (the chunk itself when it refused none).
type chunkRecords struct {
	done  chan struct{}
	edges []graph.TelemetryEdge
	err   error
}

// firstChunkEdges is the size of AppendTelemetry's first chunk; each
// next chunk is twice the size of the one before, up to the copy-chunk
// size. The first COPY thus starts after a few thousand edges rather than
// a full chunk.
const firstChunkEdges = 4096

// chunkPreparer readies AppendTelemetry's chunks for the copier, in input
// order, on goroutines of their own. The first makes each chunk's day
// partitions (ensureChunkDays) and hands the chunk on at once, both to the
// copier and to the record writers, which write the chunks' endpoint
// nodes and implied records, each chunk in one transaction, up to
// recordWriters chunks at once (writeChunkRecords). So a
// chunk's rows are COPYed while its records are written — the first
// chunks of a stream, whose endpoints are nearly all new, cost more in
// records than in COPY — and the copier commits a chunk only once its
// records have committed (commitGroup): no edge is ever visible before
// the nodes and records it names. At most recordsAhead chunks wait for
// their records beyond the one being written.
type chunkPreparer struct {
	queue   chan copyJob
	records chan copyJob
	done    chan struct{}
	stats   TelemetryStats // of the day partitions; read after done
	rstats  TelemetryStats // of the records; read after done
	mu      sync.Mutex
	err     error // the first failure; read after done
}

// recordsAhead is how many chunks may wait for the writing of their
// records.
const recordsAhead = 4

// recordWriters is how many chunks' records are written at once: one per
// writer of the Store, at most recordsAhead. The first chunks of a stream
// bring nearly all of its new endpoint nodes, and their records, written
// one chunk after the other, kept one backend busy while the COPY waited
// for them; written side by side they use the cores the COPY is not
// using. Each chunk's records are still one transaction of one writer,
// and chunks that name the same record wait for each other's claim
// (endpointCache.claim), so no relation is written before its endpoints
// have committed.
func recordWriters(writers int) int { return max(1, min(writers, recordsAhead)) }

func (s *Store) startPreparer(ctx context.Context, cancel context.CancelCauseFunc, cp *edgeCopier) *chunkPreparer {
	p := &chunkPreparer{queue: make(chan copyJob), records: make(chan copyJob, recordsAhead), done: make(chan struct{}),
		stats:  TelemetryStats{Dropped: map[graph.DropReason]int64{}},
		rstats: TelemetryStats{Dropped: map[graph.DropReason]int64{}}}
	recordsDone := make(chan struct{})
	var writers sync.WaitGroup
	for range recordWriters(s.writers) { // the records, a chunk per writer at a time
		writers.Go(func() {
			stats := TelemetryStats{Dropped: map[graph.DropReason]int64{}}
			for job := range p.records {
				rec := job.rec
				if err := p.failure(); err != nil { // after a failure, no more writes
					rec.err = err
				} else if rec.edges, rec.err = s.writeChunkRecords(ctx, job.edges, &stats); rec.err != nil {
					p.fail(rec.err, cancel)
				}
				close(rec.done)
			}
			p.mu.Lock()
			p.rstats.Nodes.Add(stats.Nodes)
			addDrops(p.rstats.Dropped, stats.Dropped)
			p.mu.Unlock()
		})
	}
	go func() {
		writers.Wait()
		close(recordsDone)
	}()
	go func() { // the day partitions, then on to the records and the copier
		defer close(p.done)
		defer func() { <-recordsDone }()
		defer close(cp.queue)
		defer close(p.records)
		from := int64(-1) // of the chunks dropped whole, if any
		for job := range p.queue {
			if p.failure() != nil { // after a failure, drain what was sent
				continue
			}
			if from >= 0 {
				job.from = from
			}
			edges, err := s.ensureChunkDays(ctx, job.edges, &p.stats)
			if err == nil && len(edges) == 0 { // every edge dropped: its positions go with the next chunk
				from = job.from
				cp.recycle(edges)
				continue
			}
			if err == nil {
				job.edges, from = edges, -1
				job.rec = &chunkRecords{done: make(chan struct{})}
				if err = sendJob(ctx, p.records, job); err == nil {
					err = cp.send(ctx, job)
				}
			}
			if err != nil {
				p.fail(err, cancel)
			}
		}
	}()
	return p
}

// fail records the preparer's first failure and stops the append.
func (p *chunkPreparer) fail(err error, cancel context.CancelCauseFunc) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	cancel(err)
}

func (p *chunkPreparer) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// send hands a chunk of valid edges to the preparer, or returns the cause
// of the append's stop.
func (p *chunkPreparer) send(ctx context.Context, job copyJob) error {
	return sendJob(ctx, p.queue, job)
}

// sendJob puts job on queue, or returns the cause of ctx's end.
func sendJob(ctx context.Context, queue chan<- copyJob, job copyJob) error {
	select {
	case queue <- job:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// withCause is the error of an append stage (rest) given cause, the
// failure of a later stage that cancelled it: cause alone when rest is
// nil or only says it was cancelled, both when rest failed on its own.
func withCause(rest, cause error) error {
	switch {
	case cause == nil:
		return rest
	case rest == nil || errors.Is(rest, context.Canceled) || errors.Is(rest, cause):
		return cause
	}
	return errors.Join(rest, cause)
}

// addDrops adds the counts of from to into.
func addDrops(into, from map[graph.DropReason]int64) {
	for reason, n := range from {
		into[reason] += n
	}
}

// edgeCopier COPYs AppendTelemetry's chunks on a goroutine of its own, in
// input order, so the input's checkpoint only moves forward. While the
// records of the chunks in its transaction are still being written, it
// COPYs the next chunks into the same transaction, up to ahead edges (see
// commitGroup). Chunk buffers are reused through free.
type edgeCopier struct {
	queue   chan copyJob
	free    chan []graph.TelemetryEdge
	done    chan struct{}
	size    int
	ahead   int                        // edges one transaction may gather while it waits for records
	open    bool                       // the queue is not closed
	edges   int64                      // read after done
	dropped map[graph.DropReason]int64 // read after done
	err     error                      // read after done
}

// copyAheadChunks is how many full chunks one COPY transaction may gather
// while the records of its chunks are being written.
const copyAheadChunks = 4

func (s *Store) startCopier(ctx context.Context, cancel context.CancelCauseFunc, in TelemetryInput) *edgeCopier {
	c := &edgeCopier{queue: make(chan copyJob, 1), free: make(chan []graph.TelemetryEdge, copyAheadChunks+3),
		done: make(chan struct{}), size: s.copyChunk, ahead: copyAheadChunks * s.copyChunk, open: true,
		dropped: map[graph.DropReason]int64{}}
	go func() {
		defer close(c.done)
		for c.open {
			job, ok := <-c.queue
			if !ok {
				break
			}
			group := []copyJob{job}
			if c.err == nil { // after an error, drain what was queued
				var n int64
				var kept int
				var err error
				var extend func([]copyJob) (copyJob, bool)
				ahead, release := s.copyAheadSlot(ctx, job)
				if ahead {
					extend = c.extend(ctx)
				}
				group, kept, n, err = s.commitGroup(ctx, in, group, extend, c.dropped, nil)
				release()
				c.edges += n
				if err != nil {
					c.err = fmt.Errorf("copy %d telemetry edges: %w", len(group[min(kept, len(group)-1)].edges), err)
					if !errors.Is(err, errRecordsFailed) { // the preparer stopped the append already
						cancel(c.err)
					}
				}
			}
			for _, j := range group {
				c.recycle(j.edges)
			}
		}
	}()
	return c
}

// copyAheadSlot lets the COPY of job start before its records are
// written when the Store has a copy-ahead slot free: it says so, and
// returns the release of the slot. Without one, it waits for job's
// records first (a transaction that waits for records holds a
// connection, and the records need one too: were every connection of the
// pool held by such a wait, none would end).
func (s *Store) copyAheadSlot(ctx context.Context, job copyJob) (bool, func()) {
	if job.rec == nil {
		return false, func() {}
	}
	select {
	case s.copyAhead <- struct{}{}:
		return true, func() { <-s.copyAhead }
	default:
	}
	select {
	case <-job.rec.done:
	case <-ctx.Done():
	}
	return false, func() {}
}

// extend is commitGroup's extend for the copier: while a chunk of group
// waits for its records, the next chunk queued, if the group holds fewer
// than ahead edges.
func (c *edgeCopier) extend(ctx context.Context) func(group []copyJob) (copyJob, bool) {
	return func(group []copyJob) (copyJob, bool) {
		if !c.open || groupEdges(group) >= c.ahead {
			return copyJob{}, false
		}
		for _, j := range group {
			if j.rec == nil {
				continue
			}
			select {
			case <-j.rec.done:
			case next, ok := <-c.queue:
				if !ok {
					c.open = false
					return copyJob{}, false
				}
				return next, true
			case <-ctx.Done():
				return copyJob{}, false
			}
		}
		return copyJob{}, false
	}
}

// groupEdges is how many edges the chunks of group hold.
func groupEdges(group []copyJob) int {
	n := 0
	for _, j := range group {
		n += len(j.edges)
	}
	return n
}

// recycle returns a chunk buffer for reuse; one more than the free list
// holds is left to the garbage collector.
func (c *edgeCopier) recycle(b []graph.TelemetryEdge) {
	select {
	case c.free <- b[:0]:
	default:
	}
}

// buffer returns an empty chunk buffer. A new one starts small and grows
// as edges arrive (up to the chunk size, then reused), so a call with a
// hundred edges does not allocate a chunk for the copy-chunk size.
func (c *edgeCopier) buffer() []graph.TelemetryEdge {
	select {
	case b := <-c.free:
		return b
	default:
		return make([]graph.TelemetryEdge, 0, min(c.size, initialChunkCap))
	}
}

// initialChunkCap is the capacity a new chunk buffer starts with.
const initialChunkCap = 1024

// send queues a chunk, or returns the cause of the append's stop.
func (c *edgeCopier) send(ctx context.Context, job copyJob) error {
	return sendJob(ctx, c.queue, job)
}

// errCheckpointMoved rolls back a chunk's transaction whose checkpoint
// update found the checkpoint elsewhere.
var errCheckpointMoved = errors.New("telemetry checkpoint moved")

// errRecordsFailed rolls back a COPY transaction one of whose chunks'
// records failed (the preparer reports that failure).
var errRecordsFailed = errors.New("telemetry records failed")

// errRecordsDropped rolls back a COPY transaction one of whose chunks had
// edges whose records the database refused: it is COPYed again without
// them.
var errRecordsDropped = errors.New("telemetry records refused")

// commitChunk is commitGroup of one chunk whose records are committed.
func (s *Store) commitChunk(ctx context.Context, in TelemetryInput, job copyJob, dropped map[graph.DropReason]int64, rejected *[]refusedRow) (int64, error) {
	_, _, n, err := s.commitGroup(ctx, in, []copyJob{job}, nil, dropped, rejected)
	return n, err
}

// commitGroup COPYs the chunks of group, consecutive chunks of one input,
// in one transaction that, for a named input, also moves its checkpoint
// over them; it is retried after transient failures. While the records of
// the chunks COPYed are still being written, extend (when not nil) may
// add the next chunk to the group. The transaction commits once the
// records of every chunk in it have committed. When a chunk fails — its
// COPY, or its records (errRecordsFailed) — the chunks before it are
// committed without it (a savepoint before each chunk) and the failure is
// returned; when the database refused the records of some of a chunk's
// edges, the chunks before it are committed and the rest COPYed again
// without those edges. When the checkpoint is already past the chunks (an
// earlier try committed, but its answer was lost with the connection),
// they are not written again. Without a named input the transaction's id
// tells the same (see committedBefore), so a retry never doubles the rows
// either. It returns the group as it grew, how many of its chunks it
// committed, the rows stored, and appends to rejected (when not nil) the
// index in the group's edges of each row the server refused.
func (s *Store) commitGroup(ctx context.Context, in TelemetryInput, group []copyJob, extend func([]copyJob) (copyJob, bool), dropped map[graph.DropReason]int64, rejected *[]refusedRow) ([]copyJob, int, int64, error) {
	var total int64
	done, base := 0, 0 // chunks committed, and their edges
	for {
		part := group[done:]
		kept, n, err := s.commitPart(ctx, in, &part, extend, base, dropped, rejected)
		group = append(group[:done], part...)
		total += n
		for _, j := range group[done : done+kept] {
			base += len(j.edges)
		}
		done += kept
		if !errors.Is(err, errRecordsDropped) {
			return group, done, total, err
		}
		// The chunk whose records were refused, and those after it whose
		// records are written: COPY what they kept (the others are
		// waited for as before).
		for i := done; i < len(group); i++ {
			if r := group[i].rec; r != nil && recordsWritten(r) {
				group[i].edges, group[i].rec = r.edges, nil
			}
		}
		extend = nil
	}
}

// commitPart is one transaction of commitGroup over *part: it returns how
// many of its chunks it committed, their rows, and why it stopped before
// the others.
func (s *Store) commitPart(ctx context.Context, in TelemetryInput, part *[]copyJob, extend func([]copyJob) (copyJob, bool), base int, dropped map[graph.DropReason]int64, rejected *[]refusedRow) (int, int64, error) {
	var (
		kept    int
		n       int64
		drops   map[graph.DropReason]int64
		rej     []refusedRow
		failure error
		xid     int64 // of the last try, without a named input
		// committed: the last try's transaction committed. Only then do
		// kept and n stand for rows stored; a try that failed after
		// counting them (a later chunk's COPY failed, then the wait for
		// records, the savepoint's rollback, the checkpoint or the COMMIT
		// failed too) stored nothing.
		committed bool
	)
	attempts := 0
	try := func(ctx context.Context) error {
		attempts++
		if xid != 0 {
			done, err := s.committedBefore(ctx, xid)
			if err != nil || done {
				committed = done
				return err // done: that try's results stand
			}
			xid = 0
		}
		committed = false
		ext := extend
		extend = nil // a retry COPYs the same chunks
		kept, n, drops, rej, failure = 0, 0, map[graph.DropReason]int64{}, nil, nil
		// It waits for its chunks' records (waitRecords) and for the next
		// chunk (ext), idle: a server's idle-in-transaction limit is not
		// for it.
		err := WithTx(ctx, s.pool, TxOptions{WaitsOnPurpose: true}, func(tx pgx.Tx) error {
			if in.Name == "" {
				if err := tx.QueryRow(ctx, "SELECT txid_current()").Scan(&xid); err != nil {
					return err
				}
			}
			horizon, err := s.retentionFence(ctx, tx)
			if err != nil {
				return err
			}
			g := *part
			type mark struct { // what the transaction held before a chunk
				sp    pgx.Tx
				rows  int64
				drops map[graph.DropReason]int64
				rej   int
			}
			var marks []mark
			at := base
			for i := 0; ; i++ {
				if i == len(g) && ext != nil {
					if next, ok := ext(g); ok {
						g = append(g, next)
						*part = g
					}
				}
				if i == len(g) {
					break
				}
				m := mark{rows: n, drops: maps.Clone(drops), rej: len(rej)}
				if i > 0 {
					sp, err := tx.Begin(ctx)
					if err != nil {
						return err
					}
					m.sp = sp
				}
				marks = append(marks, m)
				k, err := s.copyRetainedAt(ctx, tx, g[i].edges, at, horizon, drops, &rej)
				n += k
				if err != nil {
					if Transient(err) {
						return err // the whole transaction again
					}
					failure = err
					break
				}
				at += len(g[i].edges)
			}
			kept = len(marks)
			if failure != nil {
				kept--
			}
			if k, err := waitRecords(ctx, g[:kept]); err != nil {
				if ctx.Err() != nil {
					return err
				}
				kept, failure = k, err
			}
			if kept == 0 {
				return failure // nothing to keep: roll back
			}
			if kept < len(marks) {
				m := marks[kept]
				if err := m.sp.Rollback(ctx); err != nil {
					return errors.Join(failure, err)
				}
				n, drops, rej = m.rows, m.drops, rej[:m.rej]
			}
			if in.Name == "" {
				return nil
			}
			_, err = s.q.WithTx(tx).TelemetryCheckpointAdvance(ctx, gen.TelemetryCheckpointAdvanceParams{
				Input: in.Name, ContentHash: in.ContentHash, FromEdges: g[0].from, ToEdges: g[kept-1].to, Rows: n})
			if errors.Is(err, pgx.ErrNoRows) {
				return errCheckpointMoved
			}
			return err
		})
		committed = err == nil
		return err
	}
	err := s.retry(ctx, "telemetry COPY", try)
	g := *part
	if err == nil {
		err = failure
	}
	if err != nil && !errors.Is(err, errRecordsFailed) && !errors.Is(err, errRecordsDropped) {
		span := copyJob{from: g[0].from, to: g[len(g)-1].to}
		if kept > 0 {
			span.to = g[kept-1].to
		}
		switch {
		case committed: // the kept chunks are stored; failure stopped the next one
			err = Interpret("commit telemetry chunk", err)
		case ctx.Err() != nil && kept > 0 && s.committedDespiteCancel(ctx, in, span, xid):
			// Cancelled while its COMMIT was on the way (a two-phase
			// commit on Citus takes a while): the chunks are stored, so
			// they count, and the append stops with the cancellation.
			s.log.InfoContext(ctx, "telemetry chunk committed as its context ended", "input", in.Name, "edges", n)
			committed = true
		case errors.Is(err, errCheckpointMoved):
			cp, gerr := s.q.TelemetryCheckpointGet(ctx, gen.TelemetryCheckpointGetParams{Input: in.Name, ContentHash: in.ContentHash})
			if gerr != nil {
				return 0, 0, Interpret("read telemetry checkpoint of "+in.Name, gerr)
			}
			if cp.Edges < span.to {
				return 0, 0, fmt.Errorf("telemetry input %s: checkpoint at edge %d, not %d: is another load of it running?", in.Name, cp.Edges, span.from)
			}
			if attempts == 1 {
				// No earlier try of this append can have committed them:
				// another load of the input did. They are not this load's
				// to count; it stops rather than report them written.
				return 0, 0, fmt.Errorf("telemetry input %s: edges %d to %d were stored meanwhile by another load of it (checkpoint at edge %d): is another load of it running?",
					in.Name, span.from, span.to, cp.Edges)
			}
			s.log.InfoContext(ctx, "telemetry chunk was committed already", "input", in.Name, "from", span.from, "to", span.to)
			committed = true
			if failure == nil {
				err = nil
			} else {
				err = failure
			}
		default: // nothing committed
			return 0, 0, Interpret("commit telemetry chunk", err)
		}
	}
	if kept == 0 || !committed {
		return 0, 0, err
	}
	addDrops(dropped, drops)
	if rejected != nil {
		*rejected = append(*rejected, rej...)
	}
	return kept, n, err
}

// recordsWritten reports whether r has ended without failing.
func recordsWritten(r *chunkRecords) bool {
	select {
	case <-r.done:
		return r.err == nil
	default:
		return false
	}
}

// waitRecords waits for the records of the chunks of group to be written.
// It returns the index of the first chunk whose records failed
// (errRecordsFailed) or whose edges lost some to refused records
// (errRecordsDropped), and nil when none did.
func waitRecords(ctx context.Context, group []copyJob) (int, error) {
	for i, j := range group {
		if j.rec == nil {
			continue
		}
		select {
		case <-j.rec.done:
		case <-ctx.Done():
			return i, context.Cause(ctx)
		}
		switch {
		case j.rec.err != nil:
			return i, errRecordsFailed
		case len(j.rec.edges) != len(j.edges):
			return i, errRecordsDropped
		}
	}
	return len(group), nil
}

// committedDespiteCancel reports whether the last try of a chunk whose
// context ended committed all the same: the input's checkpoint is past the
// chunk, or (without a named input) its transaction xid committed. It asks
// on a context of its own for at most cancelCheckTimeout, and says false
// when it cannot tell.
func (s *Store) committedDespiteCancel(ctx context.Context, in TelemetryInput, job copyJob, xid int64) bool {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelCheckTimeout)
	defer cancel()
	if in.Name != "" {
		cp, err := s.q.TelemetryCheckpointGet(actx, gen.TelemetryCheckpointGetParams{Input: in.Name, ContentHash: in.ContentHash})
		return err == nil && cp.Edges >= job.to
	}
	if xid == 0 {
		return false
	}
	for {
		done, err := s.committedBefore(actx, xid)
		if !errors.Is(err, errCommitPending) {
			return err == nil && done
		}
		select {
		case <-actx.Done():
			return false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// cancelCheckTimeout bounds committedDespiteCancel.
const cancelCheckTimeout = 5 * time.Second

// errCommitPending is a try whose transaction the server still runs: the
// retry asks again.
var errCommitPending = fmt.Errorf("telemetry COPY transaction still in progress: %w", ErrRetryable)

// committedBefore reports whether the transaction xid of a failed try
// committed after all (its COMMIT reached the server, the answer was
// lost), asking the server on a connection of its own: txid_status is
// "committed", "aborted", "in progress" (an error that is retried), or
// NULL when xid is too old to tell, which cannot be for a try moments ago
// and is reported as an error rather than risk doubling the rows.
func (s *Store) committedBefore(ctx context.Context, xid int64) (bool, error) {
	var status *string
	if err := s.pool.QueryRow(ctx, "SELECT txid_status($1)", xid).Scan(&status); err != nil {
		return false, err
	}
	switch {
	case status == nil:
		return false, fmt.Errorf("telemetry COPY transaction %d: its outcome is no longer known", xid)
	case *status == "committed":
		s.log.InfoContext(ctx, "telemetry COPY had committed before its connection failed", "xid", xid)
		return true, nil
	case *status == "in progress":
		return false, errCommitPending
	}
	return false, nil
}

// ensureChunkDays makes the day partitions of the chunk's days in the
// window that this Store has not made yet, and counts the chunk's rows
// outside the window. It returns the chunk without the rows of the days the
// DayEnsurer refused (past retention), which it counts as dropped.
func (s *Store) ensureChunkDays(ctx context.Context, chunk []graph.TelemetryEdge, stats *TelemetryStats) ([]graph.TelemetryEdge, error) {
	today := graph.UTCDay(s.now())
	lo := today.AddDate(0, 0, -s.window.Back)
	hi := today.AddDate(0, 0, s.window.Ahead+1)
	horizon, err := s.horizon(ctx, chunk, lo)
	if err != nil {
		return chunk, err
	}
	var need, past []time.Time
	for _, e := range chunk {
		day := graph.UTCDay(e.ObservedAt)
		switch {
		case day.Before(horizon):
			past = append(past, day)
		case day.Before(lo) || !day.Before(hi):
			stats.OutOfWindow++
		case !s.days.has(day) && !slices.Contains(need, day):
			// A day another stream is still ensuring is ensured here
			// too (it waits for that one, then finds the partition): a
			// chunk copied before the partition is attached can land in
			// the default partition while it moves (refused on Citus).
			need = append(need, day)
			s.days.add(day) // pending; removed again if ensuring fails
		}
	}
	var out DayOutcome
	if len(need) > 0 {
		err = s.retry(ctx, "make day partitions", func(ctx context.Context) error {
			o, err := s.ensureDays(ctx, need)
			out.Created += o.Created
			out.Default, out.Refused = o.Default, o.Refused
			return err
		})
		stats.PartitionsCreated += out.Created
		if err != nil {
			for _, d := range need {
				s.days.remove(d)
			}
			return chunk, fmt.Errorf("make day partitions for telemetry: %w", err)
		}
		for _, d := range need {
			s.days.confirm(d)
		}
	}
	out.Refused = append(out.Refused, past...)
	if len(out.Default) == 0 && len(out.Refused) == 0 {
		return chunk, nil
	}
	return s.divertDays(ctx, chunk, out, stats), nil
}

// horizon asks the DayEnsurer for the first day rows may be written for
// when chunk has rows from before the window (days in the window it judges
// in EnsureDays); otherwise, and without a limit, it is the zero time.
func (s *Store) horizon(ctx context.Context, chunk []graph.TelemetryEdge, lo time.Time) (time.Time, error) {
	if s.ensurer == nil || !slices.ContainsFunc(chunk, func(e graph.TelemetryEdge) bool { return e.ObservedAt.Before(lo) }) {
		return time.Time{}, nil
	}
	h, err := s.ensurer.Horizon(ctx, s.pool)
	if err != nil {
		return time.Time{}, fmt.Errorf("read telemetry retention: %w", err)
	}
	return h, nil
}

// divertDays counts the rows of out's Default days, which go to the default
// partition, and drops those of its Refused days, logging each refused day
// once per chunk at WARN. Those days are asked about again with the next
// chunk.
func (s *Store) divertDays(ctx context.Context, chunk []graph.TelemetryEdge, out DayOutcome, stats *TelemetryStats) []graph.TelemetryEdge {
	toDefault, refused := map[time.Time]bool{}, map[time.Time]int64{}
	for _, d := range out.Default {
		s.days.remove(d)
		toDefault[d] = true
	}
	for _, d := range out.Refused {
		s.days.remove(d)
		refused[d] = 0
	}
	kept := chunk[:0]
	for _, e := range chunk {
		day := graph.UTCDay(e.ObservedAt)
		if _, ok := refused[day]; ok {
			refused[day]++
			continue
		}
		if toDefault[day] {
			stats.InDefault++
		}
		kept = append(kept, e)
	}
	for day, n := range refused {
		stats.Dropped[graph.ReasonBeforeRetention] += n
		s.log.WarnContext(ctx, "dropping telemetry edges of a day past retention", "day", day.Format(time.DateOnly),
			"edges", n, "reason", string(graph.ReasonBeforeRetention))
	}
	return kept
}

// writeChunkRecords writes, in one transaction (one more for each turn it
// waited for other appends), the endpoint nodes and implied records of the
// chunk that this Store has not written yet, and remembers them once
// committed. Records another append of this Store is
// writing at the same moment (a stream of the TelemetryWriter, a chunk of
// AppendTelemetry) are not written twice: the append waits for that write
// instead (see endpointCache.claim), and writes them itself only if it
// failed; an implied relation whose endpoint another append is writing is
// written once that node has committed. So concurrent appends write
// disjoint sets of new records side by side and never wait on each other's
// uncommitted rows. When the database refused some records (and Write
// dropped them), it returns the chunk without the edges that need them,
// each logged at WARN and counted in stats.Dropped.
func (s *Store) writeChunkRecords(ctx context.Context, chunk []graph.TelemetryEdge, stats *TelemetryStats) ([]graph.TelemetryEdge, error) {
	var dropped droppedSet
	for {
		b, mine, waits := s.endpoints.claim(chunk, &dropped)
		if b.Len() > 0 {
			ws, d, err := s.writeChunkBatch(ctx, b)
			stats.Nodes.Add(ws)
			s.endpoints.finish(mine, b, d, err == nil)
			if err != nil {
				return chunk, fmt.Errorf("upsert telemetry endpoint nodes and implied records (%d nodes, %d relations): %w",
					len(b.Nodes), len(b.Relations), err)
			}
			dropped.add(d)
		}
		if len(waits) == 0 {
			break
		}
		// What the other appends wrote is cached now; what they failed
		// to write is claimed and written on the next turn.
		if err := waitClaims(ctx, waits); err != nil {
			return chunk, fmt.Errorf("wait for telemetry endpoint nodes another append is writing: %w", err)
		}
	}
	if s.endpoints.flushDue() {
		ws, err := s.flushSeen(ctx)
		stats.Nodes.Add(ws)
		if err != nil {
			return chunk, err
		}
	}
	if dropped.empty() {
		return chunk, nil
	}
	out := make([]graph.TelemetryEdge, 0, len(chunk)) // not in place: the chunk's COPY may be reading it
	for i := range chunk {
		e := &chunk[i]
		if reason := dropped.reasonFor(e); reason != "" {
			stats.Dropped[reason]++
			s.log.WarnContext(ctx, "dropping telemetry edge: the database refused a record it needs",
				"agent_id", clip(e.AgentID), "reason", string(reason))
			continue
		}
		out = append(out, *e)
	}
	return out, nil
}

// writeChunkBatch writes the records of a chunk that the endpoint cache
// does not know, and names those the database refused. A few go in one
// transaction (writeChecked). When the nodes are more than a batch and the
// Store has several writers — the first chunks of a stream, or a stream of
// new processes — the nodes go first through UpsertNodes (disjoint id
// ranges written side by side, the pending relations they complete
// released once all have committed), then the relations in one
// transaction: a relation's endpoints are committed before it, as in one
// transaction, and none of the chunk's edges is COPYed before both. If the
// database refused a node there (UpsertNodes counts it but does not name
// it), the whole batch is written again with writeChecked — upserts are
// idempotent — to name what it refused; the stats are then that write's.
func (s *Store) writeChunkBatch(ctx context.Context, b graph.Batch) (graph.WriteStats, droppedSet, error) {
	if len(b.Nodes) <= s.batchSize || s.writers <= 1 {
		return s.writeChecked(ctx, b, true)
	}
	ws, err := s.UpsertNodes(ctx, b.Nodes)
	if err != nil {
		return ws, droppedSet{}, err
	}
	if len(ws.Dropped) > 0 {
		return s.writeChecked(ctx, b, true)
	}
	rs, dropped, err := s.writeChecked(ctx, graph.Batch{Relations: b.Relations}, true)
	ws.Add(rs)
	return ws, dropped, err
}

// reasonFor returns why edge e cannot be stored without a record that was
// dropped, or "".
func (d *droppedSet) reasonFor(e *graph.TelemetryEdge) graph.DropReason {
	switch {
	case d.nodes[e.Src.ID]:
		return graph.ReasonInvalidSrc
	case d.nodes[e.Dst.ID]:
		return graph.ReasonInvalidDst
	}
	for _, n := range e.Implied.Nodes {
		if d.nodes[n.ID] {
			return graph.ReasonInvalidImplied
		}
	}
	for _, r := range e.Implied.Relations {
		if d.rels[keyOf(r)] {
			return graph.ReasonInvalidImplied
		}
	}
	return ""
}

// endpointCache remembers the graph records AppendTelemetry has committed
// through this Store — endpoint nodes and implied nodes by id, implied
// relations by their key, each with the first/last seen it has written for
// it (seenCache) — so a stream that names the same hosts, processes and
// files over and over writes each of them once rather than once per chunk:
// the telemetry edges keep every observation. A record's first/last seen
// still span all its observations, by one rule for nodes and relations (a
// file's has-hash link to each hash node): a record written in a chunk
// carries the earliest first seen and the latest last seen of its
// occurrences there (claim, mergeSeen); a later occurrence outside the
// range the cache remembers is kept as a pending extension (seenCache's
// pending), written for many records at once by flushSeen (nodes, then
// relations; the upserts merge the times with least/greatest): at the end
// of every AppendTelemetry, when the TelemetryWriter closes, and whenever
// pendingSeenNodes are pending or pendingSeenInterval has passed. So a
// completed load leaves every node's and implied relation's times exact,
// and the nodes, relations and relation_records rows the same, whatever
// chunks or runs the input came in, at the cost of about one more upsert
// per record per flush (not one per chunk); a load cut short (a kill, a
// crash) may leave the times its last pendingSeenInterval of work extended
// unwritten. An earlier design wrote a node again at once when an
// occurrence lay more than a tolerance outside its range: with an hour,
// BenchmarkTelemetryCopy's timed rows (a week, each of 50,000 endpoints
// named about 20 times) upserted 815,630 times (a quarter of psql's rate),
// with 24 hours 306,151 times (a half), against 50,000 for untimed
// endpoints. Records enter the cache only once their transaction has
// committed, so a record found in it exists in the database (and a cached
// relation's endpoints do: its pending extension never waits for them).
// While a record is being written it is claimed (see claim), so concurrent
// appends of this Store do not write it again. Its memory is bounded (see
// genMap): a service that sees new processes every day keeps the ones it
// meets again and forgets the rest, and a record forgotten is simply
// written again.
type endpointCache struct {
	mu sync.Mutex
	// The nodes by id and the implied relations by key, each with the
	// range of times written and the extensions pending (seenCache).
	nodes seenCache[uuid.UUID, graph.Node]
	rels  seenCache[relationKey, graph.Relation]
	// The records being written now, and the write (claim) of each.
	nodeClaims map[uuid.UUID]*recordClaim
	relClaims  map[relationKey]*recordClaim
	// lastFlush is when flushSeen last took the pending extensions.
	lastFlush time.Time
	// flushMu serialises flushSeen, so a flush that returns has seen every
	// extension pending when it began written (by itself or by the flush
	// it waited for).
	flushMu sync.Mutex
}

// pendingSeenNodes is the fewest pending extensions (nodes, or relations)
// that make flushSeen run in the middle of a load (seenCache.pendingFull),
// bounding their memory (a record each, about 300 bytes: 20 MiB at this
// number), and pendingSeenInterval how old they may get in a
// long stream (the TelemetryWriter of a service, a followed input) before
// they are: what a load cut short may leave unwritten. A load whose
// working set of nodes is larger than pendingSeenNodes flushes them every
// few chunks (with 1<<14, BenchmarkTelemetryCopy's 50,000 timed endpoints
// were flushed nearly every chunk; with nodes and relations counted
// together against 1<<16, make bench-telemetry-cli's 63,334 nodes and
// their has-hash links were flushed every chunk: 0.16x psql against 0.70x).
const (
	pendingSeenNodes    = 1 << 16
	pendingSeenInterval = 30 * time.Second
)

// seenRecord is a record whose first/last seen the endpoint cache keeps
// exact: an endpoint or implied node, or an implied relation.
type seenRecord interface{ graph.Node | graph.Relation }

// seenTimes returns pointers to the first and last seen of record r.
func seenTimes[R seenRecord](r *R) (first, last *time.Time) {
	switch r := any(r).(type) {
	case *graph.Node:
		return &r.FirstSeen, &r.LastSeen
	case *graph.Relation:
		return &r.FirstSeen, &r.LastSeen
	}
	panic("unreachable: seenRecord is a node or a relation")
}

// seenRange is the first and last seen of a record (graph.Seen); zero for
// a record without times (untimed: they never change the stored ones).
type seenRange struct{ first, last time.Time }

func seenOf[R seenRecord](r *R) seenRange {
	first, last := seenTimes(r)
	if first.IsZero() && last.IsZero() {
		return seenRange{}
	}
	f, l := graph.Seen(*first, *last, time.Time{})
	return seenRange{first: f, last: l}
}

func (r seenRange) untimed() bool { return r.first.IsZero() }

// union is the range spanning r and o.
func (r seenRange) union(o seenRange) seenRange {
	switch {
	case o.untimed():
		return r
	case r.untimed():
		return o
	}
	return seenRange{first: minTime(r.first, o.first), last: maxTime(r.last, o.last)}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// seenChange is what an occurrence of a cached record needs.
type seenChange int

const (
	seenWithin seenChange = iota // nothing: its times are written already
	seenNear                     // a pending extension
	seenFar                      // the record written again now: its first times
)

// change is what occurrence o of a record needs when the cache has written
// r for it.
func (r seenRange) change(o seenRange) seenChange {
	switch {
	case o.untimed():
		return seenWithin
	case r.untimed(): // a record with times replaces the load time stored
		return seenFar
	case !o.first.Before(r.first) && !o.last.After(r.last):
		return seenWithin
	}
	return seenNear
}

// mergeSeen widens record into to span n too: it becomes the record of the
// two with the later last seen (whose rank, graph.Node.Ranks or
// graph.Relation.Ranks, the database's merge would keep), with the earlier
// first seen. A record with times replaces one without. For the records
// telemetry repeats (the same node or relation at other times) that is
// what merging every occurrence gives.
func mergeSeen[R seenRecord](into, n *R) {
	r, o := seenOf(into), seenOf(n)
	switch {
	case o.untimed():
		return
	case r.untimed():
		*into = *n
		return
	}
	if o.last.After(r.last) {
		*into = *n
	}
	u := r.union(o)
	first, last := seenTimes(into)
	*first, *last = u.first, u.last
}

// seenCache is what the endpoint cache keeps of one sort of record, nodes
// by id or relations by key: the range of times written for each record
// committed (bounded, see genMap), and per cached record the occurrences
// outside it, merged into one pending extension (mergeSeen) that flushSeen
// writes. Its methods run with endpointCache.mu held.
type seenCache[K comparable, R seenRecord] struct {
	written genMap[K, seenEntry[R]]
	pending map[K]*R // a pointer: an occurrence merges into it in place
}

// seenEntry is what the cache keeps of a record written: the range of
// times written, and its pending extension if it has one (the same pointer
// as in seenCache.pending), so that an occurrence outside the range costs
// one look-up, not two.
type seenEntry[R seenRecord] struct {
	seen seenRange
	pend *R
}

func newSeenCache[K comparable, R seenRecord](generation int) seenCache[K, R] {
	return seenCache[K, R]{written: newGenMap[K, seenEntry[R]](generation), pending: map[K]*R{}}
}

// has reports whether record k is cached (written).
func (s *seenCache[K, R]) has(k K) bool { return s.written.has(k) }

// pendingFull reports whether so many extensions are pending that they are
// written now (flushDue): pendingSeenNodes, or half a generation of the
// cache when that is more (a Store sized for a large working set:
// tuning.Plan.EndpointCacheKeys), so that a working set the cache holds
// is flushed once per pendingSeenInterval, not every few chunks.
func (s *seenCache[K, R]) pendingFull() bool {
	return len(s.pending) >= max(pendingSeenNodes, s.written.size/2)
}

// covered reports whether occurrence r of record k needs no write now: its
// times are written already, or it is added to k's pending extension. False
// when k is not cached, or cached without times while r has some (seenFar):
// the caller takes it.
func (s *seenCache[K, R]) covered(k K, r *R) bool {
	e, ok := s.written.get(k)
	if !ok {
		return false
	}
	switch e.seen.change(seenOf(r)) {
	case seenWithin:
		return true
	case seenNear:
		if e.pend != nil {
			mergeSeen(e.pend, r)
		} else {
			s.addPending(k, r)
		}
		return true
	}
	return false
}

// addPending adds occurrence r of record k to its pending extension.
func (s *seenCache[K, R]) addPending(k K, r *R) {
	if p := s.pending[k]; p != nil {
		mergeSeen(p, r)
		return
	}
	c := *r
	s.pending[k] = &c
	s.written.update(k, func(e *seenEntry[R]) { e.pend = &c })
}

// dropPending forgets k's pending extension p (taken to be written).
func (s *seenCache[K, R]) dropPending(k K, p *R) {
	delete(s.pending, k)
	s.written.update(k, func(e *seenEntry[R]) {
		if e.pend == p {
			e.pend = nil
		}
	})
}

// taken merges k's pending extension, if any, into the record taken to be
// written now, r.
func (s *seenCache[K, R]) taken(k K, r *R) {
	if p := s.pending[k]; p != nil {
		mergeSeen(r, p)
		s.dropPending(k, p)
	}
}

// wrote records the end of a write of r, the record of k: when stored,
// the range written grows to span it; when not (the write failed), a
// cached record keeps r's times pending, so they are not lost with it.
func (s *seenCache[K, R]) wrote(k K, r *R, stored bool) {
	e, known := s.written.get(k)
	switch {
	case stored:
		s.written.put(k, seenEntry[R]{seen: e.seen.union(seenOf(r)), pend: e.pend})
	case known:
		s.addPending(k, r)
	}
}

// takePending returns the pending extensions and forgets them.
func (s *seenCache[K, R]) takePending() []R {
	if len(s.pending) == 0 {
		return nil
	}
	out := make([]R, 0, len(s.pending))
	for k, p := range s.pending {
		out = append(out, *p)
		s.dropPending(k, p)
	}
	s.pending = map[K]*R{} // not the emptied map: it keeps its size
	return out
}

// flushed records the end of flushSeen's write of r, the pending extension
// of k: when it failed r is pending again; when it succeeded the range of
// a record still cached grows to span it (one forgotten meanwhile stays
// forgotten, to be written whole by its next occurrence).
func (s *seenCache[K, R]) flushed(k K, r *R, failed bool) {
	e, known := s.written.get(k)
	switch {
	case failed:
		s.addPending(k, r)
	case known:
		s.written.put(k, seenEntry[R]{seen: e.seen.union(seenOf(r)), pend: e.pend})
	}
}

// recordClaim is one write of records in progress; done is closed when it
// has ended, committed or not.
type recordClaim struct{ done chan struct{} }

// relationKey identifies a relation as RelationUpsertMany merges it.
type relationKey struct {
	src, dst graph.Ref
	typ      string
}

func keyOf(r graph.Relation) relationKey {
	return relationKey{src: r.Src, dst: r.Dst, typ: strings.ToLower(r.Type)}
}

// endpointCacheGeneration is how many keys one generation of the cache's
// maps holds by default (WithEndpointCache sets it): each map holds at
// most two generations (about 10 MiB of relation keys, and 3 MiB of their
// seen ranges). Measured with
// make bench-scale (7 simulated days, a new process per host and pid
// every day): with 1<<17 for both sets the client's peak RSS grew 1.44×
// from day 1 to day 7, with 1<<15 1.18×.
const endpointCacheGeneration = 1 << 15

// endpointNodeGeneration is the least generation of the node-id map. A
// node id and its entry are 72 bytes, 100-170 in the map (a generation of
// 1<<16 is 6-11 MiB), and a working set larger than a generation is
// written again once per generation: BenchmarkTelemetryCopy's 50,000
// endpoints upserted 159,596 times with 1<<15, 50,000 with 1<<16 and 1<<17.
// make bench-scale (7 simulated days of 67,000 new nodes each, the
// default cache) grew the client's peak RSS 1.37-1.55x from day 1 to day 7
// with 1<<17 (its working set filled four generations' worth over days),
// 1.17x with 1<<16 and 1.19x with 1<<15 (2026-12-05, one run each, load
// 1.8-3.0; within a run the days' peaks spread by about 10 %).
const endpointNodeGeneration = 1 << 16

// newEndpointCache returns a cache of generation keys per generation of
// relation keys, and at least endpointNodeGeneration of node ids.
func newEndpointCache(generation int) *endpointCache {
	return &endpointCache{nodes: newSeenCache[uuid.UUID, graph.Node](max(generation, endpointNodeGeneration)),
		rels:       newSeenCache[relationKey, graph.Relation](generation),
		nodeClaims: map[uuid.UUID]*recordClaim{}, relClaims: map[relationKey]*recordClaim{},
		lastFlush: time.Now()}
}

// genMap is a map bounded by two generations: keys go into the current
// one; when it is full it becomes the old one (the previous old one is
// dropped) and a new current one starts. A key found in the old generation
// moves to the current one with its value, so keys in use stay while keys
// not seen for a generation are forgotten.
type genMap[K comparable, V any] struct {
	cur, old map[K]V
	size     int
}

func newGenMap[K comparable, V any](size int) genMap[K, V] {
	return genMap[K, V]{cur: map[K]V{}, old: map[K]V{}, size: size}
}

func (g *genMap[K, V]) has(k K) bool {
	_, ok := g.get(k)
	return ok
}

func (g *genMap[K, V]) get(k K) (V, bool) {
	if v, ok := g.cur[k]; ok {
		return v, true
	}
	if v, ok := g.old[k]; ok {
		g.put(k, v)
		return v, true
	}
	var zero V
	return zero, false
}

// update changes the value of k in place, if k is kept, without moving
// it between generations.
func (g *genMap[K, V]) update(k K, f func(*V)) {
	for _, m := range [2]map[K]V{g.cur, g.old} {
		if v, ok := m[k]; ok {
			f(&v)
			m[k] = v
			return
		}
	}
}

func (g *genMap[K, V]) put(k K, v V) {
	if _, ok := g.cur[k]; !ok && len(g.cur) >= g.size {
		g.old, g.cur = g.cur, make(map[K]V, g.size/4)
	}
	g.cur[k] = v
}

// claim returns the endpoint nodes and implied records of chunk that are
// neither cached, nor being written by another append, nor refused already
// (skip), each once, and claims them: the caller writes them and then
// calls finish with the claim it gets (nil when there is nothing to
// write). A node or relation taken spans all its occurrences in chunk
// (mergeSeen), and the extension pending for it, if any. An occurrence of
// a cached record outside the range the cache has written for it is added
// to the record's pending extension (flushSeen writes it; the relation is
// cached, so its endpoints have committed). waits are the other appends'
// claims on records of chunk, which the caller waits for before it asks
// again: on that turn a record they wrote is cached, and its occurrences
// here within or pending. An implied relation whose endpoint node another
// append is writing is left for the next turn (its claim is in waits), so
// a relation is never written before its endpoints have committed.
func (c *endpointCache) claim(chunk []graph.TelemetryEdge, skip *droppedSet) (b graph.Batch, mine *recordClaim, waits []*recordClaim) {
	var nodes map[uuid.UUID]int  // taken in this chunk: index in b.Nodes
	var rels map[relationKey]int // and in b.Relations
	wait := func(other *recordClaim) {
		if !slices.Contains(waits, other) {
			waits = append(waits, other)
		}
	}
	node := func(n *graph.Node) { // a pointer: a node is copied only when taken
		if i, ok := nodes[n.ID]; ok {
			mergeSeen(&b.Nodes[i], n)
			return
		}
		if skip.nodes[n.ID] || c.nodes.covered(n.ID, n) {
			return
		}
		if other := c.nodeClaims[n.ID]; other != nil {
			wait(other)
			return
		}
		if nodes == nil {
			nodes = map[uuid.UUID]int{}
		}
		nodes[n.ID] = len(b.Nodes)
		b.Nodes = append(b.Nodes, *n)
	}
	// pending is the other append's claim on an endpoint of a relation.
	pending := func(ref graph.Ref) *recordClaim {
		if id, ok := graph.ParseNodeRef(ref); ok {
			return c.nodeClaims[id]
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range chunk {
		e := &chunk[i]
		node(&e.Src)
		node(&e.Dst)
		for j := range e.Implied.Nodes {
			node(&e.Implied.Nodes[j])
		}
		for j := range e.Implied.Relations {
			r := &e.Implied.Relations[j]
			k := keyOf(*r)
			if i, ok := rels[k]; ok {
				mergeSeen(&b.Relations[i], r)
				continue
			}
			if skip.rels[k] || c.rels.covered(k, r) {
				continue
			}
			other := c.relClaims[k]
			if other == nil {
				other = pending(r.Src)
			}
			if other == nil {
				other = pending(r.Dst)
			}
			if other != nil {
				wait(other)
				continue
			}
			if rels == nil {
				rels = map[relationKey]int{}
			}
			rels[k] = len(b.Relations)
			b.Relations = append(b.Relations, *r)
		}
	}
	if b.Len() == 0 {
		return b, nil, waits
	}
	mine = &recordClaim{done: make(chan struct{})}
	for id, i := range nodes { // a pending extension is written with its record now
		c.nodeClaims[id] = mine
		c.nodes.taken(id, &b.Nodes[i])
	}
	for k, i := range rels {
		c.relClaims[k] = mine
		c.rels.taken(k, &b.Relations[i])
	}
	return b, mine, waits
}

// finish ends the claim on b's records: when committed, it remembers those
// the database did not refuse (dropped), with the range of times written
// for each, and it wakes the appends waiting for them. When not committed,
// a record the cache knows keeps its times as a pending extension, so they
// are not lost with the write.
func (c *endpointCache) finish(mine *recordClaim, b graph.Batch, dropped droppedSet, committed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range b.Nodes {
		n := &b.Nodes[i]
		delete(c.nodeClaims, n.ID)
		if committed && dropped.nodes[n.ID] {
			continue
		}
		c.nodes.wrote(n.ID, n, committed)
	}
	for i := range b.Relations {
		r := &b.Relations[i]
		k := keyOf(*r)
		delete(c.relClaims, k)
		if committed && dropped.rels[k] {
			continue
		}
		c.rels.wrote(k, r, committed)
	}
	close(mine.done)
}

// flushDue says whether pending extensions should be written now, in the
// middle of a load: there are many, or they have waited long.
func (c *endpointCache) flushDue() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes.pendingFull() || c.rels.pendingFull() ||
		len(c.nodes.pending)+len(c.rels.pending) > 0 && time.Since(c.lastFlush) >= pendingSeenInterval
}

// flushSeen writes the endpoint cache's pending extensions: each node's
// record spanning them through the node upsert (one set-based statement
// per batch of nodes, UpsertNodes), then, once the nodes have committed,
// each implied relation's through the relation upsert the chunks' writes
// use (writeChecked: RelationUpsertMany, which merges relation_records and
// relations alike); both spread over the Store's writers, since a flush at
// the end of a load has the database to itself. Both merges keep the earliest first seen and the latest
// last seen, and the ranks (graph.Node.Ranks, graph.Relation.Ranks) of the
// record with the latest — the same rows as writing every occurrence would
// leave. A plain UPDATE of the times would leave the ranks of an earlier
// record, so the rows would depend on how the input was cut. A pending
// relation's endpoints have committed (it is cached: it was written with
// them), so writing it after the nodes never parks it. When flushSeen
// returns without error, every extension pending when it was called is
// written; on error the ones not written stay pending.
func (s *Store) flushSeen(ctx context.Context) (graph.WriteStats, error) {
	c := s.endpoints
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	c.mu.Lock()
	nodes, rels := c.nodes.takePending(), c.rels.takePending()
	c.lastFlush = time.Now()
	c.mu.Unlock()
	var ws graph.WriteStats
	var err error
	if len(nodes) > 0 {
		slices.SortFunc(nodes, func(a, b graph.Node) int { return slices.Compare(a.ID[:], b.ID[:]) })
		ws, err = s.UpsertNodes(ctx, nodes)
		c.mu.Lock()
		for i := range nodes {
			c.nodes.flushed(nodes[i].ID, &nodes[i], err != nil)
		}
		c.mu.Unlock()
		if err != nil {
			err = fmt.Errorf("write the first/last seen of %d telemetry endpoint nodes: %w", len(nodes), err)
		}
	}
	if len(rels) == 0 {
		return ws, err
	}
	if err != nil { // the relations wait for the next flush, as the nodes do
		c.mu.Lock()
		for i := range rels {
			c.rels.addPending(keyOf(rels[i]), &rels[i])
		}
		c.mu.Unlock()
		return ws, err
	}
	slices.SortFunc(rels, func(a, b graph.Relation) int {
		return cmp.Or(strings.Compare(string(a.Src), string(b.Src)), strings.Compare(a.Type, b.Type),
			strings.Compare(string(a.Dst), string(b.Dst)))
	})
	rs, dropped, err := s.writeRelationsSpread(ctx, rels)
	ws.Add(rs)
	c.mu.Lock()
	for i := range rels {
		k := keyOf(rels[i])
		if err == nil && dropped.rels[k] { // refused: not written, not pending again
			continue
		}
		c.rels.flushed(k, &rels[i], err != nil)
	}
	c.mu.Unlock()
	if err != nil {
		return ws, fmt.Errorf("write the first/last seen of %d telemetry implied relations: %w", len(rels), err)
	}
	return ws, nil
}

// writeRelationsSpread writes rels, sorted by key, as up to s.writers
// transactions side by side, each a contiguous run of at least a batch
// (writeChecked through spreadWrites, as UpsertNodes spreads nodes), so a
// flush of many implied relations uses every writer instead of one
// connection while the others idle. On error some runs may have committed;
// writing them again merges nothing new (the merge is idempotent).
func (s *Store) writeRelationsSpread(ctx context.Context, rels []graph.Relation) (graph.WriteStats, droppedSet, error) {
	parts := min(s.writers, len(rels)/max(s.batchSize, 1))
	if parts <= 1 {
		return s.writeChecked(ctx, graph.Batch{Relations: rels}, true)
	}
	return spreadWrites(ctx, parts, rels, (len(rels)+parts-1)/parts,
		func(ctx context.Context, run []graph.Relation) (graph.WriteStats, droppedSet, error) {
			return s.writeChecked(ctx, graph.Batch{Relations: run}, true)
		})
}

// waitClaims waits for the writes of claims to end, or for ctx.
func waitClaims(ctx context.Context, claims []*recordClaim) error {
	for _, cl := range claims {
		select {
		case <-cl.done:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// recheckDays asks the DayEnsurer again, at the end of a load, for the
// days of the window whose partitions this Store made or found. A day's
// partition dropped or detached while the load ran, after the Store had
// made it, sent that day's later rows to the default partition unseen (the
// report said none went there). Ensuring the day makes its partition again
// and moves those rows into it. It returns the partitions made; a failure
// is logged, not returned: the rows are stored, and `intel partitions
// check` finds any left in the default partition.
func (s *Store) recheckDays(ctx context.Context) int {
	if s.ensurer == nil {
		return 0
	}
	today := graph.UTCDay(s.now())
	days := s.days.confirmed(today.AddDate(0, 0, -s.window.Back), today.AddDate(0, 0, s.window.Ahead+1))
	if len(days) == 0 {
		return 0
	}
	var out DayOutcome
	err := s.retry(ctx, "check day partitions", func(ctx context.Context) error {
		var err error
		out, err = s.ensureDays(ctx, days)
		return err
	})
	if err != nil {
		s.log.WarnContext(ctx, "could not check at the end of the load that its day partitions still exist", "err", err)
		return 0
	}
	if out.Created > 0 {
		s.log.WarnContext(ctx, "day partitions this load wrote to were gone (dropped or detached while it ran?): "+
			"made them again, and moved into them the rows that had gone to the default partition", "partitions", out.Created)
	}
	return out.Created
}

// ensureDays makes the partitions of days through the DayEnsurer, if any.
func (s *Store) ensureDays(ctx context.Context, days []time.Time) (DayOutcome, error) {
	if s.ensurer == nil {
		return DayOutcome{}, nil
	}
	return s.ensurer.EnsureDays(ctx, days)
}

// daySet remembers the days whose partitions exist (true), so
// AppendTelemetry asks the DayEnsurer once per day per Store, and the days
// being ensured (false).
type daySet struct {
	mu   sync.Mutex
	days map[time.Time]bool
}

func newDaySet() *daySet { return &daySet{days: map[time.Time]bool{}} }

// has reports whether the partition of day is known to exist.
func (d *daySet) has(day time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.days[day]
}

// add marks day as being ensured, unless it is known to exist.
func (d *daySet) add(day time.Time) {
	d.mu.Lock()
	if !d.days[day] {
		d.days[day] = false
	}
	d.mu.Unlock()
}

// confirm marks day as existing.
func (d *daySet) confirm(day time.Time) {
	d.mu.Lock()
	d.days[day] = true
	d.mu.Unlock()
}

// confirmed returns the days from lo (inclusive) to hi (exclusive) whose
// partitions are known to exist, in order.
func (d *daySet) confirmed(lo, hi time.Time) []time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []time.Time
	for day, ok := range d.days {
		if ok && !day.Before(lo) && day.Before(hi) {
			out = append(out, day)
		}
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

func (d *daySet) remove(day time.Time) {
	d.mu.Lock()
	delete(d.days, day)
	d.mu.Unlock()
}

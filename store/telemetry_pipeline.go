package store

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ransomeye/intel/graph"
)

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

// progress, when not nil, is told how far the input's edges are committed.
func (s *Store) startCopier(ctx context.Context, cancel context.CancelCauseFunc, in TelemetryInput, progress *inputProgress) *edgeCopier {
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
				var done int
				var err error
				var extend func([]copyJob) (copyJob, bool)
				ahead, release := s.copyAheadSlot(ctx, job)
				if ahead {
					extend = c.extend(ctx)
				}
				group, done, n, err = s.commitGroup(ctx, in, group, extend, c.dropped, nil)
				release()
				c.edges += n
				if err == nil && progress != nil && done > 0 {
					progress.committed.Store(group[done-1].to)
				}
				if err != nil {
					c.err = fmt.Errorf("copy %d telemetry edges: %w", len(group[min(done, len(group)-1)].edges), err)
					if !errors.Is(err, errRecordsFailed) { // the preparer stopped the append already
						cancel(c.err)
					}
				}
			}
			for _, j := range group {
				if j.rec != nil {
					// The chunk's records writer reads j.edges until it is
					// done; a COPY that failed (or stopped) before waiting
					// for them must not hand the buffer to the reader yet.
					<-j.rec.done
				}
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

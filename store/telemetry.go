package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

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
	// load of the same input got through (its checkpoint): stored, or
	// dropped by that load (before-retention, invalid), skipped.
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
	// of an earlier content, cut short, whose lines this content extends),
	// and SeenSkip how many of those have their records' first/last seen
	// written too (TelemetryCheckpoint.SeenEdges); Done says nothing of
	// this content is left to load (it is a prefix of what was loaded).
	Skip     int64
	SeenSkip int64
	Done     bool
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
	// SeenEdges is how many of Edges have the first/last seen of the
	// records they name written as well: a load cut short may have kept
	// some pending (see endpointCache), and a rerun reads the edges from
	// SeenEdges to Edges again for those times alone.
	SeenEdges int64
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
		Edges: r.Edges, RowsWritten: r.RowsWritten, Complete: r.Complete, SeenEdges: r.SeenEdges}
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
// those of one clean load. The stored edges whose records' first/last seen
// the cut load may not have written (past TelemetryCheckpoint.SeenEdges)
// are read again for those records alone (replaySeen), so the nodes and
// relations are those of one clean load too. An input loaded to its end writes nothing more.
// Transient failures (see Transient) of every transaction are retried as
// the Store's RetryPolicy allows.
//
// An error from the sequence stops the append after the edges before it
// are written. An error writing a chunk's records stops it before that
// chunk's edges (the chunks before it are still COPYed), and the records
// not written are written again by the next call; an error COPYing a chunk
// stops it with that chunk's edges and those after it not written, unless
// it is ErrOutcomeUnknown: that chunk's COMMIT was sent, its answer lost,
// and the server could not be asked whether it landed (TelemetryStats.Edges
// does not count it). A named input's rerun settles that by its
// checkpoint; without one, writing the same edges again may store that
// chunk twice.
func (s *Store) AppendTelemetryInput(ctx context.Context, in TelemetryInput, edges iter.Seq2[graph.TelemetryEdge, error]) (TelemetryStats, error) {
	return s.appendTelemetryInput(ctx, in, edges, false)
}

// appendTelemetryInput is AppendTelemetryInput; with checked set it leaves
// out CheckEdge (see AppendCheckedTelemetry).
func (s *Store) appendTelemetryInput(ctx context.Context, in TelemetryInput, edges iter.Seq2[graph.TelemetryEdge, error], checked bool) (TelemetryStats, error) {
	start := time.Now()
	stats := TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	var skip, seenSkip int64 // edges stored, and of them those with their records' times written
	readOnly := false        // a read-only server, whose checkpoint says the input is loaded
	// complete: the input's checkpoint says it was loaded to its end. Its
	// content gives no edge past skip but when this intel makes edges of
	// lines the earlier one dropped (an observed_at spelling it did not
	// read): those are not stored (beyond), as the earlier load's report
	// counted them dropped. Before, the edges past skip were written: the
	// last ones of the input, stored already when the lines that now give
	// edges came before them, so those were stored twice and the new ones
	// not at all.
	complete, beyond := false, int64(0)
	var progress *inputProgress
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
					BaseOffset: in.BaseOffset, Bytes: &in.Bytes, LineHashes: in.LineHashes, Edges: in.Skip,
					SeenEdges: in.SeenSkip, Complete: in.Done}
				if in.Restart {
					p.BaseOffset, p.Edges, p.SeenEdges, p.Complete = 0, 0, 0, false
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
			done, ok := s.loadedOnAReadOnlyServer(ctx, in, err)
			if !ok {
				return stats, Interpret("start telemetry checkpoint of "+in.Name, err)
			}
			cp, readOnly = done, true
		}
		skip, seenSkip, complete = cp.Edges, min(cp.SeenEdges, cp.Edges), cp.Complete
		if skip > 0 {
			s.log.InfoContext(ctx, "resuming telemetry input after its checkpoint", "input", in.Name,
				"edges_done", cp.Edges, "rows_written", cp.RowsWritten, "complete", cp.Complete,
				"edges_to_reread_for_times", skip-seenSkip)
		}
		var untrack func()
		progress, untrack = s.endpoints.track(in, seenSkip)
		defer untrack()
	}
	// A records or COPY error cancels wctx, which stops the reading and
	// the records; the COPYs themselves run on ctx, so a records error
	// lets the chunks before it whose records committed be COPYed (those
	// in one transaction with the failed chunk are rolled back with it;
	// the checkpoint stays before them).
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	cp := s.startCopier(ctx, cancel, in, progress)
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
	// The stored edges whose records' times may not be written (a load
	// cut short kept them pending): read again for those times alone
	// before the first new chunk.
	var reread []graph.TelemetryEdge
	rereadDone := func() error {
		if len(reread) > 0 {
			if err := s.replaySeen(wctx, reread, &stats); err != nil {
				return err
			}
			reread = reread[:0]
		}
		// Every stored edge read so far has its times written or pending
		// now; those after it not yet. Before, the first batch said so of
		// all of them (skip), and a flush after a later batch failed, or
		// in the middle of the replay, recorded seen_edges past edges whose
		// times no run had written.
		if progress != nil && progress.committed.Load() < index {
			progress.committed.Store(index)
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
			if index > seenSkip {
				reread = append(reread, e)
				if len(reread) >= s.copyChunk || index == skip {
					if err = rereadDone(); err != nil {
						break
					}
				}
			}
			continue
		}
		if complete {
			stats.Resumed++
			beyond++
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
	if err == nil && srcErr == nil && index < skip { // the input ended before its checkpoint
		err = rereadDone()
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
	if beyond > 0 {
		s.log.WarnContext(ctx, "lines of a telemetry input loaded to its end give edges now that its earlier load dropped (an intel that reads more of them): not stored, as that load's report counted them dropped",
			"input", in.Name, "edges", beyond, "edges_loaded", skip)
	}
	if err == nil && srcErr == nil && in.Name != "" && (!readOnly || index > skip && !complete) {
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

// loadedOnAReadOnlyServer is the checkpoint of in when startErr, the
// failure to start it, is the refusal of a read-only server (a hot
// standby, default_transaction_read_only) and the checkpoint, which such a
// server still reads, says the same content was loaded to its end: the
// load then has nothing to write, as on the primary, instead of failing
// for want of a write it does not need (the start only marks the
// checkpoint used). ok is false otherwise (startErr stands); an input to
// be restarted or planned anew is never so.
func (s *Store) loadedOnAReadOnlyServer(ctx context.Context, in TelemetryInput, startErr error) (gen.TelemetryCheckpointStartRow, bool) {
	if !ReadOnly(startErr) || in.Planned || in.Restart {
		return gen.TelemetryCheckpointStartRow{}, false
	}
	var cp gen.TelemetryCheckpointGetRow
	err := s.retry(ctx, "read telemetry checkpoint", func(ctx context.Context) error {
		var err error
		cp, err = s.q.TelemetryCheckpointGet(ctx, gen.TelemetryCheckpointGetParams{Input: in.Name, ContentHash: in.ContentHash})
		return err
	})
	if err != nil || !cp.Complete {
		return gen.TelemetryCheckpointStartRow{}, false
	}
	s.log.InfoContext(ctx, "the server is read-only, and the telemetry input's checkpoint says it is loaded: nothing is written",
		"input", in.Name, "edges_done", cp.Edges)
	return gen.TelemetryCheckpointStartRow(cp), true
}

// replaySeen writes the records of edges an earlier load of the input
// stored but may not have written the times of (a load cut short, see
// TelemetryCheckpoint.SeenEdges): the endpoint nodes and implied records
// as the load would write them (writeChunkRecords: a record's times
// merge with the stored ones, so one already written is unchanged), the
// edges themselves not again. Edges a load drops are left out as it
// would leave them (CheckEdge, outside the window).
func (s *Store) replaySeen(ctx context.Context, chunk []graph.TelemetryEdge, stats *TelemetryStats) error {
	valid := chunk[:0]
	for i := range chunk {
		if reason, _ := CheckEdge(&chunk[i]); reason == "" {
			valid = append(valid, chunk[i])
		}
	}
	again := TelemetryStats{Dropped: map[graph.DropReason]int64{}} // counted by the load that stored them
	edges, err := s.ensureChunkDays(ctx, valid, &again)
	if err == nil {
		_, err = s.writeChunkRecords(ctx, edges, &again)
	}
	stats.Nodes.Add(again.Nodes)
	if err != nil {
		return fmt.Errorf("write the times of %d stored telemetry edges' records: %w", len(chunk), err)
	}
	return nil
}

// checkEdge is CheckEdge, or nothing for an edge already checked.
func checkEdge(e *graph.TelemetryEdge, checked bool) (graph.DropReason, error) {
	if checked {
		return "", nil
	}
	return CheckEdge(e)
}

package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

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
		// lost: the try whose COMMIT was sent and whose answer was lost
		// (lostCommit), until a later try or commitOutcome learns whether
		// it landed; nil when no try's outcome is in doubt.
		lost *lostTry
	)
	attempts := 0
	try := func(ctx context.Context) error {
		attempts++
		if xid != 0 {
			done, err := s.committedBefore(ctx, xid)
			if err != nil || done {
				committed = done
				if done {
					lost = nil
				}
				return err // done: that try's results stand
			}
			xid, lost = 0, nil
		}
		committed = false
		ext := extend
		extend = nil // a retry COPYs the same chunks
		kept, n, drops, rej, failure = 0, 0, map[graph.DropReason]int64{}, nil, nil
		// It waits for its chunks' records (waitRecords) and for the next
		// chunk (ext), idle: a server's idle-in-transaction limit is not
		// for it.
		atCommit := false // the body ended well: WithTx sends the COMMIT
		body := func(tx pgx.Tx) error {
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
		}
		err := WithTx(ctx, s.pool, TxOptions{WaitsOnPurpose: true, JITOff: s.localJITOff}, func(tx pgx.Tx) error {
			err := body(tx)
			if err == nil {
				err = s.checkLoadHeld(ctx, tx) // a feed list's telemetry load taken over
			}
			if err == nil && ctx.Err() != nil {
				return context.Cause(ctx) // no COMMIT is sent: it rolls back
			}
			atCommit = err == nil
			return err
		})
		committed = err == nil
		switch {
		case committed, errors.Is(err, errCheckpointMoved):
			// This try's outcome is known, and with it an earlier one's: a
			// checkpoint that moved says it committed, one that did not
			// that it did not.
			lost = nil
		case atCommit && lostCommit(err):
			lost = &lostTry{kept: kept, n: n, drops: drops, rej: rej, failure: failure, xid: xid}
		}
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
		if lost != nil {
			span.to = g[lost.kept-1].to
		}
		switch {
		case committed: // the kept chunks are stored; failure stopped the next one
			err = Interpret("commit telemetry chunk", err)
		case lost != nil:
			// A COMMIT's answer was lost (the context ended while it was
			// on the way, as a Close that gives up does, or the connection
			// died and the retries could not ask): ask once more.
			landed, known := s.commitOutcome(ctx, in, span, lost.xid)
			switch {
			case !known:
				return 0, 0, Permanent(fmt.Errorf("commit telemetry chunk (%s): %w: %w", lostWhere(in, span, lost.xid), ErrOutcomeUnknown, err))
			case !landed:
				return 0, 0, Interpret("commit telemetry chunk", err)
			}
			// Stored all the same (a two-phase commit on Citus takes a
			// while): the chunks count, and the append stops with the
			// failure that ended it.
			s.log.InfoContext(ctx, "telemetry chunk committed though its answer was lost", "input", in.Name, "edges", lost.n)
			kept, n, drops, rej, committed = lost.kept, lost.n, lost.drops, lost.rej, true
			if lost.failure != nil {
				err = lost.failure
			}
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

// lostTry is what a try of commitPart whose COMMIT's answer was lost
// would have stored, had it committed.
type lostTry struct {
	kept    int
	n       int64
	drops   map[graph.DropReason]int64
	rej     []refusedRow
	failure error
	xid     int64 // 0 with a named input: its checkpoint tells
}

// lostCommit reports whether err, the failure of a COMMIT sent on a live
// context, leaves its outcome unknown: the COMMIT may have reached the
// server and the answer was lost (the connection died, or the context
// ended while it waited). It is known not to have committed only when the
// server answered with an ERROR (the transaction rolled back) or with
// ROLLBACK. A FATAL answer is no proof: a backend terminated just after
// its commit record says so too. Nor is pgconn.SafeToRetry: pgx v5.12
// reports a connection that died while it read the COMMIT's answer as
// "conn closed", an error it says was met before anything was sent.
func lostCommit(err error) bool {
	if errors.Is(err, pgx.ErrTxCommitRollback) {
		return false
	}
	var pgErr *pgconn.PgError
	return !errors.As(err, &pgErr) || pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC"
}

// lostWhere says how to learn later whether a lost COMMIT landed.
func lostWhere(in TelemetryInput, span copyJob, xid int64) string {
	if in.Name != "" {
		return fmt.Sprintf("edges %d to %d of %s: its checkpoint tells once the server answers", span.from, span.to, in.Name)
	}
	return fmt.Sprintf("transaction %d: SELECT txid_status(%d) tells once the server answers", xid, xid)
}

// commitOutcome asks whether the try of a chunk whose COMMIT's answer was
// lost committed after all: the input's checkpoint is past the chunk, or
// (without a named input) its transaction xid committed. It asks on a
// context of its own for at most cancelCheckTimeout; known is false when
// it cannot tell (the server silent or gone).
func (s *Store) commitOutcome(ctx context.Context, in TelemetryInput, job copyJob, xid int64) (committed, known bool) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelCheckTimeout)
	defer cancel()
	if in.Name != "" {
		cp, err := s.q.TelemetryCheckpointGet(actx, gen.TelemetryCheckpointGetParams{Input: in.Name, ContentHash: in.ContentHash})
		return err == nil && cp.Edges >= job.to, err == nil
	}
	for {
		done, err := s.committedBefore(actx, xid)
		if !errors.Is(err, errCommitPending) {
			return done, err == nil
		}
		select {
		case <-actx.Done():
			return false, false
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// cancelCheckTimeout bounds commitOutcome.
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

package partman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/store"
)

// MaintainOptions configure Maintain.
type MaintainOptions struct {
	Options
	// Keep, when positive, makes every round also Prune the partitions that
	// end at or before now − Keep. Zero keeps everything.
	Keep time.Duration
	// Mode is how pruned partitions are removed; required when Keep is set.
	Mode Mode
}

// Maintain runs Ensure, and Prune when opts.Keep is set, at once and then
// every interval until ctx is done, logging what each round did; a failed
// round is logged and the next one tries again. It is what a long-running
// service or `intel partitions maintain --every 1h` runs. It returns an
// error at once for invalid arguments, and for a round that failed in a
// way no later round can mend: the role may not keep the partitions
// (ErrInsufficientPrivilege), or there is no such partitioned table
// (ErrNoTable, ErrNotPartitioned). A maintainer run as the writer role
// logged an error every round, forever, made no partition, and ended with
// success: its service manager showed it running. On a read-only server (a
// hot standby, ErrStandby; default_transaction_read_only, ErrReadOnly) a
// round is skipped: one WARN for a run of such rounds, an INFO when the
// server takes writes again.
//
// When ctx ends it returns nil if it was waiting between rounds and the
// last round succeeded, or was skipped on a standby: nothing was left
// undone. Otherwise it returns a
// *StoppedError: ctx ended inside a round (whose work was cut: before, that
// was nil too, a stop that left days unmade told as a success), or after a
// round that failed.
func Maintain(ctx context.Context, pool *pgxpool.Pool, every time.Duration, opts MaintainOptions) error {
	_, err := MaintainRounds(ctx, pool, every, opts)
	return err
}

// Rounds counts the rounds of a maintainer.
type Rounds struct {
	// Done is how many rounds ran to their end.
	Done int
	// Skipped is how many were skipped on a read-only server (not in Done:
	// they did nothing).
	Skipped int
}

// MaintainRounds is Maintain, and it returns how many rounds ran to their
// end and how many were skipped on a read-only server.
func MaintainRounds(ctx context.Context, pool *pgxpool.Pool, every time.Duration, opts MaintainOptions) (Rounds, error) {
	if every <= 0 {
		return Rounds{}, fmt.Errorf("maintain partitions: %w: interval must be positive, got %s", ErrInvalidArgument, every)
	}
	if opts.Keep < 0 {
		return Rounds{}, fmt.Errorf("maintain partitions: %w: keep must not be negative, got %s", ErrInvalidArgument, opts.Keep)
	}
	if opts.Keep > 0 {
		if err := opts.Mode.valid(); err != nil {
			return Rounds{}, fmt.Errorf("maintain partitions: %w", err)
		}
	}
	o := opts.withDefaults()
	tick := time.NewTicker(every)
	defer tick.Stop()
	var stopped StoppedError
	var ro readOnlyStreak
	// stop ends Maintain between rounds.
	stop := func() (Rounds, error) {
		if stopped.LastErr == nil {
			return Rounds{Done: stopped.Rounds, Skipped: stopped.Skipped}, nil
		}
		stopped.Cause = context.Cause(ctx)
		return Rounds{Done: stopped.Rounds, Skipped: stopped.Skipped}, &stopped
	}
	for {
		var r roundOutcome
		why := serverReadOnly(ctx, pool)
		if ctx.Err() != nil {
			// Stopped before the round did anything (the check failed, or
			// answered, as ctx ended): between rounds. Before, the round
			// ran on the ended context and was reported cut, "round 5 cut:
			// ensure made 0 of 0 day partitions", when a stop came while
			// the check of a read-only server ran.
			if stopped.Rounds+stopped.Skipped == 0 {
				// No round at all: not a success.
				stopped.InRound, stopped.Done, stopped.Cause = true, "stopped before it began", context.Cause(ctx)
				return Rounds{}, &stopped
			}
			return stop()
		}
		if why != nil {
			r = roundOutcome{err: why, skipped: true}
		} else {
			r = maintainRound(ctx, pool, opts.Keep, opts.Mode, o)
			if r.cut == "" && store.ReadOnly(r.err) {
				// Turned read-only between the check and the round.
				why := serverReadOnly(ctx, pool)
				if why == nil {
					why = ErrReadOnly
				}
				r = roundOutcome{err: fmt.Errorf("%w: %w", why, r.err), skipped: true}
			}
		}
		if hopeless(r.err) {
			return Rounds{Done: stopped.Rounds, Skipped: stopped.Skipped}, fmt.Errorf("maintain partitions: %w", r.err)
		}
		if r.cut != "" {
			stopped.InRound, stopped.Done, stopped.Cause = true, r.cut, context.Cause(ctx)
			return Rounds{Done: stopped.Rounds, Skipped: stopped.Skipped}, &stopped
		}
		if r.skipped {
			stopped.Skipped++
		} else {
			stopped.Rounds++
		}
		stopped.LastErr = r.err
		ro.after(ctx, o.Logger, r, every)
		if r.skipped && errors.Is(r.err, ErrStandby) {
			// A standby's partitions are the primary's, replicated: a
			// skipped round there leaves nothing undone.
			stopped.LastErr = nil
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
		if ctx.Err() != nil { // between rounds, even when the tick came too
			return stop()
		}
	}
}

// StoppedError is what Maintain returns when its context ends inside a
// round, or after a round that failed.
type StoppedError struct {
	// Rounds is how many rounds ran to their end.
	Rounds int
	// Skipped is how many rounds were skipped on a read-only server (not
	// in Rounds: they did nothing).
	Skipped int
	// InRound: the context ended inside round Rounds+Skipped+1, and Done
	// says what that round had done by then.
	InRound bool
	Done    string
	// LastErr is the failure of the last round that ran to its end (when
	// not InRound), logged when it happened.
	LastErr error
	// Cause is the context's cause.
	Cause error
}

func (e *StoppedError) Error() string {
	rounds := fmt.Sprintf("%d rounds done", e.Rounds)
	if e.Rounds == 1 {
		rounds = "1 round done"
	}
	if e.Skipped > 0 {
		rounds += fmt.Sprintf(", %d skipped (read-only server)", e.Skipped)
	}
	if e.InRound {
		return fmt.Sprintf("maintain partitions: %s; round %d cut: %s: %v", rounds, e.Rounds+e.Skipped+1, e.Done, e.Cause)
	}
	if errors.Is(e.LastErr, ErrReadOnly) {
		return fmt.Sprintf("maintain partitions: %s, the last one skipped: %v", rounds, e.LastErr)
	}
	return fmt.Sprintf("maintain partitions: %s, the last one failed: %v", rounds, e.LastErr)
}

// Unwrap gives the context's cause (and the last round's failure).
func (e *StoppedError) Unwrap() []error {
	return []error{e.Cause, e.LastErr}
}

// hopeless says whether a round's error will fail every later round too.
func hopeless(err error) bool {
	return errors.Is(err, ErrInsufficientPrivilege) || errors.Is(err, ErrNoTable) || errors.Is(err, ErrNotPartitioned)
}

// roundOutcome is what one round of Maintain came to: err, the first
// error (one that hopeless says no later round mends is not logged: the
// caller reports it); cut, when ctx ended inside the round, what it had
// done by then.
type roundOutcome struct {
	err error
	cut string
	// skipped: the server was read-only (err is ErrStandby or
	// ErrReadOnly): the round made and removed nothing.
	skipped bool
}

// ErrStandby is the reason a round of Maintain is skipped on a hot
// standby (pg_is_in_recovery): its partitions are the primary's, made
// there and replicated; the maintainer waits for a promotion.
var ErrStandby = errors.New("the server is a hot standby (in recovery): partitions are kept on the primary and replicated; " +
	"maintain skips its rounds until the server is promoted")

// ErrReadOnly is the reason a round of Maintain is skipped on a server
// that is not a standby but runs read-only transactions
// (default_transaction_read_only = on for the server, the database or the
// role, or in the connection's options): no partition can be made or
// removed until that is undone.
var ErrReadOnly = errors.New("the server runs read-only transactions (default_transaction_read_only = on, for the server, " +
	"the database, the role or in the connection's options): no partition can be made or removed; " +
	"maintain skips its rounds until it is writable")

// serverReadOnly says why the server cannot take a round's writes now
// (ErrStandby, ErrReadOnly), or nil. A failure to ask is nil: the round
// then runs and fails (and is logged) as it would have.
func serverReadOnly(ctx context.Context, pool *pgxpool.Pool) error {
	var standby, readOnly bool
	err := pool.QueryRow(ctx, "SELECT pg_is_in_recovery(), current_setting('transaction_read_only') = 'on'").Scan(&standby, &readOnly)
	switch {
	case err != nil:
		return nil
	case standby:
		return ErrStandby
	case readOnly:
		return ErrReadOnly
	}
	return nil
}

// readOnlyStreak logs a run of rounds skipped on a read-only server once:
// a WARN at its first round, DEBUG for the others, and an INFO when the
// server takes writes again. Before, every round of a maintainer on a
// standby logged an ERROR per failed statement, for as long as it ran.
type readOnlyStreak struct {
	skipped int
}

func (s *readOnlyStreak) after(ctx context.Context, log *slog.Logger, r roundOutcome, every time.Duration) {
	switch {
	case r.skipped && s.skipped == 0:
		s.skipped = 1
		log.LogAttrs(ctx, slog.LevelWarn, "partman: round skipped, and the rounds after it while this lasts (logged at DEBUG): "+r.err.Error(),
			slog.Duration("checking_every", every))
	case r.skipped:
		s.skipped++
		log.LogAttrs(ctx, slog.LevelDebug, "partman: round skipped: the server is still read-only", slog.Int("skipped", s.skipped))
	case s.skipped > 0:
		log.LogAttrs(ctx, slog.LevelInfo, "partman: the server takes writes again: rounds resume",
			slog.Int("skipped", s.skipped), slog.Bool("round_ok", r.err == nil))
		s.skipped = 0
	}
}

// maintainRound runs one Ensure and, with keep set, one Prune, and logs
// them.
func maintainRound(ctx context.Context, pool *pgxpool.Pool, keep time.Duration, mode Mode, o Options) roundOutcome {
	start := time.Now()
	res, err := Ensure(ctx, pool, o)
	if err != nil && ctx.Err() != nil {
		return roundOutcome{cut: "ensure " + res.Progress()}
	}
	attrs := []slog.Attr{
		slog.String("parent", o.Parent), slog.Int("days", len(res.Days)), slog.Int("created", res.Created()),
		slog.Int64("moved_rows", res.MovedRows()), slog.Duration("took", time.Since(start)),
	}
	if hopeless(err) || store.ReadOnly(err) {
		return roundOutcome{err: err} // the caller says it: logged here too, it was printed twice
	}
	if err != nil {
		o.Logger.LogAttrs(ctx, slog.LevelError, "partman: ensure round failed", append(attrs, slog.Any("error", err))...)
	} else {
		o.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: ensure round done", attrs...)
	}
	if keep <= 0 {
		return roundOutcome{err: err}
	}
	ensureErr := err
	start = time.Now()
	pr, err := Prune(ctx, pool, keep, mode, o)
	if err != nil && ctx.Err() != nil {
		return roundOutcome{cut: "ensure done; prune " + pr.Progress()}
	}
	attrs = []slog.Attr{
		slog.String("parent", o.Parent), slog.String("mode", string(mode)), slog.Time("cutoff", pr.Cutoff),
		slog.Int("removed", len(pr.Removed)), slog.Int("kept", pr.Kept), slog.Duration("took", time.Since(start)),
	}
	if hopeless(err) || store.ReadOnly(err) {
		return roundOutcome{err: err} // the caller says it: logged here too, it was printed twice
	}
	if err != nil {
		o.Logger.LogAttrs(ctx, slog.LevelError, "partman: prune round failed", append(attrs, slog.Any("error", err))...)
	} else {
		o.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: prune round done", attrs...)
	}
	return roundOutcome{err: errors.Join(ensureErr, err)}
}

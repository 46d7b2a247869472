package partman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
// service or `intel partitions maintain --every 1h` runs. It returns nil
// when ctx is done, or an error at once for invalid arguments, and for a
// round that failed in a way no later round can mend: the role may not
// keep the partitions (ErrInsufficientPrivilege), or there is no such
// partitioned table (ErrNoTable, ErrNotPartitioned). A maintainer run as
// the writer role logged an error every round, forever, made no partition,
// and ended with success: its service manager showed it running.
func Maintain(ctx context.Context, pool *pgxpool.Pool, every time.Duration, opts MaintainOptions) error {
	if every <= 0 {
		return fmt.Errorf("maintain partitions: %w: interval must be positive, got %s", ErrInvalidArgument, every)
	}
	if opts.Keep < 0 {
		return fmt.Errorf("maintain partitions: %w: keep must not be negative, got %s", ErrInvalidArgument, opts.Keep)
	}
	if opts.Keep > 0 {
		if err := opts.Mode.valid(); err != nil {
			return fmt.Errorf("maintain partitions: %w", err)
		}
	}
	o := opts.withDefaults()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := maintainRound(ctx, pool, opts.Keep, opts.Mode, o); hopeless(err) {
			return fmt.Errorf("maintain partitions: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// hopeless says whether a round's error will fail every later round too.
func hopeless(err error) bool {
	return errors.Is(err, ErrInsufficientPrivilege) || errors.Is(err, ErrNoTable) || errors.Is(err, ErrNotPartitioned)
}

// maintainRound runs one Ensure and, with keep set, one Prune, and logs
// them. It returns the first error that hopeless says no later round
// mends (without logging it: the caller reports it), else nil.
func maintainRound(ctx context.Context, pool *pgxpool.Pool, keep time.Duration, mode Mode, o Options) error {
	start := time.Now()
	res, err := Ensure(ctx, pool, o)
	if ctx.Err() != nil {
		return nil
	}
	attrs := []slog.Attr{
		slog.String("parent", o.Parent), slog.Int("days", len(res.Days)), slog.Int("created", res.Created()),
		slog.Int64("moved_rows", res.MovedRows()), slog.Duration("took", time.Since(start)),
	}
	if hopeless(err) {
		return err // the caller says it: logged here too, it was printed twice
	}
	if err != nil {
		o.Logger.LogAttrs(ctx, slog.LevelError, "partman: ensure round failed", append(attrs, slog.Any("error", err))...)
	} else {
		o.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: ensure round done", attrs...)
	}
	if keep <= 0 {
		return nil
	}
	start = time.Now()
	pr, err := Prune(ctx, pool, keep, mode, o)
	if ctx.Err() != nil {
		return nil
	}
	attrs = []slog.Attr{
		slog.String("parent", o.Parent), slog.String("mode", string(mode)), slog.Time("cutoff", pr.Cutoff),
		slog.Int("removed", len(pr.Removed)), slog.Int("kept", pr.Kept), slog.Duration("took", time.Since(start)),
	}
	if hopeless(err) {
		return err // the caller says it: logged here too, it was printed twice
	}
	if err != nil {
		o.Logger.LogAttrs(ctx, slog.LevelError, "partman: prune round failed", append(attrs, slog.Any("error", err))...)
	} else {
		o.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: prune round done", attrs...)
	}
	return nil
}

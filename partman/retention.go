package partman

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgerrcode"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// Retention is the retention of a table as the last Prune recorded it.
type Retention = store.Retention

// horizon returns the first UTC day that may have a partition of t: the
// day of now − Options.Retention, or of now − the keep the last Prune
// recorded; the zero time when there is no retention. keepLate says the
// rows of earlier days are kept in the default partition rather than
// dropped (Options.KeepLateRows, or the policy Prune recorded).
func horizon(ctx context.Context, db store.DBTX, t table, opts Options) (h time.Time, keepLate bool, err error) {
	keep, keepLate := opts.Retention, opts.KeepLateRows
	if keep <= 0 {
		r, ok, err := store.GetRetention(ctx, db, t.String())
		switch {
		case store.Code(err) == pgerrcode.UndefinedTable: // schema older than migration 00010
			return time.Time{}, keepLate, nil
		case store.Code(err) == pgerrcode.InsufficientPrivilege:
			opts.Logger.LogAttrs(ctx, slog.LevelWarn, "partman: retention not readable by this role; no day is refused",
				slog.String("parent", t.String()), slog.Any("error", err))
			return time.Time{}, keepLate, nil
		case err != nil:
			return time.Time{}, keepLate, err
		case !ok:
			return time.Time{}, keepLate, nil
		}
		keep, keepLate = r.Keep, keepLate || r.KeepLateRows
	}
	return graph.UTCDay(opts.Now().Add(-keep)), keepLate, nil
}

// splitRetention splits days (taken as UTC days) into those at or after the
// horizon and those before it, which must not get a partition again, and
// says whether the rows of those are kept (see horizon).
func splitRetention(ctx context.Context, db store.DBTX, t table, days []time.Time, opts Options) (keep, refused []time.Time, keepLate bool, err error) {
	h, keepLate, err := horizon(ctx, db, t, opts)
	if err != nil {
		return nil, nil, false, fmt.Errorf("ensure partitions of %s: %w", t, err)
	}
	refused = []time.Time{}
	for _, d := range days {
		if d = graph.UTCDay(d); !h.IsZero() && d.Before(h) {
			refused = append(refused, d)
		} else {
			keep = append(keep, d)
		}
	}
	return keep, refused, keepLate, nil
}

// mayMaintain returns an error wrapping ErrInsufficientPrivilege unless
// the current role has the privileges of t's owner and may create tables
// in its schema.
func mayMaintain(ctx context.Context, db store.DBTX, t table) error {
	owns, canCreate, err := store.PartitionPrivileges(ctx, db, t.ident())
	switch {
	case err != nil:
		return err
	case !owns:
		return fmt.Errorf("%w: the current role is not (a member of) the owner of %s", ErrInsufficientPrivilege, t)
	case !canCreate:
		return fmt.Errorf("%w: the current role may not create tables in schema %s", ErrInsufficientPrivilege, quoteIfNeeded(t.schema))
	}
	return nil
}

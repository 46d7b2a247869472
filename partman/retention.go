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
// recorded. It is the zero time when there is no retention.
func horizon(ctx context.Context, db store.DBTX, t table, opts Options) (time.Time, error) {
	keep := opts.Retention
	if keep <= 0 {
		r, ok, err := store.GetRetention(ctx, db, t.String())
		switch {
		case store.Code(err) == pgerrcode.UndefinedTable: // schema older than migration 00010
			return time.Time{}, nil
		case store.Code(err) == pgerrcode.InsufficientPrivilege:
			opts.Logger.LogAttrs(ctx, slog.LevelWarn, "partman: retention not readable by this role; no day is refused",
				slog.String("parent", t.String()), slog.Any("error", err))
			return time.Time{}, nil
		case err != nil:
			return time.Time{}, err
		case !ok:
			return time.Time{}, nil
		}
		keep = r.Keep
	}
	return graph.UTCDay(opts.Now().Add(-keep)), nil
}

// splitRetention splits days (taken as UTC days) into those at or after the
// horizon and those before it, which must not get a partition again.
func splitRetention(ctx context.Context, db store.DBTX, t table, days []time.Time, opts Options) (keep, refused []time.Time, err error) {
	h, err := horizon(ctx, db, t, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("ensure partitions of %s: %w", t, err)
	}
	refused = []time.Time{}
	for _, d := range days {
		if d = graph.UTCDay(d); !h.IsZero() && d.Before(h) {
			refused = append(refused, d)
		} else {
			keep = append(keep, d)
		}
	}
	return keep, refused, nil
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

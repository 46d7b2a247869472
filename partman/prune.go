package partman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ransomeye/intel/store"
)

// Mode is what Prune does with a partition it removes from the table.
type Mode string

const (
	// Drop detaches the partition and drops it: its rows are gone.
	Drop Mode = "drop"
	// Detach detaches the partition and moves it, rows and indexes, into the
	// archive schema (Options.ArchiveSchema), where it stays a plain table.
	Detach Mode = "detach"
)

// ParseMode reads "drop" or "detach" (any case).
func ParseMode(s string) (Mode, error) {
	m := Mode(strings.ToLower(strings.TrimSpace(s)))
	if err := m.valid(); err != nil {
		return "", err
	}
	return m, nil
}

func (m Mode) valid() error {
	if m != Drop && m != Detach {
		return fmt.Errorf("%w %q (want %q or %q)", ErrInvalidMode, string(m), Drop, Detach)
	}
	return nil
}

// PruneResult is what Prune did.
type PruneResult struct {
	// Parent is the partitioned table, schema-qualified.
	Parent string `json:"parent"`
	// Mode is what was done with the removed partitions.
	Mode Mode `json:"mode"`
	// Cutoff is now − keep: partitions whose upper bound is at or before it
	// are removed.
	Cutoff time.Time `json:"cutoff"`
	// ArchiveSchema is where Detach mode put the partitions ("" for Drop).
	ArchiveSchema string `json:"archive_schema,omitempty"`
	// Removed are the partitions removed, oldest first, as they were before
	// removal (schema and name are the original ones).
	Removed []Partition `json:"removed"`
	// Kept is how many bounded partitions the parent still has.
	Kept int `json:"kept"`
}

// Prune removes from Options.Parent every partition whose upper bound, read
// from the catalog (never from its name), is at or before now − keep: whole
// partitions only, never with DELETE, and never the default partition or a
// partition bounded by MAXVALUE. In Drop mode each one is detached and
// dropped; in Detach mode it is detached and moved into Options.ArchiveSchema
// (created if missing), keeping its name.
//
// Each partition is its own transaction with Options.LockTimeout and retries,
// like Ensure: detaching needs an ACCESS EXCLUSIVE lock on the parent for a
// moment, and a reader holding the table makes the attempt give up quickly
// rather than stall everyone queued behind it. If a partition still cannot
// be locked, Prune stops there with an error wrapping ErrLockTimeout. A
// partition that another process removed meanwhile is skipped.
func Prune(ctx context.Context, pool *pgxpool.Pool, keep time.Duration, mode Mode, opts Options) (PruneResult, error) {
	opts = opts.withDefaults()
	if keep <= 0 {
		return PruneResult{}, fmt.Errorf("prune partitions: %w: keep must be positive, got %s", ErrInvalidArgument, keep)
	}
	if err := mode.valid(); err != nil {
		return PruneResult{}, fmt.Errorf("prune partitions: %w", err)
	}
	t, err := resolve(ctx, pool, opts.Parent)
	if err != nil {
		return PruneResult{}, fmt.Errorf("prune partitions: %w", err)
	}
	l, err := listTx(ctx, pool, t, opts)
	if err != nil {
		return PruneResult{}, err
	}
	res := PruneResult{Parent: t.String(), Mode: mode, Cutoff: opts.Now().Add(-keep).UTC(), Removed: []Partition{}}
	var old []Partition
	for _, p := range l.Partitions {
		if p.To != nil && !p.To.After(res.Cutoff) {
			old = append(old, p)
		}
	}
	if mode == Detach {
		res.ArchiveSchema = opts.ArchiveSchema
		if len(old) > 0 {
			if err := createSchema(ctx, pool, opts.ArchiveSchema); err != nil {
				return res, err
			}
		}
	}

	var (
		errs []error
		gone int
	)
	for _, p := range old {
		wasGone, err := prunePartition(ctx, pool, t, p, mode, opts)
		switch {
		case err != nil:
			errs = append(errs, err)
			opts.Logger.LogAttrs(ctx, slog.LevelError, "partman: partition not pruned",
				slog.String("parent", t.String()), slog.String("partition", QualifiedName(p.Schema, p.Name)),
				slog.String("mode", string(mode)), slog.Any("error", err))
		case wasGone:
			gone++
			opts.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: partition already gone",
				slog.String("parent", t.String()), slog.String("partition", QualifiedName(p.Schema, p.Name)))
		default:
			res.Removed = append(res.Removed, p)
			opts.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: partition pruned",
				slog.String("parent", t.String()), slog.String("partition", QualifiedName(p.Schema, p.Name)),
				slog.String("mode", string(mode)), slog.Time("to", *p.To), slog.Time("cutoff", res.Cutoff))
		}
		if err != nil && (errors.Is(err, ErrLockTimeout) || ctx.Err() != nil) {
			break
		}
	}
	res.Kept = len(l.Partitions) - len(res.Removed) - gone
	return res, errors.Join(errs...)
}

// prunePartition detaches p from t and drops it or moves it to the archive
// schema, in one transaction. gone is true when p was no longer a partition
// of t (another process pruned it first).
func prunePartition(ctx context.Context, pool *pgxpool.Pool, t table, p Partition, mode Mode, opts Options) (gone bool, err error) {
	child := pgx.Identifier{p.Schema, p.Name}.Sanitize()
	what := fmt.Sprintf("%s partition %s of %s", mode, QualifiedName(p.Schema, p.Name), t)
	_, err = inTx(ctx, pool, opts, what, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s", t.ident(), child)); err != nil {
			return err
		}
		var stmt string
		if mode == Drop {
			stmt = "DROP TABLE " + child
		} else {
			stmt = fmt.Sprintf("ALTER TABLE %s SET SCHEMA %s", child, pgx.Identifier{opts.ArchiveSchema}.Sanitize())
		}
		_, err := tx.Exec(ctx, stmt)
		return err
	})
	if store.Code(err) == pgerrcode.UndefinedTable { // not (or no longer) a partition
		return true, nil
	}
	return false, err
}

// createSchema creates schema unless it exists. Two processes creating it
// at once may collide on the catalog's unique index; the loser finds it.
func createSchema(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	_, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
	if code := store.Code(err); code == pgerrcode.UniqueViolation || code == pgerrcode.DuplicateSchema {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create archive schema %s: %w", quoteIfNeeded(schema), err)
	}
	return nil
}

package partman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ransomeye/intel/graph"
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
	// ArchivedAs maps the partitions Detach mode had to archive under
	// another name, because the archive schema held one of that name
	// already (a day pruned twice), to that name: <name>_2, <name>_3, ...
	ArchivedAs map[string]string `json:"archived_as,omitempty"`
	// Kept is how many bounded partitions the parent still has.
	Kept int `json:"kept"`
	// DefaultRowsRemoved counts the rows of the default partition from
	// before the UTC day of the cutoff that were deleted (Drop) or moved
	// into DefaultArchive (Detach): late rows of pruned days.
	DefaultRowsRemoved int64 `json:"default_rows_removed"`
	// DefaultArchive is the archive table those rows were moved into.
	DefaultArchive string `json:"default_archive,omitempty"`
}

// Progress says how far the prune got, for the line of a command cut
// short: what it removed; the retention is recorded before the first
// partition is removed.
func (r PruneResult) Progress() string {
	if r.Cutoff.IsZero() {
		return "nothing removed, no retention recorded"
	}
	return fmt.Sprintf("retention before %s recorded, %d partitions removed (%s), the rest not", r.Cutoff.Format(time.RFC3339), len(r.Removed), r.Mode)
}

// Prune removes from Options.Parent every partition whose upper bound, read
// from the catalog (never from its name), is at or before now − keep: whole
// partitions only, never a partition bounded by MAXVALUE. In Drop mode each
// one is detached and dropped; in Detach mode it is detached and moved into
// Options.ArchiveSchema (created if missing), keeping its name unless the
// archive has a table (or index) of that name already: then it gets the
// first free <name>_N (PruneResult.ArchivedAs). The rows of the default
// partition from before the UTC day of the cutoff (late rows of pruned
// days) are deleted, or in Detach mode moved into a new archive table
// <default>_before_YYYY_MM_DD, and counted.
//
// Prune first checks that the current role may remove partitions (it has
// the privileges of the table's owner; else an error wrapping
// ErrInsufficientPrivilege, and nothing changes), then records keep and Options.KeepLateRows in the database (table
// partition_retention): from then on Ensure and DayEnsurer refuse the days
// before now − keep, so a pruned day is not made again by a late row, and
// writers drop such rows, or keep them in the default partition.
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
	// A role that may not remove partitions must not record a retention
	// either: writers would drop the rows of the days before it.
	if err := mayMaintain(ctx, pool, t); err != nil {
		return PruneResult{}, fmt.Errorf("prune partitions: %w", err)
	}
	l, err := listTx(ctx, pool, t, opts)
	if err != nil {
		return PruneResult{}, err
	}
	res := PruneResult{Parent: t.String(), Mode: mode, Cutoff: opts.Now().Add(-keep).UTC(), Removed: []Partition{}}
	if err := store.SetRetention(ctx, pool, t.String(), Retention{Keep: keep, Mode: string(mode), Cutoff: res.Cutoff, KeepLateRows: opts.KeepLateRows}); err != nil {
		if store.Code(err) == pgerrcode.InsufficientPrivilege {
			err = fmt.Errorf("%w: %w", ErrInsufficientPrivilege, err)
		}
		return res, fmt.Errorf("prune partitions: %w", err)
	}
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
		archived, wasGone, err := prunePartition(ctx, pool, t, p, mode, opts)
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
			if archived != "" && archived != p.Name {
				if res.ArchivedAs == nil {
					res.ArchivedAs = map[string]string{}
				}
				res.ArchivedAs[p.Name] = archived
			}
			opts.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: partition pruned",
				slog.String("parent", t.String()), slog.String("partition", QualifiedName(p.Schema, p.Name)),
				slog.String("mode", string(mode)), slog.Time("to", *p.To), slog.Time("cutoff", res.Cutoff))
		}
		if err != nil && (errors.Is(err, ErrLockTimeout) || ctx.Err() != nil) {
			break
		}
	}
	res.Kept = len(l.Partitions) - len(res.Removed) - gone
	if len(errs) == 0 && l.Default != nil {
		res.DefaultRowsRemoved, res.DefaultArchive, err = pruneDefault(ctx, pool, t, *l.Default, graph.UTCDay(res.Cutoff), mode, opts)
		if err != nil {
			errs = append(errs, err)
		} else if res.DefaultRowsRemoved > 0 {
			opts.Logger.LogAttrs(ctx, slog.LevelInfo, "partman: late rows pruned from the default partition",
				slog.String("parent", t.String()), slog.String("mode", string(mode)),
				slog.Int64("rows", res.DefaultRowsRemoved), slog.String("archive", res.DefaultArchive))
		}
	}
	return res, errors.Join(errs...)
}

// pruneDefault deletes the rows of t's default partition def whose key is
// before before, or in Detach mode moves them into a new table of the
// archive schema, in one transaction. It returns how many rows and the
// archive table's name ("" when none was made).
func pruneDefault(ctx context.Context, pool *pgxpool.Pool, t table, def Partition, before time.Time, mode Mode, opts Options) (int64, string, error) {
	var (
		n       int64
		archive string
	)
	defIdent := pgx.Identifier{def.Schema, def.Name}.Sanitize()
	key := pgx.Identifier{t.key}.Sanitize()
	what := fmt.Sprintf("%s rows before %s of the default partition %s", mode, before.Format(time.DateOnly), QualifiedName(def.Schema, def.Name))
	_, err := maintenanceTx(ctx, pool, opts, what, func(ctx context.Context, tx pgx.Tx) error {
		n, archive = 0, ""
		if err := citusSequential(ctx, tx); err != nil {
			return err
		}
		if mode == Drop {
			tag, err := tx.Exec(ctx, fmt.Sprintf("DELETE FROM %s WHERE %s < $1", defIdent, key), before)
			n = tag.RowsAffected()
			return err
		}
		var some bool
		if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE %s < $1)", defIdent, key), before).Scan(&some); err != nil || !some {
			return err
		}
		schema := pgx.Identifier{opts.ArchiveSchema}.Sanitize()
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema); err != nil {
			return err
		}
		name, err := freeName(ctx, tx, def.Name+"_before_"+before.Format("2006_01_02"), opts.ArchiveSchema)
		if err != nil {
			return err
		}
		dst := pgx.Identifier{opts.ArchiveSchema, name}.Sanitize()
		if _, err := tx.Exec(ctx, fmt.Sprintf(
			"CREATE TABLE %s (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)", dst, t.ident())); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, fmt.Sprintf(
			"WITH moved AS (DELETE FROM %s WHERE %s < $1 RETURNING *) INSERT INTO %s SELECT * FROM moved", defIdent, key, dst), before)
		n, archive = tag.RowsAffected(), QualifiedName(opts.ArchiveSchema, name)
		return err
	})
	if err != nil {
		return 0, "", err
	}
	return n, archive, nil
}

// freeName returns name, or if a relation of that name exists in one of
// schemas the first of name_2, name_3, ... that does not, cut to fit the
// 63 bytes of an identifier.
func freeName(ctx context.Context, tx pgx.Tx, name string, schemas ...string) (string, error) {
	candidate := name
	for n := 2; ; n++ {
		var taken bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
			JOIN pg_catalog.pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = ANY($1) AND c.relname = $2)`,
			schemas, candidate).Scan(&taken)
		if err != nil || !taken {
			return candidate, err
		}
		suffix := "_" + strconv.Itoa(n)
		base := name
		for len(base)+len(suffix) > maxIdentifier || !utf8.ValidString(base) {
			base = base[:len(base)-1]
		}
		candidate = base + suffix
	}
}

// renameFor returns the name a relation called name in schema from may keep
// when it moves to schema to: name when to has none of that name, else the
// first free name_N in both schemas.
func renameFor(ctx context.Context, tx pgx.Tx, name, to, from string) (string, error) {
	free, err := freeName(ctx, tx, name, to)
	if err != nil || free == name {
		return free, err
	}
	return freeName(ctx, tx, name, to, from)
}

// maxIdentifier is the longest identifier PostgreSQL keeps, in bytes.
const maxIdentifier = 63

// prunePartition detaches p from t and drops it or moves it to the archive
// schema, in one transaction. archived is its name in the archive schema
// (Detach mode). gone is true when p was no longer a partition of t
// (another process pruned it first).
func prunePartition(ctx context.Context, pool *pgxpool.Pool, t table, p Partition, mode Mode, opts Options) (archived string, gone bool, err error) {
	what := fmt.Sprintf("%s partition %s of %s", mode, QualifiedName(p.Schema, p.Name), t)
	_, err = maintenanceTx(ctx, pool, opts, what, func(ctx context.Context, tx pgx.Tx) error {
		child := pgx.Identifier{p.Schema, p.Name}.Sanitize()
		if err := citusSequential(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s DETACH PARTITION %s", t.ident(), child)); err != nil {
			return err
		}
		if mode == Drop {
			_, err := tx.Exec(ctx, "DROP TABLE "+child)
			return err
		}
		var err error
		archived, err = archiveUnder(ctx, tx, p, opts.ArchiveSchema)
		return err
	})
	if store.Code(err) == pgerrcode.UndefinedTable { // not (or no longer) a partition
		return "", true, nil
	}
	return archived, false, err
}

// archiveUnder moves the detached partition p into schema, first renaming
// it and its indexes where the schema has relations of those names already
// (a day made again after it was pruned), and returns its name there.
func archiveUnder(ctx context.Context, tx pgx.Tx, p Partition, schema string) (string, error) {
	name, err := renameFor(ctx, tx, p.Name, schema, p.Schema)
	if err != nil {
		return "", err
	}
	if name != p.Name {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s RENAME TO %s",
			pgx.Identifier{p.Schema, p.Name}.Sanitize(), pgx.Identifier{name}.Sanitize())); err != nil {
			return "", err
		}
	}
	child := pgx.Identifier{p.Schema, name}.Sanitize()
	rows, err := tx.Query(ctx, `SELECT i.relname::text FROM pg_catalog.pg_index x
		JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = $1::text::regclass ORDER BY 1`, child)
	if err != nil {
		return "", err
	}
	indexes, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	for _, idx := range indexes {
		free, err := renameFor(ctx, tx, idx, schema, p.Schema)
		if err != nil {
			return "", err
		}
		if free == idx {
			continue
		}
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER INDEX %s RENAME TO %s",
			pgx.Identifier{p.Schema, idx}.Sanitize(), pgx.Identifier{free}.Sanitize())); err != nil {
			return "", err
		}
	}
	_, err = tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s SET SCHEMA %s", child, pgx.Identifier{schema}.Sanitize()))
	return name, err
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

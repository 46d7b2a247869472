package partman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// Result is what Ensure or EnsureDays did, one entry per day, oldest first.
type Result struct {
	// Parent is the partitioned table, schema-qualified.
	Parent string `json:"parent"`
	// Days has an entry for every day that was dealt with.
	Days []DayResult `json:"days"`
	// Refused are the days given no partition because they are older than
	// the retention (see Options.Retention): making one would bring back a
	// pruned day.
	Refused []time.Time `json:"refused"`
	// DefaultCreated names the default partition this call made because
	// the table had none (someone dropped or detached it): without one, a
	// row of a day with no partition is refused by the server.
	DefaultCreated string `json:"default_created,omitempty"`
	// DefaultReattached says that DefaultCreated is the detached default
	// partition <parent>_default attached again, with its rows, rather
	// than a new table.
	DefaultReattached bool `json:"default_reattached,omitempty"`
	// Asked is how many days the call was to deal with (refused ones
	// included), to tell from Days how many it had not reached when it
	// stopped early (a lock, an interrupt).
	Asked int `json:"-"`
}

// Progress says how far the call got, for the line of a command cut short:
// "made 2 of 8 day partitions (3 existed); 3 days not reached".
func (r Result) Progress() string {
	s := fmt.Sprintf("made %d of %d day partitions (%d existed)", r.Created(), r.Asked, len(r.Days)-r.Created())
	if left := r.Asked - len(r.Days) - len(r.Refused); left > 0 {
		s += fmt.Sprintf("; %d days not reached", left)
	}
	return s
}

// DayResult is the outcome for one UTC day.
type DayResult struct {
	// Day is midnight UTC of the day.
	Day time.Time `json:"day"`
	// Partition is the child's name, <parent>_YYYY_MM_DD, in the parent's schema.
	Partition string `json:"partition"`
	// Created is true when this call created the child, false when it
	// existed already.
	Created bool `json:"created"`
	// MovedRows is how many rows of the day were moved out of the default
	// partition into the new child.
	MovedRows int64 `json:"moved_rows"`
	// Attempts is how many transactions it took (more than 1 when a lock was
	// not granted within the lock timeout at first).
	Attempts int `json:"attempts"`
}

// Created returns how many children were created.
func (r Result) Created() int {
	n := 0
	for _, d := range r.Days {
		if d.Created {
			n++
		}
	}
	return n
}

// MovedRows returns how many rows were moved out of the default partition.
func (r Result) MovedRows() int64 {
	var n int64
	for _, d := range r.Days {
		n += d.MovedRows
	}
	return n
}

// Ensure makes sure the parent (Options.Parent, default telemetry_edges) has
// a child for every UTC day from today−Behind through today+Ahead (default
// yesterday through today+6). It is idempotent and safe to run from many
// processes at once: all of them succeed and each day gets exactly one child.
// Rows of a day that wait in the default partition are moved into the new
// child in the same transaction that creates it, so none is stranded.
//
// Each day is its own transaction with lock_timeout set to
// Options.LockTimeout, retried with backoff up to Options.Retries times when
// a lock is not granted in time. If a day still fails for want of a lock,
// Ensure stops there (the same lock blocks every later day) and returns the
// days done so far with an error wrapping ErrLockTimeout that names the
// partition. Other per-day errors do not stop the remaining days; they are
// returned joined.
//
// A role that may not make partitions (see CreateRoles) gets an error
// wrapping ErrInsufficientPrivilege at once. Days older than the retention
// (Options.Retention, or the one the last Prune recorded) are not made;
// they are listed in Result.Refused.
func Ensure(ctx context.Context, pool *pgxpool.Pool, opts Options) (Result, error) {
	opts = opts.withDefaults()
	return ensureDays(ctx, pool, opts.window(), opts)
}

// EnsureWithDefault is Ensure, and it also makes the partitions of the days
// outside the window that the default partition holds rows of, moving those
// rows into them, as pg_partman's partition_data_proc does: rows of agents
// whose clocks were far off, or of a backfill older than the window, which
// Ensure leaves in the default partition (so Check keeps asking for
// attention). Days before the retention are refused as by Ensure: Prune
// removes their rows. Rows whose times are wrong are better deleted; this
// keeps them, each in the partition of its day.
func EnsureWithDefault(ctx context.Context, pool *pgxpool.Pool, opts Options) (Result, error) {
	opts = opts.withDefaults()
	t, err := resolve(ctx, pool, opts.Parent)
	if err != nil {
		return Result{}, fmt.Errorf("ensure partitions: %w", err)
	}
	days := opts.window()
	_, err = inTx(ctx, pool, opts, "read the days of the default partition of "+t.String(), func(ctx context.Context, tx pgx.Tx) error {
		l, err := list(ctx, tx, t)
		if err != nil || l.Default == nil {
			return err
		}
		counts, _, err := countByDay(ctx, tx, table{schema: l.Default.Schema, name: l.Default.Name, key: t.key})
		for _, c := range counts {
			days = append(days, c.Day)
		}
		return err
	})
	if err != nil {
		return Result{}, err
	}
	return ensureDays(ctx, pool, days, opts)
}

// DayEnsurer makes day partitions on demand for a writer:
// store.WithDayEnsurer(partman.NewDayEnsurer(pool, opts)) has the Store's
// AppendTelemetry make the partitions of the days it is about to write.
type DayEnsurer struct {
	pool   *pgxpool.Pool
	opts   Options
	denied *atomic.Bool // the role was found unable to make partitions
	// parent is Options.Parent resolved once: Horizon runs in every COPY
	// transaction of the writer.
	parent *atomic.Pointer[table]
}

// NewDayEnsurer returns a DayEnsurer on pool with opts (Parent, lock
// timeout, retries, retention, logger; the window is the writer's).
func NewDayEnsurer(pool *pgxpool.Pool, opts Options) DayEnsurer {
	return DayEnsurer{pool: pool, opts: opts, denied: new(atomic.Bool), parent: new(atomic.Pointer[table])}
}

// Horizon returns the first UTC day that may get a partition: the day of
// now − Options.Retention, or of now − the keep the last Prune recorded;
// the zero time when there is none, or when late rows are kept
// (Options.KeepLateRows, or prune --late-rows keep): they then go to the
// default partition, for the next Prune.
func (d DayEnsurer) Horizon(ctx context.Context, db store.DBTX) (time.Time, error) {
	opts := d.opts.withDefaults()
	var t table
	if p := d.parent.Load(); p != nil {
		t = *p
	} else {
		var err error
		if t, err = resolve(ctx, db, opts.Parent); err != nil {
			return time.Time{}, fmt.Errorf("read retention: %w", err)
		}
		d.parent.Store(&t)
	}
	h, keepLate, err := horizon(ctx, db, t, opts)
	if keepLate {
		return time.Time{}, err
	}
	return h, err
}

// EnsureDays makes the partitions of days (see the function EnsureDays) and
// says what became of each day:
//
//   - days older than the retention get no partition, so a pruned day never
//     comes back: they are Refused (their rows dropped), or with
//     Options.KeepLateRows (or after prune --late-rows keep) sent to the
//     Default partition;
//   - when the role may not make partitions (a writer, see CreateRoles), the
//     days that have none are Default: their rows go to the default
//     partition and the store counts them. The first time, it logs one
//     notice; it does not try again.
func (d DayEnsurer) EnsureDays(ctx context.Context, days []time.Time) (store.DayOutcome, error) {
	opts := d.opts.withDefaults()
	var out store.DayOutcome
	t, err := resolve(ctx, d.pool, opts.Parent)
	if err != nil {
		return out, fmt.Errorf("ensure partitions: %w", err)
	}
	days, refused, keepLate, err := splitRetention(ctx, d.pool, t, days, opts)
	if err != nil {
		return out, err
	}
	if keepLate {
		out.Default = refused
	} else {
		out.Refused = refused
	}
	if len(days) == 0 {
		return out, nil
	}
	if d.denied == nil || !d.denied.Load() {
		res, err := ensureAllowed(ctx, d.pool, t, days, opts)
		out.Created = res.Created()
		if !errors.Is(err, ErrInsufficientPrivilege) {
			return out, err
		}
		if d.denied != nil && !d.denied.Swap(true) {
			opts.Logger.LogAttrs(ctx, slog.LevelInfo,
				"partman: this role may not make partitions; rows of days without one go to the default partition",
				slog.String("parent", t.String()), slog.Any("error", err))
		}
	}
	var l Listing
	if l, err = listTx(ctx, d.pool, t, opts); err != nil {
		return out, err
	}
	out.Default = append(out.Default, missingDays(l.Partitions, days)...)
	return out, nil
}

// EnsureDays is Ensure for the given days (their UTC calendar days, each
// taken once) instead of the window around today: what a writer calls for
// the days of the rows it is about to insert. Which days are acceptable is
// the caller's business. Options.Ahead and Options.Behind are ignored.
func EnsureDays(ctx context.Context, pool *pgxpool.Pool, days []time.Time, opts Options) (Result, error) {
	return ensureDays(ctx, pool, days, opts.withDefaults())
}

func ensureDays(ctx context.Context, pool *pgxpool.Pool, days []time.Time, opts Options) (Result, error) {
	t, err := resolve(ctx, pool, opts.Parent)
	if err != nil {
		return Result{}, fmt.Errorf("ensure partitions: %w", err)
	}
	res := Result{Parent: t.String(), Days: []DayResult{}, Refused: []time.Time{}, Asked: len(uniqueDays(days))}
	if err := mayMaintain(ctx, pool, t); err != nil {
		return res, err
	}
	if res.DefaultCreated, res.DefaultReattached, err = ensureDefault(ctx, pool, t, opts); err != nil {
		return res, err
	}
	days, res.Refused, _, err = splitRetention(ctx, pool, t, days, opts)
	if err != nil {
		return res, err
	}
	made, err := ensureList(ctx, pool, t, days, opts)
	res.Days = made.Days
	return res, err
}

// uniqueDays is days as UTC days, each once.
func uniqueDays(days []time.Time) map[time.Time]bool {
	seen := make(map[time.Time]bool, len(days))
	for _, d := range days {
		seen[graph.UTCDay(d)] = true
	}
	return seen
}

// ensureDefault gives t a default partition when it has none (one was
// dropped or detached). A detached <parent>_default is attached again, so
// its rows are seen once more (reattached); when it cannot be (its rows
// now belong to a day's partition, its columns differ), a new table is
// made, <parent>_default with a suffix _2, _3, ..., and the rows left in
// the old one are said in a warning. It returns the name made, or "" when
// t had a default partition.
func ensureDefault(ctx context.Context, pool *pgxpool.Pool, t table, opts Options) (made string, reattached bool, err error) {
	what := "ensure the default partition of " + t.String()
	var stranded int64
	var attachErr error
	_, err = maintenanceTx(ctx, pool, opts, what, func(ctx context.Context, tx pgx.Tx) error {
		made, reattached, stranded, attachErr = "", false, 0, nil
		var missing bool
		if err := tx.QueryRow(ctx, `SELECT partdefid = 0 FROM pg_partitioned_table WHERE partrelid = $1::regclass`,
			t.ident()).Scan(&missing); err != nil || !missing {
			return err
		}
		if err := citusSequential(ctx, tx); err != nil {
			return err
		}
		// The lock a new partition takes anyway, first: a concurrent
		// Ensure waits here, then finds the default made.
		if _, err := tx.Exec(ctx, "LOCK TABLE "+t.ident()+" IN ACCESS EXCLUSIVE MODE"); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT partdefid = 0 FROM pg_partitioned_table WHERE partrelid = $1::regclass`,
			t.ident()).Scan(&missing); err != nil || !missing {
			return err
		}
		name := t.name + "_default"
		old := pgx.Identifier{t.schema, name}.Sanitize()
		var detached bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_class
			WHERE oid = to_regclass($1) AND relkind = 'r' AND NOT relispartition)`, old).Scan(&detached); err != nil {
			return err
		}
		if detached {
			if _, err := tx.Exec(ctx, "SAVEPOINT reattach"); err != nil {
				return err
			}
			_, attachErr = tx.Exec(ctx, "ALTER TABLE "+t.ident()+" ATTACH PARTITION "+old+" DEFAULT")
			if attachErr == nil {
				made, reattached = name, true
				return nil
			}
			if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT reattach"); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+old).Scan(&stranded); err != nil {
				return err
			}
		}
		for i := 2; ; i++ {
			var taken bool
			if err := tx.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`,
				pgx.Identifier{t.schema, name}.Sanitize()).Scan(&taken); err != nil {
				return err
			}
			if !taken {
				break
			}
			name = fmt.Sprintf("%s_default_%d", t.name, i)
		}
		ident := pgx.Identifier{t.schema, name}.Sanitize()
		if _, err := tx.Exec(ctx, "CREATE TABLE "+ident+" PARTITION OF "+t.ident()+" DEFAULT"); err != nil {
			return err
		}
		made = name
		return nil
	})
	if err != nil {
		return "", false, err
	}
	switch {
	case reattached:
		opts.Logger.LogAttrs(ctx, slog.LevelWarn, "partman: the default partition had been detached; attached it again",
			slog.String("parent", t.String()), slog.String("partition", QualifiedName(t.schema, made)))
	case made != "" && attachErr != nil:
		opts.Logger.LogAttrs(ctx, slog.LevelWarn, "partman: the default partition had been detached and cannot be attached again; made a new one: "+
			"the rows of the old one are seen by no query until they are moved into the parent",
			slog.String("parent", t.String()), slog.String("partition", QualifiedName(t.schema, made)),
			slog.String("detached", QualifiedName(t.schema, t.name+"_default")), slog.Int64("detached_rows", stranded),
			slog.Any("attach_error", attachErr))
	case made != "":
		opts.Logger.LogAttrs(ctx, slog.LevelWarn, "partman: the default partition was missing; made it",
			slog.String("parent", t.String()), slog.String("partition", QualifiedName(t.schema, made)))
	}
	return made, reattached, nil
}

// ensureAllowed checks that the role may make partitions of t, then makes
// those of days.
func ensureAllowed(ctx context.Context, pool *pgxpool.Pool, t table, days []time.Time, opts Options) (Result, error) {
	if err := mayMaintain(ctx, pool, t); err != nil {
		return Result{Parent: t.String(), Days: []DayResult{}}, err
	}
	return ensureList(ctx, pool, t, days, opts)
}

// ensureList makes the partitions of days, each in a transaction of its own.
func ensureList(ctx context.Context, pool *pgxpool.Pool, t table, days []time.Time, opts Options) (Result, error) {
	res := Result{Parent: t.String(), Days: []DayResult{}}
	var errs []error
	seen := make(map[time.Time]bool, len(days))
	for _, day := range days {
		day = graph.UTCDay(day)
		if seen[day] {
			continue
		}
		seen[day] = true
		d, err := ensureDay(ctx, pool, t, day, opts)
		if err != nil {
			errs = append(errs, err)
			// A spent retry budget (a Citus worker that does not answer)
			// would be spent again on every other day.
			if errors.Is(err, ErrLockTimeout) || errors.Is(err, ErrInsufficientPrivilege) || errors.Is(err, store.ErrRetryBudget) || ctx.Err() != nil {
				break
			}
			continue
		}
		res.Days = append(res.Days, d)
	}
	slices.SortFunc(res.Days, func(a, b DayResult) int { return a.Day.Compare(b.Day) })
	return res, errors.Join(errs...)
}

// ensureDay creates the child of t for day in a transaction of its own.
func ensureDay(ctx context.Context, pool *pgxpool.Pool, t table, day time.Time, opts Options) (DayResult, error) {
	res := DayResult{Day: day, Partition: partitionName(t.name, day)}
	what := fmt.Sprintf("ensure partition %s for %s", QualifiedName(t.schema, res.Partition), day.Format(time.DateOnly))
	attempts, err := maintenanceTx(ctx, pool, opts, what, func(ctx context.Context, tx pgx.Tx) error {
		if err := citusSequential(ctx, tx); err != nil {
			return err
		}
		row, err := store.EnsureDayPartition(ctx, tx, t.ident(), day)
		if err != nil {
			return err
		}
		res.Partition, res.Created, res.MovedRows = row.Name, row.Created, row.MovedRows
		if row.MovedRows > 0 {
			return citusDropLocalCopy(ctx, tx, pgx.Identifier{t.schema, row.Name}.Sanitize())
		}
		return nil
	})
	res.Attempts = attempts
	if store.Code(err) == pgerrcode.InsufficientPrivilege {
		return res, fmt.Errorf("%w: %w", ErrInsufficientPrivilege, err)
	}
	if store.Code(err) == pgerrcode.InvalidObjectDefinition {
		// "would overlap": a partition Ensure did not make (another name,
		// a range of several days) may hold the whole day already.
		if name, ok := coveringPartition(ctx, pool, t, day, opts); ok {
			res.Partition = name
			return res, nil
		}
	}
	if err != nil {
		opts.Logger.LogAttrs(ctx, slog.LevelError, "partman: partition not ensured",
			slog.String("parent", t.String()), slog.String("partition", res.Partition),
			slog.String("day", day.Format(time.DateOnly)), slog.Int("attempts", attempts),
			slog.Any("error", err))
		return res, err
	}
	level := slog.LevelDebug
	if res.Created || res.MovedRows > 0 {
		level = slog.LevelInfo
	}
	opts.Logger.LogAttrs(ctx, level, "partman: partition ensured",
		slog.String("parent", t.String()), slog.String("partition", res.Partition),
		slog.String("day", day.Format(time.DateOnly)), slog.Bool("created", res.Created),
		slog.Int64("moved_rows", res.MovedRows), slog.Int("attempts", attempts))
	return res, nil
}

// coveringPartition returns the name of the partition of t whose bounds
// hold the whole of day, if one does.
func coveringPartition(ctx context.Context, pool *pgxpool.Pool, t table, day time.Time, opts Options) (string, bool) {
	l, err := listTx(ctx, pool, t, opts)
	if err != nil {
		return "", false
	}
	end := day.AddDate(0, 0, 1)
	for _, p := range l.Partitions {
		if (p.From == nil || !p.From.After(day)) && (p.To == nil || !p.To.Before(end)) {
			return p.Name, true
		}
	}
	return "", false
}

// partitionName is the child name ensure_day_partition gives a day.
func partitionName(parent string, day time.Time) string {
	return parent + "_" + day.Format("2006_01_02")
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ransomeye/intel/partman"
)

// partitionsOptions are the flags of the partitions commands: those they
// share, and --keep, --mode and --every of prune and maintain.
type partitionsOptions struct {
	format  string
	partman partman.Options
	keep    string
	mode    string
	late    string
	every   time.Duration
	// fromDefault: ensure also makes the days the default partition holds
	// rows of (partman.EnsureWithDefault).
	fromDefault bool
	// changed: the flags given on the command line (maintain refuses
	// --mode and --late-rows without --keep).
	changed map[string]bool
}

func (a *app) partitionsCommand() *cobra.Command {
	var o partitionsOptions
	cmd := &cobra.Command{
		Use:   "partitions",
		Short: "Keep the daily telemetry partitions (ensure, list, check, prune, maintain)",
		Long: `telemetry_edges is partitioned by UTC day: telemetry_edges_YYYY_MM_DD, plus
telemetry_edges_default for rows whose day has no child. Days are UTC whatever
the session TimeZone. Making a child moves that day's rows out of the default
partition in the same transaction, so no row is stranded; each day is its own
short transaction under lock_timeout, retried, so readers are never held up
for long. Many instances may run ensure at once.`,
		Example: `  intel partitions ensure --ahead 6 --behind 1
  intel partitions check --format json
  intel partitions prune --keep 30d --mode detach
  intel partitions maintain --every 1h --keep 90d --mode drop`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&o.format, "format", "table", "table or json")
	pf.StringVar(&o.partman.Parent, "table", partman.DefaultParent, "the partitioned table")
	pf.IntVar(&o.partman.Ahead, "ahead", partman.DefaultAhead, "days after today (UTC) to have partitions for")
	pf.IntVar(&o.partman.Behind, "behind", partman.DefaultBehind, "days before today (UTC) to have partitions for")
	pf.DurationVar(&o.partman.LockTimeout, "lock-timeout", partman.DefaultLockTimeout, "longest wait for a table lock per attempt")
	pf.IntVar(&o.partman.Retries, "retries", partman.DefaultRetries, "retries after a lock timeout or a lost connection (the store's backoff)")
	intRange(pf, "ahead", 0, 3660)
	intRange(pf, "behind", 0, 3660)
	durationRange(pf, "lock-timeout", time.Millisecond, 0)
	intRange(pf, "retries", 0, 1000)

	// subcommand declares a subcommand without arguments that runs do.
	subcommand := func(c *cobra.Command, do func(context.Context, partitionsOptions) error) *cobra.Command {
		c.Args = noArgs
		c.RunE = func(cmd *cobra.Command, _ []string) error {
			o := o
			o.changed = map[string]bool{}
			cmd.Flags().Visit(func(f *pflag.Flag) { o.changed[f.Name] = true })
			return do(cmd.Context(), o)
		}
		return c
	}
	prune := subcommand(&cobra.Command{
		Use:   "prune",
		Short: "Drop or detach the day partitions that end before now - keep",
		Long: `prune removes whole day partitions whose upper bound (read from the catalog,
not the name) is at or before now - keep: --mode drop drops them, --mode detach
detaches them into the archive schema (a name taken there gets a _2, _3, ...
suffix). Rows of those days waiting in the default partition are deleted, or
moved to archive.telemetry_edges_default_before_<day>.

The retention is recorded in the database: from then on no day before
now - keep gets a partition again, and writers drop late rows of such days
(counted as before-retention), or with --late-rows keep write them to the
default partition (counted) for the next prune.`,
		Example: "  intel partitions prune --keep 30d --mode detach",
	}, a.runPartitionsPrune)
	prune.Flags().StringVar(&o.keep, "keep", "", "retention: a duration (720h) or days (30d); required")
	prune.Flags().StringVar(&o.mode, "mode", "detach", "drop or detach")
	prune.Flags().StringVar(&o.late, "late-rows", "drop", "what writers do with rows past retention: drop or keep (in the default partition)")
	maintain := subcommand(&cobra.Command{
		Use:   "maintain",
		Short: "Run ensure (and prune with --keep) now and every interval until interrupted",
		Long: `maintain runs ensure (and, with --keep, prune) at once and then every --every,
logging each round. A round that fails for a while (a lock not granted, the
server restarting) is logged at ERROR and the next round tries again. A failure
no later round can mend ends it at once with exit 1: the role may not keep the
partitions (run it as the owner role, see intel roles create) or the table is
missing. SIGINT or SIGTERM end it with exit 0 between rounds, as a service is
stopped; one that cuts a round ends it as any cut command (130, 143), and
--timeout running out exits 1, between rounds too. A signal after a round that
failed exits non-zero too: the last line says what was done and what not.
On a read-only server a round is skipped, with one WARN naming the cause and
the rounds after it at DEBUG, and work resumes (logged at INFO) once the server
takes writes: on a hot standby (a promotion may come; the primary keeps the
partitions and they replicate) a stop after skipped rounds exits 0; with
default_transaction_read_only on a server that is not a standby nothing keeps
them, and a stop after a skipped round exits non-zero saying so.`,
		Example: `  intel partitions maintain --every 1h
  intel partitions maintain --every 6h --keep 90d --mode drop`,
	}, a.runPartitionsMaintain)
	maintain.Flags().DurationVar(&o.every, "every", time.Hour, "interval between rounds")
	durationRange(maintain.Flags(), "every", time.Second, 0)
	maintain.Flags().StringVar(&o.keep, "keep", "", "also prune partitions older than this (720h or 30d)")
	maintain.Flags().StringVar(&o.mode, "mode", "detach", "drop or detach, with --keep")
	maintain.Flags().StringVar(&o.late, "late-rows", "drop", "with --keep: what writers do with rows past retention, drop or keep")
	ensure := subcommand(&cobra.Command{
		Use:   "ensure",
		Short: "Create the partitions from today-behind through today+ahead",
		Long: `ensure makes the partitions of the days from today-behind through
today+ahead that have none, moving their rows out of the default partition.
Rows of days outside that window (an agent whose clock is far off, a backfill
older than the window) stay in the default partition, and check keeps saying
so: --from-default also makes the partitions of those days and moves the rows
there, as pg_partman's partition_data does (or delete such rows if their
times are wrong). Days before the retention the last prune recorded get no
partition: prune removes their rows.`,
		Example: `  intel partitions ensure
  intel partitions ensure --from-default`,
	}, func(ctx context.Context, o partitionsOptions) error {
		do := partman.Ensure
		if o.fromDefault {
			do = partman.EnsureWithDefault
		}
		return partitionsReport(a, do, writeEnsureTable)(ctx, o)
	})
	ensure.Flags().BoolVar(&o.fromDefault, "from-default", false,
		"also make the partitions of the days outside the window that the default partition holds rows of, moving the rows there")
	return group(cmd,
		ensure,
		subcommand(&cobra.Command{
			Use:         "list",
			Annotations: readOnlyCut,
			Short:       "List the partitions with their bounds, row estimates and sizes",
			Long: `list prints each day partition of telemetry_edges (or --table), oldest
first: its name, its bounds (FROM <= observed_at < TO, in UTC), an estimate of
its rows (the planner's statistics, as ANALYZE or autovacuum last left them;
"?" before the first; not a count) and its size on disk with its indexes; then
the default partition, which holds rows of days without a partition. It only
reads, and exits 0, or 1 when it cannot. partitions check says whether
anything needs ensure.`,
			Example: "  intel partitions list\n  intel partitions list --format json",
		}, partitionsReport(a, func(ctx context.Context, pool *pgxpool.Pool, opts partman.Options) (partman.Listing, error) {
			return partman.List(ctx, pool, opts.Parent)
		}, writeListingTable)),
		subcommand(&cobra.Command{
			Use:   "check",
			Short: "Report missing days and rows waiting in the default partition",
			Long: `check reports the days of the window (--behind, --ahead) that have no
partition, the rows waiting in the default partition by day, and whether the
default partition exists. Days before the retention the last prune recorded are
listed apart: ensure refuses them, so they are not missing. It exits 0 when all is well (status ok) and 3 when
something needs ensure (status attention), so a monitoring job can run it as
is; 1 means the check itself could not run.`,
			Example: "  intel partitions check || echo \"exit $?\"",
		}, func(ctx context.Context, o partitionsOptions) error {
			var rep partman.Report
			err := partitionsReport(a, func(ctx context.Context, pool *pgxpool.Pool, opts partman.Options) (partman.Report, error) {
				var err error
				rep, err = partman.Check(ctx, pool, opts)
				return rep, err
			}, writeCheckTable)(ctx, o)
			if err == nil && !rep.OK {
				return attentionError{checkAdvice(rep)}
			}
			return err
		}),
		prune,
		maintain,
	)
}

// partitionsReport returns the run of a read-or-ensure subcommand: open
// the database as the flags say, ask partman with do, print its answer as
// the table draws it (or as JSON).
func partitionsReport[T any](a *app, do func(context.Context, *pgxpool.Pool, partman.Options) (T, error),
	table func(io.Writer, T) error) func(context.Context, partitionsOptions) error {
	return func(ctx context.Context, o partitionsOptions) error {
		pool, opts, err := a.openForPartitions(ctx, o)
		if err != nil {
			return err
		}
		v, err := do(ctx, pool, opts)
		if err != nil {
			if p, ok := any(v).(interface{ Progress() string }); ok && ctx.Err() != nil {
				// Cut (a signal, --timeout): what was done stays done.
				return &cutError{err: err, done: p.Progress() + "; run it again for the rest"}
			}
			return err
		}
		return printAs(a.stdout, o.format, v, table)
	}
}

func (a *app) runPartitionsPrune(ctx context.Context, o partitionsOptions) error {
	keep, mode, err := parseKeepMode(o)
	if err != nil {
		return err
	}
	pool, opts, err := a.openForPrune(ctx, o)
	if err != nil {
		return err
	}
	res, err := partman.Prune(ctx, pool, keep, mode, opts)
	if err != nil {
		if len(res.Removed) > 0 {
			// Each day is pruned in its own transaction: those removed
			// before the failure are gone (or archived) all the same.
			if perr := printAs(a.stdout, o.format, res, writePruneTable); perr != nil {
				return errors.Join(err, perr)
			}
		}
		if ctx.Err() != nil {
			return &cutError{err: err, done: res.Progress() + "; run it again for the rest"}
		}
		return err
	}
	return printAs(a.stdout, o.format, res, writePruneTable)
}

// runPartitionsMaintain runs ensure (and prune with --keep) every
// --every until SIGINT or SIGTERM (which end ctx, see notifyInterrupts; the
// command then ends with exit code 0).
func (a *app) runPartitionsMaintain(ctx context.Context, o partitionsOptions) error {
	var err error
	mo := partman.MaintainOptions{}
	if o.keep == "" {
		// Without --keep there is no prune: --mode and --late-rows
		// would be ignored, and maintain would only ensure, for ever.
		for _, name := range []string{"mode", "late-rows"} {
			if o.changed[name] {
				return usagef("--%s applies to the prune of --keep: give --keep too (e.g. --keep 90d --%s %s)", name, name, map[string]string{"mode": o.mode, "late-rows": o.late}[name])
			}
		}
	}
	if o.keep != "" {
		if mo.Keep, mo.Mode, err = parseKeepMode(o); err != nil {
			return err
		}
	}
	pool, opts, err := a.openForPrune(ctx, o)
	if err != nil {
		return err
	}
	mo.Options = opts
	mo.Logger = a.log // a round's errors are logged, not returned: the loop goes on
	rounds, err := partman.MaintainRounds(ctx, pool, o.every, mo)
	return a.maintainEnded(rounds, err)
}

// maintainEnded is the end of partitions maintain after its rounds: a
// signal between rounds, the last one done, is how a service is stopped
// (nil: exit 0); --timeout running out is a failure, between rounds too
// (nothing asked it to stop); a round cut, or a last round that failed, is
// said and fails (before, a cut round said nothing and exited 0).
func (a *app) maintainEnded(rounds partman.Rounds, err error) error {
	done := fmt.Sprintf("%d rounds of partitions maintain done", rounds.Done)
	if rounds.Done == 1 {
		done = "1 round of partitions maintain done"
	}
	if rounds.Skipped > 0 {
		done += fmt.Sprintf(", %d skipped (read-only server)", rounds.Skipped)
	}
	var stopped *partman.StoppedError
	switch {
	case errors.As(err, &stopped) && stopped.InRound:
		return &cutError{err: err, done: fmt.Sprintf("%s; round %d cut (%s): run intel partitions ensure (or maintain) again to finish it",
			done, rounds.Done+rounds.Skipped+1, stopped.Done)}
	case errors.As(err, &stopped) && errors.Is(stopped.LastErr, partman.ErrReadOnly):
		return &cutError{err: err, done: fmt.Sprintf("%s, the last one skipped: %v", done, stopped.LastErr)}
	case errors.As(err, &stopped):
		return &cutError{err: err, done: fmt.Sprintf("%s, the last one failed (logged above): %v", done, stopped.LastErr)}
	case err != nil:
		return err
	case a.interrupts != nil && a.interrupts.timedOut() > 0:
		return &cutError{err: context.DeadlineExceeded, done: done + ", none cut (stopped between rounds)"}
	case a.interrupts != nil && a.interrupts.received() != 0:
		a.log.Info("partitions maintain stopped between rounds: "+done+", none cut", "signal", signalName(a.interrupts.received()))
	}
	return nil
}

// parseKeepMode reads the prune's --keep and --mode.
func parseKeepMode(o partitionsOptions) (time.Duration, partman.Mode, error) {
	keep, err := parseKeep(o.keep)
	if err != nil {
		return 0, "", err
	}
	mode, err := partman.ParseMode(o.mode)
	if err != nil {
		return 0, "", usagef("--mode: %v", err)
	}
	return keep, mode, nil
}

// openForPrune is openForPartitions for prune and maintain, whose options
// take --late-rows.
func (a *app) openForPrune(ctx context.Context, o partitionsOptions) (*pgxpool.Pool, partman.Options, error) {
	keepLate, err := parseLateRows(o.late)
	if err != nil {
		return nil, partman.Options{}, err
	}
	pool, opts, err := a.openForPartitions(ctx, o)
	if err != nil {
		return nil, partman.Options{}, err
	}
	opts.KeepLateRows = keepLate
	return pool, opts, nil
}

// openForPartitions checks the shared flags, opens the database and checks
// its schema, without the startup partition upkeep (these commands are the
// upkeep), and returns the partman options the flags ask for.
func (a *app) openForPartitions(ctx context.Context, o partitionsOptions) (*pgxpool.Pool, partman.Options, error) {
	if err := formatFlag(o.format, "table", "json"); err != nil {
		return nil, partman.Options{}, err
	}
	opts := o.partman
	opts.Logger = a.returnedErrorsLog()
	opts.ServerStartWait = a.partmanStartWait()
	if opts.Ahead == 0 {
		opts.Ahead = -1 // 0 on the command line means today only
	}
	if opts.Behind == 0 {
		opts.Behind = -1
	}
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, opts, err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return nil, opts, err
	}
	// On a Citus coordinator each day's transaction and its retries get
	// the --citus-budget that bounds every write there: a worker that
	// stops answering held each try for 30 s (citus.node_connection_timeout)
	// and a day's ten tries for five minutes.
	policy, err := writePolicy(ctx, pool, a.citusBudget)
	if err != nil {
		return nil, opts, err
	}
	opts.RetryBudget = policy.Budget
	return pool, opts, nil
}

// printAs writes v as indented JSON when format is "json", else as the
// table draws it.
func printAs[T any](w io.Writer, format string, v T, table func(io.Writer, T) error) error {
	if format == "json" {
		return writeJSON(w, v)
	}
	return table(w, v)
}

// parseLateRows reads --late-rows: true for "keep".
func parseLateRows(s string) (bool, error) {
	switch s {
	case "drop":
		return false, nil
	case "keep":
		return true, nil
	}
	return false, usagef("--late-rows %q: want drop or keep", s)
}

// maxKeepDays is the longest retention in days that a time.Duration holds.
const maxKeepDays = int(math.MaxInt64 / int64(24*time.Hour))

// parseKeep reads a retention: "30d" or a Go duration.
func parseKeep(s string) (time.Duration, error) {
	if s == "" {
		return 0, usagef("--keep is required (e.g. --keep 30d)")
	}
	if n, ok := cutDays(s); ok {
		// A count of days beyond what a time.Duration holds (about 292
		// years) would wrap around, to a retention of minutes or a
		// negative one: refuse it rather than prune what it meant to keep.
		if n <= 0 || n > maxKeepDays {
			return 0, usagef("--keep %q: want 1d to %dd, or a positive duration such as 720h", s, maxKeepDays)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--keep %q: want a positive duration such as 720h or days such as 30d", s)
	}
	return d, nil
}

// startupUpkeep makes the coming days' telemetry partitions when a command
// opens the store, unless --no-partition-maintenance. A role that may not
// (a writer or reader, see intel roles create) skips it with one notice.
// For a command that only reads (reading: show, search, related) it is
// best effort: one try, each lock waited for readerUpkeepLock, all of it
// within readerUpkeepTimeout, and a failure a warning, not the command's
// error (unless ctx ended: an interrupt).
func (a *app) startupUpkeep(ctx context.Context, reading bool) error {
	if a.noMaintenance {
		return nil
	}
	opts := partman.Options{Logger: a.quietLog(), ServerStartWait: a.partmanStartWait()}
	outer := ctx
	if reading {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, readerUpkeepTimeout)
		defer cancel()
		opts.Retries, opts.LockTimeout = -1, readerUpkeepLock
	}
	err := a.ensureOnStartup(ctx, opts)
	if err != nil && reading && outer.Err() == nil {
		a.log.Warn("partition upkeep on startup did not finish; answering without it (the answer needs no new partition): "+
			"run 'intel partitions maintain', or pass --no-partition-maintenance", "err", err)
		return nil
	}
	return err
}

// The bounds of the startup upkeep of a command that only reads: what an
// analyst waits at most before the answer when a long transaction (pg_dump)
// holds telemetry_edges or the server is slow.
const (
	readerUpkeepLock    = time.Second
	readerUpkeepTimeout = 3 * time.Second
)

// ensureOnStartup is startupUpkeep's work: the coming days' partitions,
// unless the server is read-only or the role may not make them.
func (a *app) ensureOnStartup(ctx context.Context, opts partman.Options) error {
	pool, err := a.openPool(ctx)
	if err != nil {
		return err
	}
	// A hot standby, or a server or role with default_transaction_read_only,
	// runs reads only: the upkeep could only fail, day by day, and take
	// related, show and search down with it.
	var readOnly bool
	if err := pool.QueryRow(ctx, "SELECT current_setting('transaction_read_only') = 'on'").Scan(&readOnly); err != nil {
		return fmt.Errorf("partition upkeep on startup: %w", err)
	}
	if readOnly {
		a.log.Info("partition upkeep skipped: the server is read-only (a standby, or default_transaction_read_only); " +
			"run 'intel partitions maintain' against the primary")
		return nil
	}
	policy, err := writePolicy(ctx, pool, a.citusBudget)
	if err != nil {
		return fmt.Errorf("partition upkeep on startup: %w", err)
	}
	opts.RetryBudget = policy.Budget // on Citus, as partitions ensure
	_, err = partman.Ensure(ctx, pool, opts)
	if errors.Is(err, partman.ErrInsufficientPrivilege) {
		a.log.Info("partition upkeep skipped: this role may not make partitions; run 'intel partitions maintain' as the owner role",
			"detail", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("partition upkeep on startup: %w", err)
	}
	return nil
}

// checkAdvice says what a check that needs attention found and what mends
// it: ensure for the window's days, ensure --from-default for rows of days
// outside the window (which ensure alone leaves in the default partition).
func checkAdvice(rep partman.Report) string {
	var outside int64
	var days []partman.DayCount // of the rows outside the window
	for _, d := range rep.DefaultDays {
		if d.Day.Before(rep.WindowFrom) || d.Day.After(rep.WindowTo) {
			outside += d.Rows
			days = append(days, d)
		}
	}
	msg := fmt.Sprintf("partitions need attention: %d missing days, %d rows in the default partition%s",
		len(rep.MissingDays), rep.DefaultRows, map[bool]string{true: ", no default partition"}[rep.Default == nil])
	if outside == rep.DefaultRows && len(rep.MissingDays) == 0 && rep.Default != nil {
		return msg + fmt.Sprintf(", all of %d days outside the window (%s): run intel partitions ensure --from-default, "+
			"or delete those rows if their times are wrong", len(days), dayRange(days))
	}
	if outside > 0 {
		return msg + fmt.Sprintf("; run intel partitions ensure (%d of the rows are of %d days outside the window, %s: "+
			"add --from-default for them)", outside, len(days), dayRange(days))
	}
	return msg + "; run intel partitions ensure"
}

// dayRange is the first and last of days (in day order), as text.
func dayRange(days []partman.DayCount) string {
	if len(days) == 0 {
		return ""
	}
	first, last := days[0].Day.Format(time.DateOnly), days[len(days)-1].Day.Format(time.DateOnly)
	if first == last {
		return first
	}
	return first + " to " + last
}

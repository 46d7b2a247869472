package main

import (
	"context"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/partman"
)

func (a *app) partitionsCommand() *cobra.Command {
	var (
		format      string
		opts        partman.Options
		keepFlag    string
		modeFlag    string
		everyFlag   time.Duration
		lockTimeout time.Duration
	)
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
	pf.StringVar(&format, "format", "table", "table or json")
	pf.StringVar(&opts.Parent, "table", partman.DefaultParent, "the partitioned table")
	pf.IntVar(&opts.Ahead, "ahead", partman.DefaultAhead, "days after today (UTC) to have partitions for")
	pf.IntVar(&opts.Behind, "behind", partman.DefaultBehind, "days before today (UTC) to have partitions for")
	pf.DurationVar(&lockTimeout, "lock-timeout", partman.DefaultLockTimeout, "longest wait for a table lock per attempt")
	pf.IntVar(&opts.Retries, "retries", partman.DefaultRetries, "attempts after a lock timeout")

	prepare := func(cmd *cobra.Command) (context.Context, error) {
		if err := formatFlag(format, "table", "json"); err != nil {
			return nil, err
		}
		opts.LockTimeout = lockTimeout
		opts.Logger = a.log
		if opts.Ahead == 0 {
			opts.Ahead = -1 // 0 on the command line means today only
		}
		if opts.Behind == 0 {
			opts.Behind = -1
		}
		a.noMaintenance = true // these commands do the maintenance themselves
		return cmd.Context(), nil
	}
	// run makes the RunE of a subcommand: check the flags, open the
	// database, do the work, print its result as a table or JSON.
	run := func(do func(ctx context.Context, pool *pgxpool.Pool) (tableResult, error)) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, _ []string) error {
			ctx, err := prepare(cmd)
			if err != nil {
				return err
			}
			pool, err := a.openStoreForPartitions(ctx)
			if err != nil {
				return err
			}
			res, err := do(ctx, pool)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(a.stdout, res)
			}
			return res.WriteTable(a.stdout)
		}
	}
	ensure := &cobra.Command{
		Use:     "ensure",
		Short:   "Create the partitions from today-behind through today+ahead",
		Example: "  intel partitions ensure",
		Args:    cobra.NoArgs,
		RunE: run(func(ctx context.Context, pool *pgxpool.Pool) (tableResult, error) {
			return partman.Ensure(ctx, pool, opts)
		}),
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the partitions with their bounds, row estimates and sizes",
		Example: "  intel partitions list --format json",
		Args:    cobra.NoArgs,
		RunE: run(func(ctx context.Context, pool *pgxpool.Pool) (tableResult, error) {
			return partman.List(ctx, pool, opts.Parent)
		}),
	}
	check := &cobra.Command{
		Use:     "check",
		Short:   "Report missing days and rows waiting in the default partition",
		Example: "  intel partitions check",
		Args:    cobra.NoArgs,
		RunE: run(func(ctx context.Context, pool *pgxpool.Pool) (tableResult, error) {
			return partman.Check(ctx, pool, opts)
		}),
	}
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Drop or detach the day partitions that end before now - keep",
		Long: `prune removes whole day partitions whose upper bound (read from the catalog,
not the name) is at or before now - keep: --mode drop drops them, --mode detach
detaches them into the archive schema. The default partition is never touched.`,
		Example: "  intel partitions prune --keep 30d --mode detach",
		Args:    cobra.NoArgs,
		RunE: run(func(ctx context.Context, pool *pgxpool.Pool) (tableResult, error) {
			keep, err := parseKeep(keepFlag)
			if err != nil {
				return nil, err
			}
			mode, err := partman.ParseMode(modeFlag)
			if err != nil {
				return nil, usagef("--mode: %v", err)
			}
			return partman.Prune(ctx, pool, keep, mode, opts)
		}),
	}
	prune.Flags().StringVar(&keepFlag, "keep", "", "retention: a duration (720h) or days (30d); required")
	prune.Flags().StringVar(&modeFlag, "mode", "detach", "drop or detach")
	maintain := &cobra.Command{
		Use:   "maintain",
		Short: "Run ensure (and prune with --keep) now and every interval until interrupted",
		Example: `  intel partitions maintain --every 1h
  intel partitions maintain --every 6h --keep 90d --mode drop`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, err := prepare(cmd)
			if err != nil {
				return err
			}
			mo := partman.MaintainOptions{Options: opts}
			if keepFlag != "" {
				if mo.Keep, err = parseKeep(keepFlag); err != nil {
					return err
				}
				if mo.Mode, err = partman.ParseMode(modeFlag); err != nil {
					return usagef("--mode: %v", err)
				}
			}
			pool, err := a.openStoreForPartitions(ctx)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return partman.Maintain(ctx, pool, everyFlag, mo)
		},
	}
	maintain.Flags().DurationVar(&everyFlag, "every", time.Hour, "interval between rounds")
	maintain.Flags().StringVar(&keepFlag, "keep", "", "also prune partitions older than this (720h or 30d)")
	maintain.Flags().StringVar(&modeFlag, "mode", "detach", "drop or detach, with --keep")
	cmd.AddCommand(ensure, list, check, prune, maintain)
	return cmd
}

// tableResult is what the partman results share: JSON, and a table.
type tableResult interface {
	WriteTable(w io.Writer) error
}

// openStoreForPartitions opens the database and checks the schema, without
// the startup partition upkeep (the command is the upkeep).
func (a *app) openStoreForPartitions(ctx context.Context) (*pgxpool.Pool, error) {
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return nil, err
	}
	return pool, nil
}

// parseKeep reads a retention: "30d" or a Go duration.
func parseKeep(s string) (time.Duration, error) {
	if s == "" {
		return 0, usagef("--keep is required (e.g. --keep 30d)")
	}
	if n, ok := cutDays(s); ok {
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--keep %q: want a positive duration such as 720h or days such as 30d", s)
	}
	return d, nil
}

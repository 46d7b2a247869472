package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ransomeye/intel/internal/workload"
)

// benchOptions are the flags of intel bench gen and intel bench scale.
type benchOptions struct {
	cfg  workload.Config
	seed int
	// gen
	start                 string
	telemetry, stix, misp string
	// scale
	scale workload.ScaleOptions
	keep  string
}

func (a *app) benchCommand() *cobra.Command {
	var o benchOptions
	gen := &cobra.Command{
		Use:   "gen",
		Short: "Write a generated workload: NDJSON telemetry, a STIX 2.1 bundle and MISP events",
		Long: `gen writes the workload of N agents over D days, the same for the same seed and
start day: telemetry lines as 'intel ingest telemetry' reads them (processes
loading system DLLs, writing files, resolving domains, connecting to
addresses, spawning processes; a process node per host and pid; hub nodes
every agent meets), and threat feeds whose indicators name some of the files'
hashes, domains and addresses the telemetry also produces, so walks from the
telemetry reach intelligence. Give at least one of --telemetry, --stix, --misp
(- writes to standard output).`,
		Example: `  intel bench gen --agents 1000 --days 1 --telemetry edr.ndjson --stix intel.json --misp misp.json
  intel bench gen --rows-per-day 1000000 --seed 7 --telemetry - | intel ingest telemetry -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runBenchGen(cmd.Context(), o) },
	}
	workloadFlags(gen.Flags(), &o)
	gen.Flags().StringVar(&o.start, "start", "", "first simulated UTC day, YYYY-MM-DD (default today)")
	gen.Flags().StringVar(&o.telemetry, "telemetry", "", "write the telemetry NDJSON to this file")
	gen.Flags().StringVar(&o.stix, "stix", "", "write the STIX 2.1 bundle to this file")
	gen.Flags().StringVar(&o.misp, "misp", "", "write the MISP events to this file")

	scale := &cobra.Command{
		Use:         "scale",
		Annotations: cutNote("the report on stdout has the days run to their end"),
		Short:       "Sustained-load benchmark: concurrent writers and walks across simulated days",
		Long: `scale loads the generated STIX feed, then, for each simulated UTC day starting
today, runs partition upkeep (ensure) and retention (prune --mode drop) at the
day's midnight on a simulated clock and has --writers concurrent callers
append the day's telemetry in batches of --min-batch to --max-batch rows,
while --queriers run 'related' walks from nodes just written and from
indicator hashes. It prints per day the sustained rows/s, append and walk
p50/p99, client peak RSS, partitions, table and index sizes, and day-last
against day-1 ratios (targets: walk p99 within 2x, peak RSS within 20%).

It writes a generated graph and drops telemetry partitions, so it refuses a
database that holds nodes or telemetry: point --database-url at a scratch
database. The defaults are the reduced scale of 'make bench-scale'; the full
scale of 50,000 agents is --agents 50000 with --rows-per-day as high as the
machine takes.`,
		Example: `  intel bench scale --database-url postgres://bench@localhost/scratch
  intel bench scale --agents 50000 --rows-per-day 2000000 --writers 128`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runBenchScale(cmd.Context(), o) },
	}
	workloadFlags(scale.Flags(), &o)
	sf := scale.Flags()
	sf.IntVar(&o.scale.Writers, "writers", workload.DefaultWriters, "concurrent append callers")
	sf.IntVar(&o.scale.Queriers, "queriers", workload.DefaultQueriers, "concurrent walkers while loading")
	sf.DurationVar(&o.scale.QueryInterval, "query-interval", workload.DefaultQueryInterval, "pause of each walker between walks")
	sf.IntVar(&o.scale.Depth, "depth", workload.DefaultDepth, "depth of the walks")
	sf.StringVar(&o.keep, "keep", "3d", "retention applied at each simulated midnight: days (3d) or a duration")
	intRange(sf, "writers", 1, 10_000)
	intRange(sf, "queriers", 0, 1_000)
	durationRange(sf, "query-interval", time.Millisecond, time.Hour)
	intRange(sf, "depth", 1, 10)

	return group(&cobra.Command{
		Use:   "bench",
		Short: "Generate workloads and run the sustained-load benchmark",
		Long: `bench generates a realistic, deterministic endpoint workload (gen) and runs the
sustained-load benchmark on it (scale). See docs/benchmarks.md.`,
		Example: `  intel bench gen --agents 1000 --telemetry edr.ndjson --stix intel.json
  intel bench scale --database-url postgres://bench@localhost/scratch`,
	}, gen, scale)
}

// workloadFlags declares the flags that shape the workload.
func workloadFlags(fs *pflag.FlagSet, o *benchOptions) {
	fs.IntVar(&o.cfg.Agents, "agents", workload.DefaultAgents, "endpoint agents")
	fs.IntVar(&o.cfg.Days, "days", workload.DefaultDays, "simulated UTC days")
	fs.IntVar(&o.cfg.RowsPerDay, "rows-per-day", workload.DefaultRowsPerDay, "telemetry edges per day, all agents together")
	fs.IntVar(&o.cfg.Indicators, "indicators", workload.DefaultIndicators, "known-bad files, domains and addresses in the feeds")
	fs.IntVar(&o.cfg.MinBatch, "min-batch", workload.DefaultMinBatch, "fewest edges per batch (one append call)")
	fs.IntVar(&o.cfg.MaxBatch, "max-batch", workload.DefaultMaxBatch, "most edges per batch")
	fs.IntVar(&o.seed, "seed", 1, "seed: the same seed and start give the same workload")
	intRange(fs, "agents", 1, 10_000_000)
	intRange(fs, "days", 1, 366)
	intRange(fs, "rows-per-day", 1, 1_000_000_000)
	intRange(fs, "indicators", 3, 390_000)
	intRange(fs, "min-batch", 1, 1_000_000)
	intRange(fs, "max-batch", 1, 1_000_000)
	intRange(fs, "seed", 0, noMax)
}

// config returns the workload configuration of the flags.
func (o benchOptions) config() (workload.Config, error) {
	cfg := o.cfg
	cfg.Seed = uint64(o.seed) //nolint:gosec // range checked: 0 or more
	if o.start != "" {
		t, err := time.Parse(time.DateOnly, o.start)
		if err != nil {
			return cfg, usagef("--start %q: want YYYY-MM-DD", o.start)
		}
		cfg.Start = t
	}
	if cfg.MaxBatch < cfg.MinBatch {
		return cfg, usagef("--max-batch %d is below --min-batch %d", cfg.MaxBatch, cfg.MinBatch)
	}
	return cfg, nil
}

// runBenchGen writes the files gen was asked for, until ctx ends (a
// signal, --timeout): before, it read no context, so Ctrl-C and --timeout
// did not stop it and it exited 0 once done.
func (a *app) runBenchGen(ctx context.Context, o benchOptions) error {
	if o.telemetry == "" && o.stix == "" && o.misp == "" {
		return usagef("give at least one of --telemetry, --stix, --misp")
	}
	cfg, err := o.config()
	if err != nil {
		return err
	}
	g, err := workload.New(cfg)
	if err != nil {
		return usageError{err}
	}
	outputs := []struct {
		path, what string
		write      func(io.Writer) (string, error)
	}{
		{o.telemetry, "telemetry", func(w io.Writer) (string, error) {
			n, err := g.WriteTelemetry(w)
			return fmt.Sprintf("%d lines", n), err
		}},
		{o.stix, "STIX bundle", func(w io.Writer) (string, error) {
			fc, err := g.WriteSTIX(w)
			return fmt.Sprintf("%d intrusion sets, %d malware, %d indicators, %d relationships",
				fc.IntrusionSets, fc.Malware, fc.Indicators, fc.Relationships), err
		}},
		{o.misp, "MISP events", func(w io.Writer) (string, error) {
			n, err := g.WriteMISP(w)
			return fmt.Sprintf("%d events, %d attributes", n, g.Config().Indicators), err
		}},
	}
	var written []string
	for _, out := range outputs {
		if out.path == "" {
			continue
		}
		what, err := writeTo(out.path, a.stdout, func(w io.Writer) (string, error) {
			return out.write(ctxWriter{ctx, w})
		})
		if err != nil {
			err = fmt.Errorf("write %s to %s: %w", out.what, out.path, err)
			if ctx.Err() != nil {
				done := "wrote " + strings.Join(append(written, ""), ", ")
				if len(written) == 0 {
					done = ""
				}
				return &cutError{err: err, done: done + out.path + " cut short: incomplete, run it again"}
			}
			return err
		}
		written = append(written, out.path)
		a.log.Info("bench gen: wrote "+out.what, "path", out.path, "content", what)
	}
	return nil
}

// ctxWriter is w until ctx ends; then every write fails with ctx's cause.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if c.ctx.Err() != nil {
		return 0, context.Cause(c.ctx)
	}
	return c.w.Write(p)
}

// writeTo runs write on the file path (- for stdout), created or truncated.
func writeTo(path string, stdout io.Writer, write func(io.Writer) (string, error)) (string, error) {
	if path == "-" {
		return write(stdout)
	}
	f, err := createOutput(path)
	if err != nil {
		return "", err
	}
	what, err := write(f)
	return what, errors.Join(err, f.Close())
}

// runBenchScale runs the sustained-load benchmark on an empty database.
func (a *app) runBenchScale(ctx context.Context, o benchOptions) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	keep, err := parseKeep(o.keep)
	if err != nil {
		return err
	}
	if _, err := workload.New(cfg); err != nil {
		return usageError{err}
	}
	pool, err := a.openPool(ctx)
	if err != nil {
		return err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return err
	}
	if err := requireEmpty(ctx, pool); err != nil {
		return err
	}
	opts := o.scale
	opts.Config, opts.Keep, opts.Logger, opts.Progress = cfg, keep, a.quietLog(), a.stderr
	rep, err := workload.RunScale(ctx, pool, opts)
	if rep != nil && len(rep.Days) > 0 {
		if werr := rep.Write(a.stdout); werr != nil {
			return werr
		}
	}
	return err
}

// requireEmpty refuses a database that holds nodes or telemetry.
func requireEmpty(ctx context.Context, pool *pgxpool.Pool) error {
	var used bool
	err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM nodes) OR EXISTS (SELECT FROM telemetry_edges)").Scan(&used)
	if err != nil {
		return fmt.Errorf("check the database is empty: %w", err)
	}
	if used {
		return errors.New("bench scale writes a generated graph and drops telemetry partitions: this database holds nodes or telemetry; " +
			"point --database-url at a scratch database")
	}
	return nil
}

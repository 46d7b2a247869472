package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/internal/localdb"
	"github.com/ransomeye/intel/internal/pgcluster"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
	"github.com/ransomeye/intel/tuning"
)

// app holds the global flags and what commands share: the logger and, once
// opened, the pool.
type app struct {
	stdin  io.Reader
	stdout *printer // checked by run when the command ends
	stderr io.Writer

	databaseURL    string
	logLevel       string
	logFormat      string
	connectTimeout time.Duration
	noMaintenance  bool

	log     *slog.Logger
	pool    *pgxpool.Pool
	local   bool
	cmdPath string
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: newPrinter(stdout), stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, nil))}
}

func (a *app) close() {
	if a.pool != nil {
		a.pool.Close()
	}
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "intel",
		Short: "Threat graph and telemetry store of the RansomEye platform",
		Long: `intel keeps the RansomEye threat graph in PostgreSQL: entities (files, hashes,
IPs, domains, processes, malware, threat actors, CVEs, indicators), their
relationships, and endpoint telemetry partitioned by UTC day.

Without --database-url or DATABASE_URL, commands use a local PostgreSQL kept in
the state directory (see 'intel local status'), started on first use.`,
		Example: `  intel demo                                   # everything, end to end
  intel migrate up
  intel ingest stix enterprise-attack.json
  intel related file:invoice.exe --depth 4 --format dot > graph.dot`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.cmdPath = cmd.CommandPath()
			return a.setupLogging()
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	hideGroupUseLine(root)
	pf := root.PersistentFlags()
	pf.StringVar(&a.databaseURL, "database-url", os.Getenv("DATABASE_URL"),
		"PostgreSQL URL (default $DATABASE_URL; empty: the local cluster)")
	pf.StringVar(&a.logLevel, "log-level", envOr("INTEL_LOG_LEVEL", "info"), "debug, info, warn or error")
	pf.StringVar(&a.logFormat, "log-format", envOr("INTEL_LOG_FORMAT", "text"), "text or json")
	pf.DurationVar(&a.connectTimeout, "connect-timeout", 15*time.Second, "give up reaching the database after this long")
	pf.BoolVar(&a.noMaintenance, "no-partition-maintenance", false,
		"do not create the coming days' telemetry partitions when opening the database")

	return group(root,
		a.migrateCommand(),
		a.partitionsCommand(),
		a.ingestCommand(),
		a.relatedCommand(),
		a.showCommand(),
		a.searchCommand(),
		a.tuneCommand(),
		a.localCommand(),
		a.demoCommand(),
	)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (a *app) setupLogging() error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		a.log = slog.New(slog.NewTextHandler(a.stderr, opts))
	case "json":
		a.log = slog.New(slog.NewJSONHandler(a.stderr, opts))
	default:
		return usagef("--log-format %q: want text or json", a.logFormat)
	}
	slog.SetDefault(a.log)
	return nil
}

// stderrIsTerminal reports whether progress should be drawn.
func (a *app) stderrIsTerminal() bool {
	f, ok := a.stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// dsn returns the database URL to use, starting the local cluster when none
// was given.
func (a *app) dsn(ctx context.Context) (string, error) {
	if a.databaseURL != "" {
		return a.databaseURL, nil
	}
	dir, err := localdb.StateDir()
	if err != nil {
		return "", err
	}
	l, err := localdb.Open(dir)
	if err != nil {
		if errors.Is(err, pgcluster.ErrNoServer) {
			return "", fmt.Errorf("no database: set --database-url or DATABASE_URL, or install the PostgreSQL server "+
				"(Debian/Ubuntu: apt-get install postgresql) so intel can run a local one: %w", err)
		}
		return "", err
	}
	if !l.Status().Running {
		a.log.Info("starting the local PostgreSQL", "state_dir", dir)
	}
	url, err := l.Start(ctx)
	if err != nil {
		return "", fmt.Errorf("start the local PostgreSQL in %s: %w", dir, err)
	}
	a.local = true
	return url, nil
}

// openPool connects to the database with a pool sized from the machine
// (tuning.ConfigurePool), failing within --connect-timeout.
func (a *app) openPool(ctx context.Context) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.connectTimeout)
	defer cancel()
	dsn, err := a.dsn(ctx)
	if err != nil {
		return nil, err
	}
	cfg, err := tuning.ConfigurePool(ctx, dsn, tuning.WithLogger(a.log), tuning.WithServerCheckTimeout(a.connectTimeout))
	if err != nil {
		return nil, explainConnectError(err, a.connectTimeout)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, explainConnectError(err, a.connectTimeout)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, explainConnectError(err, a.connectTimeout)
	}
	a.pool = pool
	return pool, nil
}

// explainConnectError names the usual causes of a failed connection.
func explainConnectError(err error, timeout time.Duration) error {
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Errorf("database unreachable within %s: %w", timeout, err)
	case store.Code(err) == pgerrcode.InvalidCatalogName:
		return fmt.Errorf("database does not exist: %w", err)
	case strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("database unreachable (connection refused): %w", err)
	}
	return err
}

// openStore opens the pool, brings the schema up to date when it is the
// local cluster (or checks that it is current otherwise), and runs partition
// upkeep unless --no-partition-maintenance.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return nil, err
	}
	if !a.noMaintenance {
		if _, err := partman.Ensure(ctx, pool, partman.Options{Logger: a.quietLog()}); err != nil {
			return nil, fmt.Errorf("partition upkeep on startup: %w", err)
		}
	}
	return a.newStore(pool), nil
}

// newStore returns the Store every command writes through: batches sized
// for this machine (tuning), day partitions made on demand by partman.
func (a *app) newStore(pool *pgxpool.Pool) *store.Store {
	plan, err := tuning.LocalPlan()
	if err != nil {
		a.log.Debug("machine not measured; sizing for the smallest", "err", err)
	}
	return store.NewStore(pool,
		store.WithLogger(a.log),
		store.WithBatchSize(plan.BatchSize),
		store.WithWriters(plan.Writers),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{Logger: a.quietLog()})))
}

// checkSchema migrates the local cluster automatically; a server given by
// URL must have been migrated (intel migrate up, or goose in a pipeline).
func (a *app) checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	p, err := migrations.NewProvider(db)
	if err != nil {
		return err
	}
	if a.local {
		if _, err := p.Up(ctx); err != nil {
			return fmt.Errorf("migrate the local database: %w", err)
		}
		return nil
	}
	return schemaCurrent(ctx, p)
}

type versioner interface {
	GetDBVersion(context.Context) (int64, error)
	HasPending(context.Context) (bool, error)
}

func schemaCurrent(ctx context.Context, p versioner) error {
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if pending {
		v, _ := p.GetDBVersion(ctx)
		return fmt.Errorf("database schema is at version %d and has pending migrations: run 'intel migrate up' first", v)
	}
	return nil
}

// sqlDB opens a database/sql handle for goose.
func (a *app) sqlDB(ctx context.Context) (*sql.DB, error) {
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDBFromPool(pool), nil
}

// quietLog is the logger for routine upkeep: it logs only what goes wrong
// (`intel partitions` shows the rest).
func (a *app) quietLog() *slog.Logger {
	return slog.New(levelFloor{a.log.Handler(), slog.LevelWarn})
}

// levelFloor drops records below a level, whatever its wrapped handler takes.
type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelFloor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}

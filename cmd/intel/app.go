package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgservicefile"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/localdb"
	"github.com/ransomeye/intel/internal/pgcluster"
	"github.com/ransomeye/intel/internal/redact"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/scaleout"
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
	connectGiven   bool // --connect-timeout was given: it wins over a URL's connect_timeout
	timeout        time.Duration
	noMaintenance  bool
	interrupts     *interrupts // the command's signals, and --timeout
	// citusBudget is --citus-budget: on a Citus coordinator, how long a
	// write (its retries included) or a command that only reads may wait
	// on the cluster; 0: no bound.
	citusBudget time.Duration
	// serverStartWait is --server-start-wait: how long a retried write
	// waits in all for a server that says it is starting up
	// (store.RetryPolicy.Recovery).
	serverStartWait time.Duration
	// readCut ends the context of a command that only reads when its
	// citusBudget is spent (armReadBudget); nil for other commands.
	readCut    context.CancelCauseFunc
	readTimer  *time.Timer
	readBudget atomic.Pointer[citusBudgetError] // set once the read budget is spent

	log     *slog.Logger
	logOpts *slog.HandlerOptions
	logOut  *logSink // stderr, or the progress line's writer
	pool    *pgxpool.Pool
	local   bool
	cmdPath string
	cmd     *cobra.Command // the command run, once known
	// helpErr is the usage error of a help request for an unknown command
	// (intel frobnicate --help), which the help function cannot return.
	helpErr error
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: newPrinter(controlEscaper{stdout}), stderr: stderr, log: slog.New(redact.Handler(slog.NewTextHandler(stderr, nil))),
		logOut: &logSink{w: stderr}}
}

// close closes the pool. With a deadline (an interrupted command: the
// signal's time plus the interrupt grace) it waits for the close only
// until then: pgx closes a connection its context ended by sending the
// server a cancel request, and waits up to 15 s for a server that stopped
// answering, so a frozen server held an interrupted load 15 s past its
// grace. The process exits next, which closes the sockets.
func (a *app) close(deadline time.Time) {
	if a.readTimer != nil {
		a.readTimer.Stop()
	}
	if a.pool == nil {
		return
	}
	if deadline.IsZero() {
		a.pool.Close()
		return
	}
	closed := make(chan struct{})
	go func() {
		a.pool.Close()
		close(closed)
	}()
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	select {
	case <-closed:
	case <-wait.C:
		a.log.Debug("the database connections did not close within the interrupt grace; exiting without them")
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
the state directory (see 'intel local status'), started on first use.

Exit codes: 0 the command did all its work; 1 it failed; 2 usage error; 3 a
check found something to do; 4 a node reference names no node, 5 several.
A command that Ctrl-C, SIGTERM or --timeout stops before its work is done
did not succeed: it exits 128 + the signal (130 SIGINT, 143 SIGTERM, 129
SIGHUP, 141 SIGPIPE) or 1 (--timeout), and its last line on stderr says what
it had done and what not. partitions maintain, which runs until stopped,
exits 0 on a signal that comes between rounds after a round that succeeded.`,
		Example: `  intel demo                                   # everything, end to end
  intel migrate up
  intel ingest stix enterprise-attack.json
  intel related file:invoice.exe --depth 4 --format dot > graph.dot`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			a.cmdPath, a.cmd = cmd.CommandPath(), cmd
			if err := validateRanges(cmd); err != nil {
				return err
			}
			if err := a.setupLogging(); err != nil {
				return err
			}
			a.warnPasswordInFlag(cmd)
			a.warnOpenPassfile()
			a.connectGiven = cmd.Flags().Changed("connect-timeout")
			if readOnlyCommand(cmd) {
				ctx, cut := context.WithCancelCause(cmd.Context())
				cmd.SetContext(ctx)
				a.readCut = cut
			}
			if a.timeout > 0 && a.interrupts != nil {
				a.interrupts.timeout(a.timeout)
			}
			return nil
		},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	hideGroupUseLine(root)
	pf := root.PersistentFlags()
	pf.StringVar(&a.databaseURL, "database-url", os.Getenv("DATABASE_URL"),
		"PostgreSQL URL (default $DATABASE_URL; empty: the local cluster)")
	// Help shows the default with its password masked.
	pf.Lookup("database-url").DefValue = redact.String(os.Getenv("DATABASE_URL"))
	pf.StringVar(&a.logLevel, "log-level", envOr("INTEL_LOG_LEVEL", "info"), "debug, info, warn or error")
	pf.StringVar(&a.logFormat, "log-format", envOr("INTEL_LOG_FORMAT", "text"), "text or json")
	pf.DurationVar(&a.connectTimeout, "connect-timeout", 15*time.Second,
		"give up reaching the database after this long; without this flag, the URL's connect_timeout or else PGCONNECT_TIMEOUT, when set, comes before the default")
	durationRange(pf, "connect-timeout", time.Millisecond, 0)
	pf.DurationVar(&a.timeout, "timeout", 0, "stop the command after this long, connecting included, as Ctrl-C does, "+
		"and exit 1 (a load commits or rolls back the batch in flight within 10 s more); 0: no limit, as psql")
	durationRange(pf, "timeout", 0, 0)
	pf.DurationVar(&a.citusBudget, "citus-budget", defaultCitusBudget,
		"on a Citus coordinator, give up a write (its retries and their waits together), a day of the partition upkeep, or a command that only reads "+
			"(related, search, feeds, partitions list, …) that waits on the cluster longer than this, and name the workers "+
			"that do not answer; 0: no limit (wait, as psql does with statement_timeout = 0). No effect on one server")
	durationRange(pf, "citus-budget", 0, 0)
	pf.DurationVar(&a.serverStartWait, "server-start-wait", store.DefaultRecoveryWait,
		"when the server says it is starting up or recovering (SQLSTATE 57P03), at the first connection or under a write, wait up to this long in all "+
			"for it (a WARN when the wait begins, an INFO every 15s) instead of spending the write's retries (10 to 21s of waits); "+
			"0: no such wait")
	durationRange(pf, "server-start-wait", 0, 0)
	pf.BoolVar(&a.noMaintenance, "no-partition-maintenance", false,
		"do not create the coming days' telemetry partitions when opening the database")

	root = group(root,
		a.migrateCommand(),
		a.partitionsCommand(),
		a.citusCommand(),
		a.rolesCommand(),
		a.ingestCommand(),
		a.relatedCommand(),
		a.showCommand(),
		a.searchCommand(),
		a.tuneCommand(),
		a.localCommand(),
		a.demoCommand(),
		a.benchCommand(),
		a.feedsCommand(),
		a.versionCommand(),
	)
	a.strictHelp(root)
	return root
}

// warnPasswordInFlag warns, once, that a password given in --database-url
// is readable by every user of the machine (/proc/PID/cmdline).
func (a *app) warnPasswordInFlag(cmd *cobra.Command) {
	if f := cmd.Flags().Lookup("database-url"); f == nil || !f.Changed || !redact.HasPassword(a.databaseURL) {
		return
	}
	a.log.Warn("--database-url holds a password, which other users of this machine can read in the process list " +
		"(/proc/PID/cmdline): put it in PGPASSWORD, ~/.pgpass or a PGSERVICE entry instead")
}

// warnOpenPassfile warns when the password file the connection reads (the
// URL's passfile, else PGPASSFILE, else ~/.pgpass) is readable or writable
// by others than its owner. libpq (psql) ignores such a file with a
// warning; pgx reads it without a word, so intel logged in with a password
// every user of the machine could read (a PGPASSFILE of mode 0644: psql
// asked for the password, intel connected silently).
func (a *app) warnOpenPassfile() {
	if a.databaseURL == "" {
		return // the local cluster's own file, kept 0600
	}
	path := passfileOf(a.databaseURL)
	if path == "" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	a.log.Warn("the password file has group or world access, so other users of this machine may read the password "+
		"(psql ignores such a file; intel reads it): chmod 0600 it", "passfile", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
}

// passfileOf returns the password file a connection to dsn reads, as
// pgx finds it (libpq likewise): the DSN's passfile, else the passfile of
// the service it names (the DSN's service, else PGSERVICE; read from the
// DSN's servicefile, else PGSERVICEFILE, else ~/.pg_service.conf), else
// PGPASSFILE, else ~/.pgpass.
func passfileOf(dsn string) string {
	given := dsnSettings(dsn)
	if p := given["passfile"]; p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	if service := firstOf(given["service"], os.Getenv("PGSERVICE")); service != "" {
		file := firstOf(given["servicefile"], os.Getenv("PGSERVICEFILE"))
		if file == "" && home != "" {
			file = filepath.Join(home, ".pg_service.conf")
		}
		if sf, err := pgservicefile.ReadServicefile(file); err == nil {
			if s, err := sf.GetService(service); err == nil && s.Settings["passfile"] != "" {
				return s.Settings["passfile"]
			}
		}
	}
	if p := os.Getenv("PGPASSFILE"); p != "" {
		return p
	}
	if home != "" {
		return filepath.Join(home, ".pgpass")
	}
	return ""
}

// dsnSettings returns the settings a URL's query or a keyword/value DSN
// gives (the keys passfileOf needs: values without spaces).
func dsnSettings(dsn string) map[string]string {
	m := map[string]string{}
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		for k, v := range u.Query() {
			m[k] = v[0]
		}
		return m
	}
	for _, f := range strings.Fields(dsn) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = strings.Trim(v, "'")
		}
	}
	return m
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
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
	if a.logFormat != "text" && a.logFormat != "json" {
		return usagef("--log-format %q: want text or json", a.logFormat)
	}
	a.logOpts = &slog.HandlerOptions{Level: level}
	a.log = a.logger(a.logOut)
	slog.SetDefault(a.log)
	return nil
}

// logger returns a logger of the --log-level and --log-format that writes
// to w.
func (a *app) logger(w io.Writer) *slog.Logger {
	if a.logFormat == "json" {
		return slog.New(redact.Handler(slog.NewJSONHandler(w, a.logOpts)))
	}
	return slog.New(redact.Handler(slog.NewTextHandler(w, a.logOpts)))
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
	if st := l.Status(); !st.Running {
		a.log.Info("starting the local PostgreSQL", "state_dir", dir)
		if st.ServerUser == "nobody" {
			a.log.Warn("the local PostgreSQL runs as nobody, which shares its data directory with every other nobody process: " +
				"create a postgres user (useradd --system postgres) and start afresh")
		}
	}
	url, err := l.Start(ctx)
	if err != nil {
		return "", fmt.Errorf("start the local PostgreSQL in %s: %w", dir, err)
	}
	a.warnMovedPort(l)
	a.local = true
	return url, nil
}

// openPool connects to the database with a pool sized from the machine
// (tuning.ConfigurePool), failing within --connect-timeout, or the
// connect_timeout the URL (or PGCONNECT_TIMEOUT) sets when the flag is not
// given or is longer: pgx applies that one to every connection it opens,
// and intel said "within 15s" of a connection given up after the URL's 2 s.
// A server that refuses the connection because it is starting up (57P03:
// crash recovery after a restart, a standby not yet consistent) is waited
// for up to --server-start-wait, as the writes of a load already running
// wait (store.RetryPolicy.Recovery), with one WARN that it waits; each try
// is bounded by the connect timeout. Before, a command started during the
// recovery failed at its first connection.
func (a *app) openPool(parent context.Context) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	ctx, cancel := context.WithTimeout(parent, a.connectTimeout)
	defer cancel()
	dsn, err := a.dsn(ctx)
	if err != nil {
		return nil, err
	}
	limit := a.connectTimeout
	if cc, err := pgconn.ParseConfig(dsn); err == nil && cc.ConnectTimeout > 0 && (!a.connectGiven || cc.ConnectTimeout < limit) {
		limit = cc.ConnectTimeout
	}
	pids := &backendPIDs{pids: map[uint32]bool{}}
	var pool *pgxpool.Pool
	// Attempts 1: only a server saying it is starting up is asked again
	// (store.Retry spends no try on it); any other failure is the
	// command's error at once, as before.
	wait := store.RetryPolicy{Attempts: 1, Recovery: max(a.serverStartWait, 0)}
	err = store.Retry(parent, wait, a.log, "connect", func(rctx context.Context) error {
		tctx, cancel := context.WithTimeout(rctx, limit)
		defer cancel()
		p, err := connectPool(tctx, dsn, limit, pids, a.log)
		if err != nil && !store.ServerStarting(err) {
			return store.Permanent(err)
		}
		pool = p
		return err
	})
	if err != nil {
		return nil, explainConnectError(err, limit)
	}
	a.pool = pool
	go lockWatch(parent, pool, pids, lockWaitEvery, a.log)
	actx, cancelBudget := context.WithTimeout(parent, limit)
	defer cancelBudget()
	if err := a.armReadBudget(actx, pool); err != nil {
		return nil, err
	}
	return pool, nil
}

// connectPool is one try of openPool: the pool configured for the server
// (tuning.ConfigurePool, which connects to read its limits) and pinged.
func connectPool(ctx context.Context, dsn string, limit time.Duration, pids *backendPIDs, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := tuning.ConfigurePool(ctx, dsn, tuning.WithLogger(log), tuning.WithServerCheckTimeout(limit))
	if err != nil {
		return nil, err
	}
	cfg.AfterConnect = pids.afterConnect(cfg.AfterConnect)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// armReadBudget starts the --citus-budget of a command that only reads
// when pool reaches a Citus coordinator: once it is spent, the command's
// context ends (readCut) and run says which workers do not answer. A
// worker that stops answering (SIGSTOP, a hung host) while the coordinator
// answers held every read of its shards (intel related from a node with
// telemetry, intel partitions list) until --timeout, or for ever.
func (a *app) armReadBudget(ctx context.Context, pool *pgxpool.Pool) error {
	if a.readCut == nil || a.citusBudget <= 0 {
		return nil
	}
	citus, err := scaleout.IsCitus(ctx, pool)
	if err != nil || !citus {
		return err
	}
	budget := &citusBudgetError{what: a.cmdPath, budget: a.citusBudget}
	a.readTimer = time.AfterFunc(a.citusBudget, func() {
		a.readBudget.Store(budget)
		a.readCut(budget)
	})
	return nil
}

// explainConnectError names the usual causes of a failed connection. The
// text pgx gives may quote the connection string: its password is masked.
func explainConnectError(err error, timeout time.Duration) error {
	err = redact.Error(err)
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return fmt.Errorf("database unreachable within %s: %w", timeout, err)
	case store.Code(err) == pgerrcode.TooManyConnections:
		// 53300 is also a role's or a database's CONNECTION LIMIT
		// reached ("too many connections for role"): name all three.
		return fmt.Errorf("the server has no free connection: other clients hold every one of its max_connections, "+
			"or of the CONNECTION LIMIT of this role or database (close some of them, or raise the limit): %w", err)
	case store.Code(err) == pgerrcode.InvalidCatalogName:
		return fmt.Errorf("database does not exist: %w", err)
	case store.Code(err) == pgerrcode.InvalidPassword:
		return fmt.Errorf("the server refused the login of role %q: a wrong password, or no such role "+
			"(give the password in PGPASSWORD, ~/.pgpass, the URL's passfile= or a PGSERVICE entry): %w", connectUser(err), err)
	case store.Code(err) == pgerrcode.InvalidAuthorizationSpecification:
		return fmt.Errorf("the server refused the login of role %q: no such role, or no pg_hba.conf line lets it in "+
			"from this host to this database: %w", connectUser(err), err)
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return fmt.Errorf("the server does not accept TLS, and the URL's sslmode (require, verify-ca or verify-full) "+
			"takes nothing else: turn ssl on in the server's configuration, or use sslmode=prefer on a network you trust: %w", err)
	case strings.Contains(err.Error(), "connection refused"):
		return fmt.Errorf("database unreachable (connection refused): %w", err)
	}
	return err
}

// connectUser is the role a failed connection logged in as, or "".
func connectUser(err error) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) && ce.Config != nil {
		return ce.Config.User
	}
	return ""
}

// openStore opens the pool, brings the schema up to date when it is the
// local cluster (or checks that it is current otherwise), and runs partition
// upkeep unless --no-partition-maintenance.
func (a *app) openStore(ctx context.Context) (*store.Store, error) {
	return a.openStoreFor(ctx, false)
}

// openReader is openStore for the commands that only read (show, search,
// related): there the startup partition upkeep is best effort (see
// startupUpkeep), since their answer needs no partition made. A long
// reader holding telemetry_edges (pg_dump, an analyst's transaction) used
// to make them wait about 40 s for the upkeep's retries and fail.
func (a *app) openReader(ctx context.Context) (*store.Store, error) {
	return a.openStoreFor(ctx, true)
}

func (a *app) openStoreFor(ctx context.Context, reading bool) (*store.Store, error) {
	s, upkeep, err := a.openStoreBeside(ctx, reading)
	if err != nil {
		return nil, err
	}
	if err := upkeep(); err != nil {
		return nil, err
	}
	return s, nil
}

// openStoreBeside is openStore with the partition upkeep run on a
// goroutine of its own, beside the caller's first work (a feed load parses
// its first batch meanwhile: 60-180 ms of making partitions no longer
// delay it); upkeep waits for it and returns its error, every time it is
// called. Call it before returning, whatever happened.
func (a *app) openStoreBeside(ctx context.Context, reading bool) (s *store.Store, upkeep func() error, err error) {
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, nil, err
	}
	if err := a.checkSchema(ctx, pool); err != nil {
		return nil, nil, err
	}
	if s, err = a.newStore(ctx, pool); err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	// An interrupt does not stop the upkeep at once (a few short
	// transactions, each under a lock timeout), but it gets the interrupt
	// grace the loads get, and no more: before, it ran without a deadline,
	// so Ctrl-C while it waited on a lock (10 tries of lock_timeout, with
	// backoff) ended the command 34 s later, and with a frozen server
	// never.
	uctx, stop := ingest.AfterGrace(ctx, ingest.DefaultInterruptGrace)
	go func() {
		defer stop()
		done <- a.startupUpkeep(uctx, reading)
	}()
	return s, sync.OnceValue(func() error { return <-done }), nil
}

// newStore returns the Store every command writes through: batches sized
// for this machine (tuning), day partitions made on demand by partman.
func (a *app) newStore(ctx context.Context, pool *pgxpool.Pool) (*store.Store, error) {
	plan, err := tuning.LocalPlan()
	if err != nil {
		a.log.Debug("machine not measured; sizing for the smallest", "err", err)
	}
	policy, err := writePolicy(ctx, pool, a.citusBudget)
	if err != nil {
		return nil, err
	}
	policy.Recovery = a.serverStartWait
	opts := []store.Option{}
	if tuning.JITParamDropped(pool.Config()) {
		// A transaction pooler refused the jit startup parameter: JIT off
		// by transaction instead, never by session (a session SET would
		// reach the pooler's other clients).
		opts = append(opts, store.WithLocalJITOff())
	}
	return store.NewStore(pool, append(opts,
		store.WithRetryPolicy(policy),
		store.WithLogger(a.log),
		store.WithBatchSize(plan.BatchSize),
		store.WithWriters(plan.Writers),
		store.WithEndpointCache(plan.EndpointCacheKeys),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{Logger: a.quietLog(), ServerStartWait: a.partmanStartWait()})))...), nil
}

// defaultCitusBudget (--citus-budget) bounds every retried write of a
// Store on a Citus coordinator (store.RetryPolicy.Budget), tries and waits
// together, and every command that only reads there (armReadBudget). A
// worker that stops answering while the coordinator does (its host hung,
// SIGSTOP, a network partition between them) held a write for ever: the
// coordinator waited on its cached connection to the worker, which a
// stopped process's kernel keeps open; and each try on a new connection
// waited citus.node_connection_timeout (30 s by default), ten tries in
// all. With the budget the write fails within it, saying so, and a
// checkpointed load keeps what it stored. A minute holds the default
// retries' waits (10 to 21 s) and the tries of a COPY chunk or a graph
// batch many times over (about a second each on the test cluster).
const defaultCitusBudget = time.Minute

// writePolicy is the retry policy of the Store on the database pool
// reaches: store.DefaultRetryPolicy, with budget (--citus-budget; 0: none)
// on a Citus coordinator.
func writePolicy(ctx context.Context, pool *pgxpool.Pool, budget time.Duration) (store.RetryPolicy, error) {
	p := store.DefaultRetryPolicy
	citus, err := scaleout.IsCitus(ctx, pool)
	if err != nil {
		return p, err
	}
	if citus {
		p.Budget = budget
	}
	return p, nil
}

// checkSchema migrates the local cluster automatically; a server given by
// URL must have been migrated (intel migrate up, or goose in a pipeline).
func (a *app) checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	if err := schemaOnSearchPath(ctx, db); err != nil {
		return err
	}
	if err := utf8Database(ctx, db); err != nil {
		return err
	}
	p, err := migrations.NewProvider(db)
	if err != nil {
		return err
	}
	if !a.local {
		// goose makes its version table when asked the version: a
		// command on a database never migrated (intel search on an
		// empty database) made goose_db_version there before saying so.
		var migrated bool
		if err := db.QueryRowContext(ctx, "SELECT to_regclass(quote_ident(current_schema()) || '.goose_db_version') IS NOT NULL").Scan(&migrated); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if !migrated {
			if err := notMigratedHere(ctx, db); err != nil {
				return err
			}
			return fmt.Errorf("database schema is at version 0 and has pending migrations: run 'intel migrate up' first")
		}
		return schemaCurrent(ctx, p)
	}
	if err := schemaNotNewer(ctx, p); err != nil {
		return err
	}
	if pending, err := p.HasPending(ctx); err != nil || !pending {
		return err
	}
	// Migrations run without the role's or database's statement_timeout
	// (migrations.OpenDB), on connections of their own.
	mdb := migrations.OpenDB(pool.Config().ConnConfig)
	defer mdb.Close()
	mp, err := migrations.NewProvider(mdb)
	if err != nil {
		return err
	}
	if _, err := migrateUp(ctx, mp, a.log, a.serverStartWait); err != nil {
		return fmt.Errorf("migrate the local database: %w", err)
	}
	return nil
}

// schemaOnSearchPath refuses a session whose search_path names no schema
// that exists (ALTER ROLE … SET search_path = app before CREATE SCHEMA
// app, or "$user" alone): intel's tables, and goose's version table, live
// in the first schema of the search_path (public by default). Before,
// every command said `read schema version: failed to get latest version:
// ERROR: relation "goose_db_version" does not exist` and migrate up `no
// schema has been selected to create in`, neither naming the setting.
func schemaOnSearchPath(ctx context.Context, db *sql.DB) error {
	var schema sql.NullString
	var path string
	if err := db.QueryRowContext(ctx, "SELECT current_schema(), current_setting('search_path')").Scan(&schema, &path); err != nil {
		return fmt.Errorf("read the search_path: %w", err)
	}
	if !schema.Valid {
		return fmt.Errorf("the session's search_path (%s) names no schema that exists: intel's tables live in the first schema of the search_path "+
			"(public by default); set search_path for the role or the database (ALTER ROLE … SET search_path = public), "+
			"or in the URL (?search_path=public)", path)
	}
	return nil
}

// utf8Database refuses a database whose encoding is neither UTF8 nor
// SQL_ASCII (CREATE DATABASE … ENCODING 'LATIN1', a legacy server's
// WIN1252 or EUC_JP): the server converts intel's UTF-8 text into it and
// refuses every character it has no code for (SQLSTATE 22P05), so each
// node or relation naming one was refused alone. Before, migrate up made
// the schema there, and a load of ATT&CK ICS (ics-attack-18.1.json) ended
// `ok`, exit 0, with 49 of its 453 nodes and 21 relations refused
// (`rejected-by-database`: a typographic apostrophe, U+2019, in their
// descriptions) and 2,365 relations left pending instead of 1,373; every
// ESET event with a non-Latin-1 character the same. SQL_ASCII stores the
// bytes it is sent, which intel checks are UTF-8, so it is accepted.
func utf8Database(ctx context.Context, db *sql.DB) error {
	var enc, name string
	if err := db.QueryRowContext(ctx, "SELECT current_setting('server_encoding'), current_database()").Scan(&enc, &name); err != nil {
		return fmt.Errorf("read the database's encoding: %w", err)
	}
	if enc == "UTF8" || enc == "SQL_ASCII" {
		return nil
	}
	return fmt.Errorf("database %s is encoded %s, which has no code for most of the characters feeds carry "+
		"(the server would refuse each node or relation naming one): intel needs a UTF8 database; "+
		"make one (CREATE DATABASE … ENCODING 'UTF8' TEMPLATE template0), run intel migrate up there and load the feeds into it",
		name, enc)
}

// trgmOnSearchPath refuses, before migrate up applies anything, a session
// whose search_path leaves out the schema pg_trgm is installed in: the
// name search (migration 11's trigram indexes, every search after) needs
// its operator class and functions, and CREATE EXTENSION IF NOT EXISTS
// does not move an extension installed elsewhere. Before, migrate up under
// a role's search_path = app applied migrations 1 to 10 into app and
// stopped at 11 (`operator class "gin_trgm_ops" does not exist`), and a
// rerun stopped there again. Not installed, it is made in the first schema
// of the search_path, with the tables.
func trgmOnSearchPath(ctx context.Context, db *sql.DB) error {
	var schema, path string
	err := db.QueryRowContext(ctx, store.TrgmOffPathQuery).Scan(&schema, &path)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("read where pg_trgm is installed: %w", err)
	}
	return fmt.Errorf("%w; migration 11 would fail, after the ten before it: fix the search_path, then run intel migrate up again "+
		"(the plain goose CLI likewise: see the README)", store.TrgmOffSearchPath(schema, path))
}

// notMigratedHere returns an error naming the search_path when the first
// schema of the session's search_path holds no goose version table (the
// caller found none) but other schemas of the database do: a role's or
// database's search_path that puts another schema first (ALTER ROLE … SET
// search_path = app, CREATE SCHEMA app). Before, every command said
// "database schema is at version 0 and has pending migrations: run 'intel
// migrate up' first", and migrate up made a second set of tables in that
// schema, failing at migration 11 (pg_trgm's operator class, in public,
// not on the path) with ten of them made.
func notMigratedHere(ctx context.Context, db *sql.DB) error {
	elsewhere, path, err := versionTablesElsewhere(ctx, db)
	if err != nil || len(elsewhere) == 0 {
		return err
	}
	return fmt.Errorf("the session's search_path (%s) puts first schema %s, which has none of intel's tables; "+
		"they are in schema %s of this database: put it first (ALTER ROLE … SET search_path = %s, or ?search_path=%s in the URL)",
		path, elsewhere[0], strings.Join(elsewhere[1:], ", "), elsewhere[1], elsewhere[1])
}

// versionTablesElsewhere returns, when schemas other than the session's
// current one hold goose's version table (intel migrated there), the
// current schema followed by those schemas, and the session's search_path.
func versionTablesElsewhere(ctx context.Context, db *sql.DB) ([]string, string, error) {
	var current, path string
	if err := db.QueryRowContext(ctx, "SELECT coalesce(current_schema(), ''), current_setting('search_path')").Scan(&current, &path); err != nil {
		return nil, "", fmt.Errorf("read the search_path: %w", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT n.nspname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = 'goose_db_version' AND c.relkind IN ('r', 'p') AND n.nspname <> $1
		ORDER BY n.nspname = 'public' DESC, n.nspname`, current)
	if err != nil {
		return nil, "", fmt.Errorf("look for intel's tables in other schemas: %w", err)
	}
	others, err := scanStrings(rows)
	if err != nil || len(others) == 0 {
		return nil, path, err
	}
	return append([]string{current}, others...), path, nil
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close() //nolint:errcheck // rows.Err says what went wrong
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

type versioner interface {
	GetDBVersion(context.Context) (int64, error)
	HasPending(context.Context) (bool, error)
	ListSources() []*goose.Source
}

// schemaNotNewer refuses a database that a newer intel (or goose with newer
// migration files) has migrated past the last migration this binary knows:
// its queries were written for an older schema, and goose itself sees
// nothing pending, so without this check every command ran against it.
func schemaNotNewer(ctx context.Context, p versioner) error {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if known := lastKnownVersion(p); v > known {
		return fmt.Errorf("database schema is at version %d, newer than this intel knows (%d): use the intel that migrated it, or a newer one", v, known)
	}
	return nil
}

// lastKnownVersion is the version of the last migration this intel has.
func lastKnownVersion(p versioner) int64 {
	if src := p.ListSources(); len(src) > 0 {
		return src[len(src)-1].Version
	}
	return 0
}

func schemaCurrent(ctx context.Context, p versioner) error {
	if err := schemaNotNewer(ctx, p); err != nil {
		return err
	}
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

// sqlDB opens a database/sql handle for goose whose connections run
// without a statement_timeout (migrations.OpenDB).
func (a *app) sqlDB(ctx context.Context) (*sql.DB, error) {
	pool, err := a.openPool(ctx)
	if err != nil {
		return nil, err
	}
	return migrations.OpenDB(pool.Config().ConnConfig), nil
}

// quietLog is the logger for routine upkeep: it logs only what goes wrong
// (`intel partitions` shows the rest).
func (a *app) quietLog() *slog.Logger {
	return slog.New(levelBand{a.log.Handler(), slog.LevelWarn, math.MaxInt})
}

// returnedErrorsLog is a.log without ERROR records, for calls that return
// the errors they log (partman's ensure and prune): the command prints them
// once.
func (a *app) returnedErrorsLog() *slog.Logger {
	return slog.New(levelBand{a.log.Handler(), slog.LevelDebug - 4, slog.LevelWarn})
}

// levelBand drops records outside min..max, whatever its wrapped handler
// takes.
type levelBand struct {
	slog.Handler
	min, max slog.Level
}

func (h levelBand) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && l <= h.max && h.Handler.Enabled(ctx, l)
}

func (h levelBand) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelBand{h.Handler.WithAttrs(attrs), h.min, h.max}
}

func (h levelBand) WithGroup(name string) slog.Handler {
	return levelBand{h.Handler.WithGroup(name), h.min, h.max}
}

// logSink is where log lines go: stderr, or while a progress line is drawn
// there, the ingest.Progress that writes them above it. Every logger of the
// app writes to it, so no log line lands inside the progress line.
type logSink struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *logSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	w := s.w
	s.mu.Unlock()
	return w.Write(b)
}

// logThrough sends the app's log lines through w until restore is called.
func (a *app) logThrough(w io.Writer) (restore func()) {
	a.logOut.mu.Lock()
	prev := a.logOut.w
	a.logOut.w = w
	a.logOut.mu.Unlock()
	return func() {
		a.logOut.mu.Lock()
		a.logOut.w = prev
		a.logOut.mu.Unlock()
	}
}

// partmanStartWait is --server-start-wait as partman.Options takes it (0
// there is the default, a negative value none).
func (a *app) partmanStartWait() time.Duration {
	if a.serverStartWait <= 0 {
		return -1
	}
	return a.serverStartWait
}

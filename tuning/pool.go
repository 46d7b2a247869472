package tuning

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/db/pgjson"
	"github.com/ransomeye/intel/db/pguuid"
	"github.com/ransomeye/intel/internal/citusnotice"
)

// DefaultServerCheckTimeout bounds the one connection ConfigurePool makes to
// read the server's connection limits.
const DefaultServerCheckTimeout = 5 * time.Second

// DefaultServerHeadroom is the number of connection slots ConfigurePool leaves
// free on the server, beyond those reserved for superusers and reserved roles,
// so an operator's psql, a migration or a monitoring agent can still connect
// when the pool is full.
const DefaultServerHeadroom = 2

// PoolOption changes how ConfigurePool sizes the pool.
type PoolOption func(*poolConfig)

type poolConfig struct {
	plan         *Plan
	serverCheck  bool
	checkTimeout time.Duration
	headroom     int
	logger       *slog.Logger
}

// WithPlan sizes the pool from plan instead of from PlanFor(Detect()). Use it
// to simulate a machine, or when the caller already has a plan.
func WithPlan(plan Plan) PoolOption {
	return func(c *poolConfig) { c.plan = &plan }
}

// WithoutServerCheck skips the connection to the server, for offline use: the
// pool is then not clamped to the server's max_connections.
func WithoutServerCheck() PoolOption {
	return func(c *poolConfig) { c.serverCheck = false }
}

// WithServerCheckTimeout bounds the server check by d instead of
// DefaultServerCheckTimeout.
func WithServerCheckTimeout(d time.Duration) PoolOption {
	return func(c *poolConfig) { c.checkTimeout = d }
}

// WithServerHeadroom leaves n connection slots free on the server instead of
// DefaultServerHeadroom. Negative values count as 0.
func WithServerHeadroom(n int) PoolOption {
	return func(c *poolConfig) { c.headroom = max(n, 0) }
}

// WithLogger logs to logger instead of slog.Default(); nil means slog.Default().
func WithLogger(logger *slog.Logger) PoolOption {
	return func(c *poolConfig) { c.logger = logger }
}

// ConfigurePool returns a pool configuration for dsn, built on
// pgxpool.ParseConfig, so every other pool_* setting in the DSN still applies.
//
// The size comes from, in order:
//
//  1. pool_max_conns and pool_min_conns in the DSN (URL query or keyword/value
//     form): the operator's choice wins over the plan;
//  2. otherwise the plan from WithPlan, or PlanFor(Detect()). MinConns follows
//     MaxConns (a quarter, at least 1) unless the DSN sets pool_min_conns.
//
// Then, unless WithoutServerCheck is given, ConfigurePool connects once (within
// DefaultServerCheckTimeout) and reads max_connections,
// superuser_reserved_connections and, on PostgreSQL 16 and later,
// reserved_connections. MaxConns is clamped to max_connections minus both
// reservations minus DefaultServerHeadroom (at least 1), and to what the
// CONNECTION LIMIT of the role and of the database leave (a superuser has
// none), even when the operator chose it, because a larger pool only fails
// at run time; a clamp is logged at INFO. MinConns and MinIdleConns never exceed MaxConns. Behind a connection
// pooler such as PgBouncer, whose limits are not PostgreSQL's, use
// WithoutServerCheck and set pool_max_conns.
//
// Connections register db/pguuid, so uuid.UUID values travel as 16
// binary bytes. Sessions start with client_encoding=UTF8 and DateStyle=ISO,
// whatever the server, database, role or PGCLIENTENCODING say: pgx reads
// and writes nothing else. Sessions start with jit=off unless the DSN sets jit (?jit=on): JIT
// compilation costs more than it saves on the graph's recursive walk.
//
// An invalid DSN gives an error starting "parse database url:" that names the
// problem; an unreachable server gives an error starting "read the
// server's connection limits:".
func ConfigurePool(ctx context.Context, dsn string, opts ...PoolOption) (*pgxpool.Config, error) {
	pc := poolConfig{
		serverCheck:  true,
		checkTimeout: DefaultServerCheckTimeout,
		headroom:     DefaultServerHeadroom,
		logger:       slog.Default(),
	}
	for _, opt := range opts {
		opt(&pc)
	}
	if pc.logger == nil {
		pc.logger = slog.Default()
	}

	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	operatorMax, operatorMin, err := operatorPoolSize(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.AfterConnect = AfterConnect(cfg.AfterConnect)
	// A Citus worker's error reaches the client only as a WARNING before
	// the coordinator's own: kept, so that store names it (a lock timeout
	// on a worker is one, not a lost worker).
	cfg.ConnConfig.OnNotice = citusnotice.Record(cfg.ConnConfig.OnNotice)
	// pgx speaks UTF-8 only and reads times sent as text (the simple
	// protocol) in the ISO form only. A database or role set otherwise
	// (ALTER DATABASE … SET client_encoding = 'LATIN1', DateStyle = 'SQL,
	// DMY'; PGCLIENTENCODING) made every command fail: "simple protocol
	// queries must be run with client_encoding=UTF8", "invalid PostgreSQL
	// date/time value". Startup parameters win over those settings, and
	// PgBouncer passes both on.
	cfg.ConnConfig.RuntimeParams["client_encoding"] = "UTF8"
	cfg.ConnConfig.RuntimeParams["DateStyle"] = "ISO"
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		// The graph walk's plan is costed far above jit_above_cost, and
		// compiling it took longer than running it (measured on the 1M-node
		// benchmark graph: p50 3.6 s with JIT, 1.7 s without).
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}

	source := "operator"
	if !operatorMax {
		plan, err := pc.resolvePlan()
		if err != nil {
			return nil, err
		}
		cfg.MaxConns = plan.MaxConns
		source = "plan"
	}
	if !operatorMin {
		cfg.MinConns = minConnsFor(cfg.MaxConns)
	}

	if pc.serverCheck {
		limit, err := serverPoolLimit(ctx, cfg.ConnConfig, pc.checkTimeout, pc.headroom)
		if err != nil && poolerRefusedJIT(err) && !urlSets(dsn, "jit") {
			// PgBouncer (and poolers like it) refuse a startup parameter
			// they do not know: every command failed with "unsupported
			// startup parameter: jit" through the pooler docs/scale.md puts
			// in front of Citus. Connect without it; such a pooler in
			// transaction mode also mixes up pgx's named prepared
			// statements (42P05 "already exists", 26000 "does not exist"),
			// so use unnamed ones unless the URL chose a mode.
			delete(cfg.ConnConfig.RuntimeParams, "jit")
			if !urlSets(dsn, "default_query_exec_mode") {
				cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
			}
			pc.logger.InfoContext(ctx, "a connection pooler (PgBouncer?) refused the jit startup parameter: connecting without it, "+
				"with default_query_exec_mode=exec and JIT turned off in each transaction (SET LOCAL) where the pool's user asks "+
				"(store.WithLocalJITOff; intel does)")
			limit, err = serverPoolLimit(ctx, cfg.ConnConfig, pc.checkTimeout, pc.headroom)
		}
		if err != nil {
			return nil, fmt.Errorf("read the server's connection limits: %w", err)
		}
		if v, set := cfg.ConnConfig.RuntimeParams["jit"]; set && v == "off" && !limit.jitParamArrived() && !urlSets(dsn, "jit") {
			// The session runs with jit on although it was started with
			// jit=off, which wins over every setting of the server, role
			// or database, or with the jit of one of those (off too,
			// say): something between passed the connection on without
			// the parameter (PgBouncer with ignore_startup_parameters =
			// jit). Such a pooler in transaction mode also mixes up named
			// prepared statements; before, it went unseen when the
			// server's own jit was off.
			delete(cfg.ConnConfig.RuntimeParams, "jit")
			if !urlSets(dsn, "default_query_exec_mode") {
				cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
			}
			pc.logger.InfoContext(ctx, "the session runs with jit = "+limit.jit+" (from "+limit.jitSource+") although it was started with jit=off: "+
				"a connection pooler (PgBouncer with ignore_startup_parameters = jit?) dropped the parameter; "+
				"using default_query_exec_mode=exec and JIT turned off in each transaction (SET LOCAL) where the pool's user asks "+
				"(store.WithLocalJITOff; intel does)")
		}
		if cfg.MaxConns > limit.free {
			pc.logger.InfoContext(ctx, "pool size clamped to the server's free connections",
				slog.Int("wanted", int(cfg.MaxConns)),
				slog.Int("max_conns", int(limit.free)),
				slog.String("wanted_by", source),
				slog.Int("max_connections", limit.maxConnections),
				slog.Int("superuser_reserved_connections", limit.superuserReserved),
				slog.Int("reserved_connections", limit.reserved),
				slog.Int("headroom", pc.headroom),
				slog.Int("role_connection_limit", limit.roleLimit),
				slog.Int("role_connections", limit.roleUsed),
				slog.Int("database_connection_limit", limit.dbLimit),
				slog.Int("database_connections", limit.dbUsed),
			)
			cfg.MaxConns = limit.free
			if !operatorMin {
				cfg.MinConns = minConnsFor(cfg.MaxConns)
			}
		}
	}
	cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	cfg.MinIdleConns = min(cfg.MinIdleConns, cfg.MaxConns)

	pc.logger.DebugContext(ctx, "pool sized",
		slog.Int("max_conns", int(cfg.MaxConns)),
		slog.Int("min_conns", int(cfg.MinConns)),
		slog.String("max_conns_from", source),
	)
	return cfg, nil
}

// JITParamDropped reports whether ConfigurePool made cfg without the jit
// startup parameter it sets (jit=off) because a connection pooler refused
// it, or passed connections on without it (the session's jit was not off),
// the URL not setting jit itself: sessions then run with the server's jit,
// and a Store keeps it off by transaction (store.WithLocalJITOff).
func JITParamDropped(cfg *pgxpool.Config) bool {
	_, set := cfg.ConnConfig.RuntimeParams["jit"]
	return !set
}

// poolerRefusedJIT reports whether err is a connection pooler refusing
// the jit startup parameter (PgBouncer: "unsupported startup parameter:
// jit", SQLSTATE 08P01).
func poolerRefusedJIT(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && strings.Contains(pgErr.Message, "unsupported startup parameter: jit")
}

// urlSets reports whether dsn gives the parameter name (pgx's own, such
// as default_query_exec_mode, or a server setting).
func urlSets(dsn, name string) bool {
	cc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return false
	}
	_, set := cc.RuntimeParams[name]
	return set
}

// resolvePlan returns the plan given with WithPlan, or plans for this machine.
func (pc *poolConfig) resolvePlan() (Plan, error) {
	if pc.plan != nil {
		if pc.plan.MaxConns < 1 {
			return Plan{}, fmt.Errorf("size pool: plan has MaxConns %d, want at least 1", pc.plan.MaxConns)
		}
		return *pc.plan, nil
	}
	res, err := Detect()
	if err != nil {
		return Plan{}, fmt.Errorf("size pool: %w", err)
	}
	plan, err := PlanFor(res)
	if err != nil {
		return Plan{}, fmt.Errorf("size pool: %w", err)
	}
	return plan, nil
}

// operatorPoolSize reports whether dsn sets pool_max_conns and pool_min_conns.
// pgxpool.ParseConfig consumes both without saying whether they were given, so
// this parses the DSN again with pgconn, the parser pgxpool itself uses: URL
// (postgres://…?pool_max_conns=7) and keyword/value (pool_max_conns=7) forms
// alike, with quoting and service files handled the same way.
func operatorPoolSize(dsn string) (maxSet, minSet bool, err error) {
	cc, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return false, false, err
	}
	_, maxSet = cc.RuntimeParams["pool_max_conns"]
	_, minSet = cc.RuntimeParams["pool_min_conns"]
	return maxSet, minSet, nil
}

// serverLimit is what the server leaves for the pool.
type serverLimit struct {
	maxConnections    int
	superuserReserved int
	reserved          int
	free              int32 // what the pool may use, at least 1
	// roleLimit and dbLimit are the CONNECTION LIMIT of the role and of the
	// database (-1: none, or a superuser, whom they do not bind);
	// roleUsed and dbUsed the client connections each has now, the check's
	// own among them.
	roleLimit, dbLimit int
	roleUsed, dbUsed   int
	jit                string // the session's jit setting
	jitSource          string // where it came from (pg_settings.source)
}

// jitParamArrived reports whether the session's jit is the jit=off of its
// startup packet: off, and set by the client (or, by a pooler that
// replays the client's parameters, by the session). A session whose jit
// came from the server's configuration, the database or the role did not
// get the parameter, even when that setting is off too.
func (l serverLimit) jitParamArrived() bool {
	return l.jit == "off" && (l.jitSource == "client" || l.jitSource == "session" || l.jitSource == "")
}

// closeAndWait ends conn and waits, up to two seconds, until the server
// has closed its end: PostgreSQL takes a backend out of the count that
// max_connections and a CONNECTION LIMIT are held to before it closes the
// socket. serverPoolLimit counts its own connection as free (it closes
// it), and the pool it sizes connects next: closed the usual way (the
// Terminate sent, the socket dropped), the check's backend could still be
// counted when the pool's first connection arrived, which a role with
// CONNECTION LIMIT 2 and one other client refused, "too many connections
// for role" (TestRoleConnectionLimit, once in CI under load).
func closeAndWait(conn *pgx.Conn) {
	h, err := conn.PgConn().Hijack() // conn is idle: its transaction ended
	if err != nil {
		_ = conn.Close(context.Background())
		return
	}
	defer func() { _ = h.Conn.Close() }()
	_ = h.Conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := h.Conn.Write([]byte{'X', 0, 0, 0, 4}); err != nil { // Terminate
		return
	}
	_, _ = io.Copy(io.Discard, h.Conn) // until the server closes (EOF), or the deadline
}

// serverPoolLimit connects once and reads the server's connection limits.
func serverPoolLimit(ctx context.Context, cc *pgx.ConnConfig, timeout time.Duration, headroom int) (serverLimit, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return serverLimit{}, err
	}
	defer closeAndWait(conn)

	var l serverLimit
	// pg_settings and pg_stat_activity are set-returning functions whose
	// rows the server gathers in work_mem, spilling the rest to a temporary
	// file: with work_mem = 64kB and temp_file_limit = 64kB set for the
	// role or the database, this read failed ("temporary file size exceeds
	// temp_file_limit", 53400) and with it every command, before doing
	// anything. It reads under a work_mem of its own (SET LOCAL: the
	// transaction alone, also behind a transaction pooler), so only the
	// operations that need temporary space are bound by that limit.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return serverLimit{}, fmt.Errorf("read max_connections: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only; the connection closes anyway
	// Nor does a statement_timeout set for the role or the database bind
	// it: its first look at pg_settings and pg_stat_activity in a new
	// backend took 50-58 ms on the shared test machine, and with
	// statement_timeout = 50ms every command failed before doing
	// anything ("read the server's connection limits: read
	// max_connections: … canceling statement due to statement timeout").
	// The connect timeout (ctx) bounds it.
	if _, err := tx.Exec(ctx, "SET LOCAL work_mem = '4MB'; SET LOCAL statement_timeout = 0", pgx.QueryExecModeSimpleProtocol); err != nil {
		return serverLimit{}, fmt.Errorf("read max_connections: %w", err)
	}
	// reserved_connections exists from PostgreSQL 16; missing_ok makes it NULL
	// before that.
	// The simple protocol: no named statement left behind on a pooler's
	// server connection.
	err = tx.QueryRow(ctx, serverLimitQuery,
		pgx.QueryExecModeSimpleProtocol,
	).Scan(&l.maxConnections, &l.superuserReserved, &l.reserved, &l.jit, &l.jitSource,
		&l.roleLimit, &l.dbLimit, &l.roleUsed, &l.dbUsed)
	if err != nil {
		return serverLimit{}, fmt.Errorf("read max_connections: %w", err)
	}
	free := l.maxConnections - l.superuserReserved - l.reserved - headroom
	// A role's or database's CONNECTION LIMIT (ALTER ROLE intel CONNECTION
	// LIMIT 2, as DBAs give application roles) binds as max_connections
	// does: a pool of 8 on a role limited to 2 failed every command with
	// "too many connections for role" (53300). What others hold of it is
	// taken; the check's own connection closes before the pool opens.
	if l.roleLimit >= 0 {
		free = min(free, l.roleLimit-max(l.roleUsed-1, 0))
	}
	if l.dbLimit >= 0 {
		free = min(free, l.dbLimit-max(l.dbUsed-1, 0))
	}
	l.free = int32(max(1, free))
	return l, nil
}

// serverLimitQuery reads what serverPoolLimit needs (a variable: a test
// slows it down).
var serverLimitQuery = `SELECT
	current_setting('max_connections')::int,
	current_setting('superuser_reserved_connections')::int,
	coalesce(current_setting('reserved_connections', true), '0')::int,
	current_setting('jit'),
	coalesce((SELECT source FROM pg_settings WHERE name = 'jit'), ''),
	CASE WHEN current_setting('is_superuser')::bool THEN -1
		ELSE coalesce((SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user), -1) END,
	CASE WHEN current_setting('is_superuser')::bool THEN -1
		ELSE coalesce((SELECT datconnlimit FROM pg_database WHERE datname = current_database()), -1) END,
	(SELECT count(*) FROM pg_stat_activity WHERE usename = current_user AND backend_type = 'client backend')::int,
	(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend')::int`

// AfterConnect registers on a new connection the codecs every pool of the
// product uses, then runs next (which may be nil): uuid.UUID values (db/gen's
// uuid type) encode and scan as 16 bytes (db/pguuid), and jsonb scans into
// json.RawMessage without a second validation (db/pgjson). ConfigurePool
// chains it into the pool's AfterConnect; chain it into a pool you build.
func AfterConnect(next func(context.Context, *pgx.Conn) error) func(context.Context, *pgx.Conn) error {
	return pguuid.AfterConnect(func(ctx context.Context, conn *pgx.Conn) error {
		pgjson.Register(conn.TypeMap())
		if next != nil {
			return next(ctx, conn)
		}
		return nil
	})
}

package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/peterldowns/pgtestdb"

	"github.com/ransomeye/intel/internal/pgcluster"
	"github.com/ransomeye/intel/scaleout"
)

// CitusEnv, set to 1, makes Main run a package's tests on a throw-away
// Citus cluster instead of one PostgreSQL server (make test-citus): a
// coordinator and two workers started from the machine's server binaries
// with the citus extension (see ../shared/citus). DSN then returns a
// database of the coordinator, migrated and distributed with
// scaleout.Distribute, and EmptyDSN one with Citus set up but no schema.
const CitusEnv = "INTEL_TEST_CITUS"

// CitusMode reports whether the tests run on Citus (CitusEnv=1).
func CitusMode() bool { return os.Getenv(CitusEnv) == "1" }

// citusSettings are added to the test settings of every node.
var citusSettings = map[string]string{
	"shared_preload_libraries":  "citus",
	"shared_buffers":            "64MB",
	"max_prepared_transactions": "200",
	// Citus runs a maintenance daemon per database (distributed deadlock
	// detection, 2PC recovery), a background worker each. The tests make a
	// database each, side by side: with the default 8 the coordinator could
	// not start some ("could not start maintenance background worker"), and
	// a distributed deadlock between a test's DROP and its load's COPY was
	// never detected (TestDayPartitionDroppedMidLoadIsMadeAgain hung 20
	// minutes in CI).
	"max_worker_processes":               "64",
	"citus.enable_statistics_collection": "off",
	// Few shards keep a cluster of three servers on two cores quick; the
	// distribution is what the tests prove, not its width.
	"citus.shard_count": "4",
	// Loopback between the nodes; without it libpq looks for client
	// certificates in the HOME of the user that started the tests.
	"citus.node_conninfo": "sslmode=disable",
}

// CitusCluster is a throw-away Citus cluster: a coordinator and workers.
type CitusCluster struct {
	Coordinator *Server
	Workers     []*Server
	role        pgtestdb.Role

	mu        sync.Mutex
	templates map[bool]templateResult
}

type templateResult struct {
	name string
	err  error
}

var (
	citusMu  sync.Mutex
	citusCur *CitusCluster
)

func citusCluster() *CitusCluster {
	citusMu.Lock()
	defer citusMu.Unlock()
	return citusCur
}

// StartCitus starts a coordinator and two workers sharing one superuser
// password, with the test role on each, in parallel.
func StartCitus(ctx context.Context) (*CitusCluster, error) {
	password, err := pgcluster.GeneratePassword()
	if err != nil {
		return nil, err
	}
	rolePassword, err := pgcluster.GeneratePassword()
	if err != nil {
		return nil, err
	}
	servers := make([]*Server, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = start(ctx, citusSettings, password)
		}()
	}
	wg.Wait()
	c := &CitusCluster{Coordinator: servers[0], Workers: servers[1:], templates: map[bool]templateResult{},
		role: pgtestdb.Role{Username: pgtestdb.DefaultRoleUsername, Password: rolePassword, Capabilities: pgtestdb.DefaultRoleCapabilities}}
	if err := errors.Join(errs...); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("start citus cluster: %w", err)
	}
	for _, s := range servers {
		if err := createRole(s.DSN, c.role); err != nil {
			_ = c.Stop()
			return nil, err
		}
	}
	return c, nil
}

// Stop stops every node and removes their directories.
func (c *CitusCluster) Stop() error {
	var errs []error
	for _, s := range append([]*Server{c.Coordinator}, c.Workers...) {
		if s != nil {
			errs = append(errs, s.Stop())
		}
	}
	return errors.Join(errs...)
}

func (c *CitusCluster) nodes() []*Server {
	return append(append([]*Server{}, c.Workers...), c.Coordinator)
}

// runCitus is Run on a Citus cluster.
func runCitus(m *testing.M) int {
	c, err := StartCitus(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot start a Citus cluster for the tests (is Citus installed? ../shared/citus/install.sh): %v\n", err)
		return 1
	}
	defer stopOnSignal(c.Stop)()
	conf, err := configFromURL(c.Coordinator.DSN)
	if err != nil {
		_ = c.Stop()
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	conf.TestRole = &c.role
	setServer(conf)
	citusMu.Lock()
	citusCur = c
	citusMu.Unlock()
	code := m.Run()
	if err := c.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop citus cluster: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// stopOnSignal calls stop and exits when the run is interrupted, so an
// interrupted run still stops its servers and removes their directories.
// The function it returns stops listening.
func stopOnSignal(stop func() error) func() {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if _, ok := <-sigs; ok {
			_ = stop()
			os.Exit(130)
		}
	}()
	return func() { signal.Stop(sigs) }
}

// StartMigratedServer starts a dedicated plain PostgreSQL server for one
// test (even on Citus), migrates its postgres database and returns its
// superuser DSN; the server is stopped when the test ends.
func StartMigratedServer(t testing.TB) string {
	t.Helper()
	dsn := StartServer(t, nil)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer db.Close()
	if err := (Migrator{}).Migrate(context.Background(), db, pgtestdb.Config{}); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// dsnAs returns the URL of database on s as the test role.
func (c *CitusCluster) dsnAs(s *Server, database string) string {
	u, err := url.Parse(s.cluster.DSN(database))
	if err != nil {
		return ""
	}
	u.User = url.UserPassword(c.role.Username, c.role.Password)
	return u.String()
}

// admin runs statements as the superuser on database of s.
func admin(ctx context.Context, s *Server, database string, stmts ...string) error {
	conn, err := pgx.Connect(ctx, s.cluster.DSN(database))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// template returns the name of the template database (migrated or not),
// making it the first time: the same database on every node, with the
// citus extension, the workers added, the test role's password known to
// the coordinator (pg_dist_authinfo), and the schema migrated and
// distributed. A test database is a copy of it on every node: the shards
// on the workers are copied with the coordinator's metadata naming them.
func (c *CitusCluster) template(ctx context.Context, migrated bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.templates[migrated]; ok {
		return r.name, r.err
	}
	name, err := c.makeTemplate(ctx, migrated)
	c.templates[migrated] = templateResult{name, err}
	return name, err
}

func (c *CitusCluster) makeTemplate(ctx context.Context, migrated bool) (string, error) {
	name := "citus_tpl_empty"
	if migrated {
		h, err := Migrator{}.Hash()
		if err != nil {
			return "", err
		}
		name = "citus_tpl_" + h
	}
	create := fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgx.Identifier{name}.Sanitize(), pgx.Identifier{c.role.Username}.Sanitize())
	for _, s := range c.Workers {
		if err := admin(ctx, s, "postgres", create); err != nil {
			return "", err
		}
		if err := admin(ctx, s, name, "CREATE EXTENSION citus"); err != nil {
			return "", err
		}
	}
	if err := admin(ctx, c.Coordinator, "postgres", create); err != nil {
		return "", err
	}
	stmts := []string{
		"CREATE EXTENSION citus",
		fmt.Sprintf("INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, %s, %s), (0, %s, %s)",
			quote(c.Coordinator.cluster.Superuser()), quote("password="+c.Coordinator.cluster.Password()),
			quote(c.role.Username), quote("password="+c.role.Password)),
		fmt.Sprintf("SELECT citus_set_coordinator_host('127.0.0.1', %d)", c.Coordinator.cluster.Port()),
	}
	for _, w := range c.Workers {
		stmts = append(stmts, fmt.Sprintf("SELECT citus_add_node('127.0.0.1', %d)", w.cluster.Port()))
	}
	if err := admin(ctx, c.Coordinator, name, stmts...); err != nil {
		return "", err
	}
	if migrated {
		if err := c.migrate(ctx, c.dsnAs(c.Coordinator, name)); err != nil {
			return "", err
		}
	}
	// Copies are made of it with no session on it (see dropDatabase for
	// why the maintenance daemon must not connect to it again); a copy
	// takes connections again.
	closeDB := refuseConnections(name)
	for _, s := range c.nodes() {
		if err := admin(ctx, s, "postgres", closeDB); err != nil {
			return "", err
		}
	}
	return name, nil
}

func (c *CitusCluster) migrate(ctx context.Context, dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := (Migrator{}).Migrate(ctx, db, pgtestdb.Config{}); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = scaleout.Distribute(ctx, conn)
	return err
}

// refuseConnections is the statement that makes database name refuse new
// connections (see dropDatabase for why).
func refuseConnections(name string) string {
	return fmt.Sprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS false", pgx.Identifier{name}.Sanitize())
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// copyDatabase makes name a copy of template on every node. The
// template must have no sessions: Citus' maintenance daemon is one, so it
// is ended first (it starts again in a database a backend uses).
func (c *CitusCluster) copyDatabase(ctx context.Context, name, template string) error {
	create := fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s OWNER %s", pgx.Identifier{name}.Sanitize(),
		pgx.Identifier{template}.Sanitize(), pgx.Identifier{c.role.Username}.Sanitize())
	for _, s := range c.nodes() {
		if err := retryBusy(ctx, s, template, create); err != nil {
			return err
		}
	}
	return nil
}

// retryBusy runs stmt on the postgres database of s, ending the sessions
// of database first, and again while it is "being accessed by other users"
// (a session or a background worker that ended late), for up to a minute.
// Each try has its own deadline: a statement the server holds is cancelled
// and tried again rather than left to hang the test binary.
func retryBusy(ctx context.Context, s *Server, database, stmt string) error {
	kick := fmt.Sprintf("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", quote(database))
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		try, cancelTry := context.WithTimeout(ctx, 15*time.Second)
		err := admin(try, s, "postgres", kick, stmt)
		cancelTry()
		busy := err != nil && (strings.Contains(err.Error(), "being accessed by other users") || errors.Is(err, context.DeadlineExceeded))
		if !busy || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dropDatabase drops name on every node, the coordinator first. The
// database stops taking connections before it is dropped: Citus'
// maintenance daemon connects to its own node (to recover two-phase
// commits), and such a connection, once it waits for the DROP's lock on the
// database, keeps the daemon (which ends only between its reads) alive
// while the DROP waits for the daemon to end. In CI that cycle held a
// test's cleanup for the whole -timeout.
func (c *CitusCluster) dropDatabase(ctx context.Context, name string) error {
	id := pgx.Identifier{name}.Sanitize()
	closeDB := refuseConnections(name)
	drop := fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", id)
	var errs []error
	for _, s := range append([]*Server{c.Coordinator}, c.Workers...) {
		closed, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := admin(closed, s, "postgres", closeDB)
		cancel()
		if err != nil && !strings.Contains(err.Error(), "does not exist") {
			errs = append(errs, err)
		}
		errs = append(errs, retryBusy(ctx, s, name, drop))
	}
	return errors.Join(errs...)
}

// testDatabase returns the URL of a new database of the coordinator for t,
// as the test role, dropped on every node when t passes (kept and logged
// when it fails, as pgtestdb does).
func (c *CitusCluster) testDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tpl, err := c.template(ctx, migrated)
	if err != nil {
		t.Fatalf("pgtest: citus template: %v", err)
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "citus_test_" + hex.EncodeToString(b)
	if err := c.copyDatabase(ctx, name, tpl); err != nil {
		t.Fatalf("pgtest: citus test database: %v", err)
	}
	dsn := c.dsnAs(c.Coordinator, name)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: kept the failed test's citus database %s (on the coordinator, port %s)", name, strconv.Itoa(c.Coordinator.cluster.Port()))
			return
		}
		// A database left behind goes with the cluster's directory
		// when the tests end: logged, not failed.
		if err := c.dropDatabase(context.Background(), name); err != nil {
			t.Logf("pgtest: drop citus test database: %v", err)
		}
	})
	return dsn
}

// CitusWorkerDSNs returns, on Citus (CitusEnv=1), the superuser URL of the
// database of dsn (a test database of the coordinator) on each worker, for
// tests that reach into the shards (a fault injected on a worker); nil
// on one server.
func CitusWorkerDSNs(t testing.TB, dsn string) []string {
	t.Helper()
	c := citusCluster()
	if c == nil {
		return nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: parse dsn: %v", err)
	}
	out := make([]string, 0, len(c.Workers))
	for _, w := range c.Workers {
		out = append(out, w.cluster.DSN(strings.TrimPrefix(u.Path, "/")))
	}
	return out
}

// DedicatedCitus starts a Citus cluster of the test's own (a coordinator
// and two workers), for a test that freezes or stops one of its nodes,
// which on the shared cluster would hold up every other test, and returns
// the URL of a migrated and distributed database on it, as the test role.
// The cluster is stopped when the test ends. It needs Citus installed
// (CitusMode's tests); a test that calls it should skip off CitusMode.
func DedicatedCitus(t testing.TB) (string, *CitusCluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := StartCitus(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Logf("pgtest: stop the test's citus cluster: %v", err)
		}
	})
	return c.testDatabase(t, true), c
}

// Freeze stops every process of s (its postmaster, then every process it
// started: backends, checkpointer, …) with SIGSTOP, as a hung host or a
// network partition leaves a server: connections stay open and nothing
// answers. The processes are sent SIGCONT when thaw is called or the test
// ends, before the server is stopped: a server is never left frozen.
func (s *Server) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	pids, err := ServerPIDs(s.cluster.DataDir())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	for _, pid := range pids {
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatalf("pgtest: freeze %d: %v", pid, err)
		}
	}
	return thaw
}

// Package pgtest gives tests, benchmarks and examples a real PostgreSQL.
//
// A package's TestMain calls Main. With DATABASE_URL unset, Main starts a
// throw-away cluster from the server binaries on the machine (see
// internal/pgcluster) in a temporary directory on a free loopback port, as
// an unprivileged user when the tests run as root, and removes it when the
// tests end. Its superuser and the role that owns the test databases log in
// with passwords made for the run (scram-sha-256, loopback TCP only), so
// other users of the machine cannot connect; a role a test creates needs a
// password too. With DATABASE_URL set, that server is used instead (its
// user must be allowed to create roles and databases).
//
// Each test then asks for its own database with DSN or Pool: a clone of a
// template database migrated once per migration set (pgtestdb keys templates
// by a hash of the migration files), so tests run in parallel in isolation.
// A failed test's database is kept and its URL logged. When PostgreSQL cannot
// be started, Main fails the run with a message that says what to install:
// database tests never skip.
//
// With INTEL_TEST_CITUS=1 (make test-citus) Main starts a Citus cluster
// instead, a coordinator and two workers, and DSN returns a database of the
// coordinator distributed by scaleout.Distribute (see citus.go and
// docs/scale.md).
package pgtest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for pgtestdb and goose
	"github.com/peterldowns/pgtestdb"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/internal/citusnotice"
	"github.com/ransomeye/intel/internal/pgcluster"
	"github.com/ransomeye/intel/tuning"
)

// server is the base configuration of the server every test database lives on.
var (
	serverMu   sync.Mutex
	serverConf *pgtestdb.Config
)

// defaultSettings make a throw-away cluster fast and roomy for parallel tests.
var defaultSettings = map[string]string{
	"fsync":              "off",
	"synchronous_commit": "off",
	"full_page_writes":   "off",
	"max_connections":    "300",
	"shared_buffers":     "128MB",
	// As the product's sessions run (tuning.ConfigurePool): the graph
	// walk's plan is costed above jit_above_cost even on a test's small
	// graph, and compiling it cost each walk about 150 ms.
	"jit": "off",
}

// Main runs the tests of a package against a real PostgreSQL and exits. Call
// it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit: it returns the exit code, so a TestMain can
// clean up after the tests before exiting.
func Run(m *testing.M) int {
	if CitusMode() {
		return runCitus(m)
	}
	if dsn := os.Getenv("DATABASE_URL"); dsn != "" {
		conf, err := configFromURL(dsn)
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: DATABASE_URL: %v\n", err)
			return 1
		}
		setServer(conf)
		return m.Run()
	}
	srv, err := Start(context.Background(), nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: cannot start a PostgreSQL server for the tests: %v\n", err)
		return 1
	}
	defer stopOnSignal(srv.Stop)()
	conf, err := configFromURL(srv.DSN)
	if err != nil {
		_ = srv.Stop()
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	// The test databases' owner gets a password of this run, not
	// pgtestdb's well-known default, so other users of the machine cannot
	// log in to them.
	rolePassword, err := pgcluster.GeneratePassword()
	if err != nil {
		_ = srv.Stop()
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	conf.TestRole = &pgtestdb.Role{
		Username:     pgtestdb.DefaultRoleUsername,
		Password:     rolePassword,
		Capabilities: pgtestdb.DefaultRoleCapabilities,
	}
	// Made here, with a cheap verifier (pgcluster.ScramIterations), so
	// that pgtestdb finds it and every test connection is fast.
	if err := createRole(srv.DSN, *conf.TestRole); err != nil {
		_ = srv.Stop()
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		return 1
	}
	setServer(conf)
	code := m.Run()
	if err := srv.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: stop server: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// createRole creates the login role of the test databases on the server.
func createRole(dsn string, role pgtestdb.Role) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("connect to create the test role: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE ROLE "+pgx.Identifier{role.Username}.Sanitize()+" LOGIN "+role.Capabilities); err != nil {
		return fmt.Errorf("create the test role: %w", err)
	}
	return pgcluster.SetPassword(ctx, conn, role.Username, role.Password)
}

func setServer(conf *pgtestdb.Config) {
	serverMu.Lock()
	defer serverMu.Unlock()
	serverConf = conf
}

func server(t testing.TB) pgtestdb.Config {
	t.Helper()
	serverMu.Lock()
	defer serverMu.Unlock()
	if serverConf == nil {
		t.Fatalf("pgtest: no server; call pgtest.Main(m) from the package's TestMain")
	}
	return *serverConf
}

// Server is a throw-away PostgreSQL cluster in a temporary directory.
type Server struct {
	// DSN connects to its postgres database as the superuser.
	DSN     string
	cluster *pgcluster.Cluster
	dir     string
	owner   *os.File // holds ownerLock on dir while this process runs
}

// Start initdb's and starts a throw-away cluster with the default test
// settings overridden by settings (for example {"max_connections": "20"}).
func Start(ctx context.Context, settings map[string]string) (*Server, error) {
	return start(ctx, settings, "")
}

// start is Start with the superuser's password (empty: a random one).
func start(ctx context.Context, settings map[string]string, password string) (*Server, error) {
	sweepStale(os.TempDir())
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("create temp dir: %w", err)
	}
	owner, err := lockOwner(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	merged := make(map[string]string, len(defaultSettings)+len(settings))
	for k, v := range defaultSettings {
		merged[k] = v
	}
	for k, v := range settings {
		merged[k] = v
	}
	c, err := pgcluster.New(pgcluster.Options{
		DataDir:  filepath.Join(dir, "data"),
		LogFile:  filepath.Join(dir, "server.log"),
		Settings: merged,
		Password: password,
	})
	if err == nil {
		err = c.GiveTo(dir)
	}
	if err == nil {
		err = c.Init(ctx)
	}
	if err == nil {
		err = c.StartChild(ctx)
	}
	if err != nil {
		_ = owner.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return &Server{DSN: c.DSN("postgres"), cluster: c, dir: dir, owner: owner}, nil
}

// sweepStale removes the directories of earlier runs that died without
// cleaning up (a test binary killed by go test's -timeout, say): pgtest-*
// directories older than a minute whose server is not running and whose
// test process is gone. A server that a live test stopped or killed on
// purpose (a worker of a Citus cluster killed, to be started again) is not
// running either: its directory is kept while the process that made it
// holds its owner lock.
func sweepStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, "pgtest-*"))
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || time.Since(st.ModTime()) < time.Minute || serverAlive(filepath.Join(d, "data")) || ownerAlive(d) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

// ownerLock is the file in a server's directory that the process that
// made it keeps locked (flock) while it runs; the kernel lets go of the
// lock when that process ends, however it ends.
const ownerLock = "owner.lock"

// lockOwner creates dir's owner lock and takes it.
func lockOwner(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ownerLock), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create the owner lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("take the owner lock of %s: %w", dir, err)
	}
	return f, nil
}

// ownerAlive reports whether a live process holds dir's owner lock.
func ownerAlive(dir string) bool {
	f, err := os.Open(filepath.Join(dir, ownerLock))
	if err != nil {
		return false // an older run's directory, or not one of ours
	}
	defer func() { _ = f.Close() }()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	}
	return errors.Is(err, syscall.EWOULDBLOCK)
}

// serverAlive reports whether postmaster.pid in dataDir names a live process.
func serverAlive(dataDir string) bool {
	raw, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return false
	}
	err = syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Stop stops the server and removes its directory.
func (s *Server) Stop() error {
	err := s.cluster.StopChild()
	if s.owner != nil {
		_ = s.owner.Close()
	}
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = rmErr
	}
	return err
}

// StartServer starts a dedicated throw-away server with settings for one
// test and stops it when the test ends; it returns the superuser DSN. Use it
// for tests about server configuration; others should use DSN or Pool.
func StartServer(t testing.TB, settings map[string]string) string {
	t.Helper()
	srv, err := Start(context.Background(), settings)
	if err != nil {
		t.Fatalf("pgtest: start server: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Errorf("pgtest: stop server: %v", err)
		}
	})
	return srv.DSN
}

func configFromURL(dsn string) (*pgtestdb.Config, error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("want a postgres:// URL, got %q", dsn)
	}
	pass, _ := u.User.Password()
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" {
		db = "postgres"
	}
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	return &pgtestdb.Config{
		DriverName:                "pgx",
		Host:                      u.Hostname(),
		Port:                      port,
		User:                      u.User.Username(),
		Password:                  pass,
		Database:                  db,
		Options:                   q.Encode(),
		ForceTerminateConnections: true,
	}, nil
}

// DSN returns the URL of a new database for this test, migrated to the
// latest schema, dropped when the test passes.
func DSN(t testing.TB) string {
	t.Helper()
	if c := citusCluster(); c != nil {
		return c.testDatabase(t, true)
	}
	return pgtestdb.Custom(t, server(t), Migrator{}).URL()
}

// EmptyDSN returns the URL of a new database with no schema, for tests of
// the migrations themselves.
func EmptyDSN(t testing.TB) string {
	t.Helper()
	if c := citusCluster(); c != nil {
		return c.testDatabase(t, false)
	}
	return pgtestdb.Custom(t, server(t), pgtestdb.NoopMigrator{}).URL()
}

// Pool returns a small pool on a new migrated database, closed when the test
// ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return PoolFor(t, DSN(t))
}

// PoolFor returns a small pool on dsn, closed when the test ends. Its
// connections register the product's codecs (tuning.AfterConnect), as its
// pools do.
func PoolFor(t testing.TB, dsn string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: parse dsn: %v", err)
	}
	if cfg.MaxConns > 8 {
		cfg.MaxConns = 8
	}
	cfg.AfterConnect = tuning.AfterConnect(cfg.AfterConnect)
	cfg.ConnConfig.OnNotice = citusnotice.Record(cfg.ConnConfig.OnNotice) // as tuning.ConfigurePool
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Migrator migrates a pgtestdb template with the embedded goose migrations.
type Migrator struct{}

// Hash identifies the migration set: a SHA-256 over the names and contents
// of the embedded migration files.
func (Migrator) Hash() (string, error) {
	return hashFS(migrations.FS)
}

// Migrate runs every migration up through goose's Provider.
func (Migrator) Migrate(ctx context.Context, db *sql.DB, _ pgtestdb.Config) error {
	p, err := migrations.NewProvider(db)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return nil
}

func hashFS(fsys fs.FS) (string, error) {
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// AdminDSN returns dsn (the URL of a test database) with the server's
// administrative user in place of the test role, for tests that create
// roles or grant privileges.
func AdminDSN(t testing.TB, dsn string) string {
	t.Helper()
	conf := server(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: parse dsn: %v", err)
	}
	if conf.Password != "" {
		u.User = url.UserPassword(conf.User, conf.Password)
	} else {
		u.User = url.User(conf.User)
	}
	return u.String()
}

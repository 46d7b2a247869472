// Package localdb is the intel CLI's embedded default database: a
// PostgreSQL cluster kept in the user's state directory, started from the
// server binaries on the machine on first use (as an unprivileged user when
// run as root) and reused by later commands until `intel local stop`.
//
// The state directory is, in order: $INTEL_STATE_DIR;
// $XDG_STATE_HOME/ransomeye-intel; ~/.local/state/ransomeye-intel. When run
// as root it is /var/lib/ransomeye-intel instead, because root's home is not
// readable by the user the server runs as.
//
// The server binaries are found as pgcluster.FindBinDir does, unless
// $INTEL_PG_BINDIR names their directory.
package localdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/internal/pgcluster"
)

// Database is the name of the database the CLI uses in the local cluster.
const Database = "intel"

// StateDir returns the directory that holds the local cluster.
func StateDir() (string, error) {
	if d := os.Getenv("INTEL_STATE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	if os.Geteuid() == 0 {
		return "/var/lib/ransomeye-intel", nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ransomeye-intel"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the state directory: %w (set INTEL_STATE_DIR or DATABASE_URL)", err)
	}
	return filepath.Join(home, ".local", "state", "ransomeye-intel"), nil
}

// Local is the local cluster in a state directory.
type Local struct {
	dir     string
	cluster *pgcluster.Cluster
}

// Open describes the local cluster in dir (see StateDir) without starting it.
// It fails with pgcluster.ErrNoServer when no server binaries are installed.
func Open(dir string) (*Local, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	port := 0
	if raw, err := os.ReadFile(filepath.Join(dir, "port")); err == nil {
		port, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
	}
	c, err := pgcluster.New(pgcluster.Options{
		BinDir:       os.Getenv("INTEL_PG_BINDIR"),
		DataDir:      filepath.Join(dir, "pgdata"),
		LogFile:      filepath.Join(dir, "postgres.log"),
		Port:         port,
		StartTimeout: 60 * time.Second,
		Settings: map[string]string{
			"max_connections": "200",
			"shared_buffers":  "256MB",
		},
	})
	if err != nil {
		return nil, err
	}
	if err := c.GiveTo(dir); err != nil {
		return nil, err
	}
	return &Local{dir: dir, cluster: c}, nil
}

// Dir returns the state directory.
func (l *Local) Dir() string { return l.dir }

// LogFile returns the server log path.
func (l *Local) LogFile() string { return l.cluster.LogFile() }

// Status describes the local cluster.
type Status struct {
	StateDir    string `json:"state_dir"`
	Initialized bool   `json:"initialized"`
	Running     bool   `json:"running"`
	Port        int    `json:"port,omitempty"`
	URL         string `json:"url,omitempty"`
	BinDir      string `json:"bin_dir"`
	LogFile     string `json:"log_file"`
}

// Status reports whether the cluster exists and runs.
func (l *Local) Status() Status {
	st := Status{StateDir: l.dir, Initialized: l.cluster.Initialized(), BinDir: l.cluster.BinDir(), LogFile: l.cluster.LogFile()}
	if port, ok := l.cluster.Running(); ok {
		st.Running, st.Port = true, port
		st.URL = fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", l.cluster.Superuser(), port, Database)
	}
	return st
}

// Start initializes the cluster if needed, starts it unless it runs, makes
// the intel database, and returns its URL. Concurrent callers serialize on a
// lock file in the state directory.
func (l *Local) Start(ctx context.Context) (string, error) {
	unlock, err := l.lock()
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := l.cluster.Init(ctx); err != nil {
		return "", err
	}
	if err := l.startOnFreePort(ctx); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(l.dir, "port"), []byte(strconv.Itoa(l.cluster.Port())+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("record port: %w", err)
	}
	if err := createDatabase(ctx, l.cluster.DSN("postgres")); err != nil {
		return "", err
	}
	return l.cluster.DSN(Database), nil
}

// startOnFreePort starts the server, moving to a new port when the recorded
// one has been taken by another program meanwhile.
func (l *Local) startOnFreePort(ctx context.Context) error {
	if _, running := l.cluster.Running(); !running && l.cluster.Port() != 0 && !portFree(l.cluster.Port()) {
		if err := l.reopenOnNewPort(); err != nil {
			return err
		}
	}
	return l.cluster.StartDaemon(ctx)
}

func (l *Local) reopenOnNewPort() error {
	if err := os.Remove(filepath.Join(l.dir, "port")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fresh, err := Open(l.dir)
	if err != nil {
		return err
	}
	l.cluster = fresh.cluster
	return nil
}

func portFree(port int) bool {
	p, err := pgcluster.FreePortAt(port)
	return err == nil && p == port
}

// Stop stops the server if it runs.
func (l *Local) Stop(ctx context.Context) error {
	unlock, err := l.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return l.cluster.StopDaemon(ctx)
}

func (l *Local) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(l.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close() // the lock file holds no data
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

func createDatabase(ctx context.Context, adminDSN string) error {
	conn, err := pgx.Connect(ctx, adminDSN)
	if err != nil {
		return fmt.Errorf("connect to local cluster: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Database).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", Database, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{Database}.Sanitize()); err != nil {
		var again bool
		if qerr := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", Database).Scan(&again); qerr == nil && again {
			return nil
		}
		return fmt.Errorf("create database %s: %w", Database, err)
	}
	return nil
}

// Package localdb is the intel CLI's embedded default database: a
// PostgreSQL cluster kept in the user's state directory, started from the
// server binaries on the machine on first use (as an unprivileged user when
// run as root) and reused by later commands until `intel local stop`.
//
// Where the state directory is, StateDirRule says. As root,
// $XDG_STATE_HOME is not used: root's home is not readable by the user the
// server runs as, so the cluster lives in /var/lib/ransomeye-intel.
//
// The server listens on 127.0.0.1 only, opens no unix socket, and takes
// connections only with the superuser's password (scram-sha-256). The
// password is generated on first start and kept, readable by its owner
// only, in the file PasswordFile names; the URLs the package hands out name
// that file (passfile=…) rather than carrying the password, and libpq, pgx
// and psql read it from there. A cluster made by an older version that
// trusted local connections is given a password on its next start.
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

// StateDirRule says where the state directory is, in the words the CLI's
// help and the README use; StateDir follows it.
const StateDirRule = "$INTEL_STATE_DIR, else $XDG_STATE_HOME/ransomeye-intel, else " +
	"~/.local/state/ransomeye-intel; as root: $INTEL_STATE_DIR, else /var/lib/ransomeye-intel " +
	"($XDG_STATE_HOME and ~ are not used, because the server's user cannot reach root's home)"

// RootStateDir is the state directory of root when INTEL_STATE_DIR is unset.
const RootStateDir = "/var/lib/ransomeye-intel"

// StateDir returns the directory that holds the local cluster (see
// StateDirRule).
func StateDir() (string, error) {
	return stateDir(os.Geteuid(), os.Getenv, os.UserHomeDir)
}

func stateDir(euid int, getenv func(string) string, home func() (string, error)) (string, error) {
	if d := getenv("INTEL_STATE_DIR"); d != "" {
		return filepath.Abs(d)
	}
	if euid == 0 {
		return RootStateDir, nil
	}
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "ransomeye-intel"), nil
	}
	h, err := home()
	if err != nil {
		return "", fmt.Errorf("find the state directory: %w (set INTEL_STATE_DIR or DATABASE_URL)", err)
	}
	return filepath.Join(h, ".local", "state", "ransomeye-intel"), nil
}

// Local is the local cluster in a state directory.
type Local struct {
	dir       string
	cluster   *pgcluster.Cluster
	movedFrom int // see MovedFrom
}

// Open describes the local cluster in dir (see StateDir) without starting it,
// making the directory and the cluster's password file if they are missing.
// It fails with pgcluster.ErrNoServer when no server binaries are installed,
// and with ErrUnsafeStateDir when another user could change the directory.
func Open(dir string) (*Local, error) {
	// Only the owner may list the directory; as root, the server's user must
	// still pass through it to its data directory and log.
	perm := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		perm = 0o711
	}
	if err := checkStateDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return nil, fmt.Errorf("create state directory %s: %w", dir, err)
	}
	if err := checkStateDir(dir); err != nil {
		return nil, err
	}
	password, err := ensurePassword(dir)
	if err != nil {
		return nil, err
	}
	return open(dir, password)
}

// Inspect describes the local cluster in dir like Open, for Status and
// Stop, but makes nothing: a state directory that is missing (never used,
// or moved away) stays missing, without a password file of a cluster that
// does not exist.
func Inspect(dir string) (*Local, error) {
	if err := checkStateDir(dir); err != nil {
		return nil, err
	}
	password, err := readPassword(PasswordFile(dir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return open(dir, password)
}

func open(dir, password string) (*Local, error) {
	port := 0
	if raw, err := os.ReadFile(filepath.Join(dir, "port")); err == nil {
		port, _ = strconv.Atoi(strings.TrimSpace(string(raw)))
	}
	c, err := pgcluster.New(pgcluster.Options{
		BinDir:       os.Getenv("INTEL_PG_BINDIR"),
		DataDir:      filepath.Join(dir, "pgdata"),
		LogFile:      filepath.Join(dir, "postgres.log"),
		Port:         port,
		Password:     password,
		StartTimeout: 60 * time.Second,
		Settings: map[string]string{
			"max_connections": "200",
			"shared_buffers":  "256MB",
		},
	})
	if err != nil {
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
	// PasswordFile holds the superuser's password (mode 0600); the URL
	// names it.
	PasswordFile string `json:"password_file"`
	BinDir       string `json:"bin_dir"`
	// ServerUser is the user the server runs as when intel runs as root.
	ServerUser string `json:"server_user,omitempty"`
	LogFile    string `json:"log_file"`
}

// Status reports whether the cluster exists and runs.
func (l *Local) Status() Status {
	st := Status{StateDir: l.dir, Initialized: l.cluster.Initialized(), BinDir: l.cluster.BinDir(),
		LogFile: l.cluster.LogFile(), PasswordFile: PasswordFile(l.dir), ServerUser: l.cluster.ServerUser()}
	if port, ok := l.cluster.Running(); ok {
		st.Running, st.Port = true, port
		st.URL = l.url(port)
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
		if errors.Is(err, pgcluster.ErrPasswordRejected) {
			return "", fmt.Errorf("%w: the password in %s is not the local cluster's; restore the file, "+
				"or 'intel local stop' and remove %s to start afresh", err, PasswordFile(l.dir), l.dir)
		}
		return "", err
	}
	if err := l.cluster.RequirePassword(ctx); err != nil {
		return "", fmt.Errorf("require a password on the local cluster: %w", err)
	}
	if err := os.WriteFile(filepath.Join(l.dir, "port"), []byte(strconv.Itoa(l.cluster.Port())+"\n"), 0o644); err != nil {
		return "", fmt.Errorf("record port: %w", err)
	}
	if err := createDatabase(ctx, l.cluster.DSN("postgres")); err != nil {
		return "", err
	}
	return l.url(l.cluster.Port()), nil
}

// startOnFreePort starts the server, moving to a new port when the recorded
// one has been taken by another program meanwhile (MovedFrom says so).
func (l *Local) startOnFreePort(ctx context.Context) error {
	if _, running := l.cluster.Running(); !running && l.cluster.Port() != 0 && !portFree(l.cluster.Port()) {
		old := l.cluster.Port()
		if err := l.reopenOnNewPort(); err != nil {
			return err
		}
		l.movedFrom = old
	}
	return l.cluster.StartDaemon(ctx)
}

// MovedFrom is, after Start, the port the cluster listened on before when
// Start had to move it (another program had taken it): a URL saved before
// then names that other program. 0 when it did not move.
func (l *Local) MovedFrom() int { return l.movedFrom }

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
	f, err := os.OpenFile(filepath.Join(l.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
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

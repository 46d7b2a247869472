package pgcluster

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options describes a cluster.
type Options struct {
	// DataDir is the PostgreSQL data directory. Its parent must exist.
	DataDir string
	// BinDir holds initdb, postgres and pg_ctl; empty means FindBinDir.
	BinDir string
	// Port is the loopback TCP port; 0 picks a free one at start.
	Port int
	// Superuser is the bootstrap role initdb creates; empty means "postgres".
	Superuser string
	// Password is the superuser's password. Every connection, over loopback
	// TCP only, authenticates with scram-sha-256; there is no trust and no
	// unix socket. Empty means a random one (see GeneratePassword), which
	// suits a throw-away cluster; a persistent one must keep its password.
	Password string
	// Settings are extra server settings passed as -c name=value at start.
	Settings map[string]string
	// LogFile receives the server log; empty means DataDir + ".log".
	LogFile string
	// StartTimeout bounds the wait for the server to accept connections;
	// zero means 60 seconds.
	StartTimeout time.Duration
}

// Cluster is one PostgreSQL data directory and, once started, its server.
type Cluster struct {
	opts   Options
	binDir string
	runAs  *syscall.Credential
	// runAsName names runAs ("postgres" or "nobody"); empty when not root.
	runAsName string
	port      int
	child     *exec.Cmd
	exited    chan error
	// logFrom is the size of the server log when this start began: the
	// lines after it are this start's.
	logFrom int64
}

// New returns the cluster described by opts. It finds the server binaries
// and, when the process runs as root, the unprivileged user ("postgres", or
// "nobody") that will own the data directory and run the server.
func New(opts Options) (*Cluster, error) {
	if opts.DataDir == "" {
		return nil, errors.New("pgcluster: DataDir is required")
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, fmt.Errorf("resolve data directory: %w", err)
	}
	opts.DataDir = dataDir
	if opts.Superuser == "" {
		opts.Superuser = "postgres"
	}
	if opts.Password == "" {
		if opts.Password, err = GeneratePassword(); err != nil {
			return nil, err
		}
	}
	if opts.LogFile == "" {
		opts.LogFile = opts.DataDir + ".log"
	}
	if opts.StartTimeout == 0 {
		opts.StartTimeout = 60 * time.Second
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = FindBinDir(); err != nil {
			return nil, err
		}
	} else if !hasServerTools(binDir) {
		return nil, fmt.Errorf("%s lacks initdb, postgres or pg_ctl: %w", binDir, ErrNoServer)
	}
	c := &Cluster{opts: opts, binDir: binDir, port: opts.Port}
	if os.Geteuid() == 0 {
		if c.runAs, c.runAsName, err = unprivilegedUser(); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// unprivilegedUser picks the account a root process runs the server as.
func unprivilegedUser() (*syscall.Credential, string, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil || uid == 0 {
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, name, nil
	}
	return nil, "", errors.New("running as root, and no unprivileged user (postgres or nobody) to run PostgreSQL as: " +
		"create one (useradd postgres) or run as a normal user")
}

// ServerUser returns the user the server runs as when this process is root
// ("postgres", or "nobody" when there is no postgres user), or "" when the
// server runs as this process's user.
func (c *Cluster) ServerUser() string { return c.runAsName }

// BinDir returns the directory of the server binaries in use.
func (c *Cluster) BinDir() string { return c.binDir }

// DataDir returns the absolute data directory.
func (c *Cluster) DataDir() string { return c.opts.DataDir }

// LogFile returns the path of the server log.
func (c *Cluster) LogFile() string { return c.opts.LogFile }

// Port returns the port the server listens on (0 before Start picks one).
func (c *Cluster) Port() int { return c.port }

// Superuser returns the bootstrap role.
func (c *Cluster) Superuser() string { return c.opts.Superuser }

// Password returns the superuser's password.
func (c *Cluster) Password() string { return c.opts.Password }

// DSN returns a connection URL for database as the superuser, password
// included: keep it in the process (the intel CLI hands out URLs that name a
// password file instead).
func (c *Cluster) DSN(database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(c.opts.Superuser, c.opts.Password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Initialized reports whether the data directory holds a cluster.
func (c *Cluster) Initialized() bool {
	_, err := os.Stat(filepath.Join(c.opts.DataDir, "PG_VERSION"))
	return err == nil
}

// Init creates the data directory with initdb unless it is already
// initialized. Every connection must authenticate with the superuser's
// password (scram-sha-256); the server listens on loopback TCP only.
func (c *Cluster) Init(ctx context.Context) error {
	if c.Initialized() {
		return nil
	}
	if err := os.MkdirAll(c.opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	if err := c.chown(c.opts.DataDir); err != nil {
		return err
	}
	pwfile, err := c.passwordFileForInitdb()
	if err != nil {
		return err
	}
	defer os.Remove(pwfile) //nolint:errcheck // a temporary file; its removal failing changes nothing
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "initdb"),
		"-D", c.opts.DataDir, "-U", c.opts.Superuser,
		"--auth=scram-sha-256", "--pwfile="+pwfile,
		"--encoding=UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs}
	cmd.Dir = c.opts.DataDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb %s: %w: %s", c.opts.DataDir, err, lastLines(out, 10))
	}
	return nil
}

// GiveTo hands path (a directory that will hold the data directory, say) to
// the user the server runs as, when the process is root; otherwise it does
// nothing.
func (c *Cluster) GiveTo(path string) error { return c.chown(path) }

// chown gives path to the unprivileged user when running as root.
func (c *Cluster) chown(path string) error {
	if c.runAs == nil {
		return nil
	}
	if err := os.Chown(path, int(c.runAs.Uid), int(c.runAs.Gid)); err != nil {
		return fmt.Errorf("hand %s to uid %d: %w", path, c.runAs.Uid, err)
	}
	return nil
}

// serverArgs are the postgres arguments every start uses.
func (c *Cluster) serverArgs() []string {
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": "",
		"port":                    strconv.Itoa(c.port),
		"log_timezone":            "UTC",
		"TimeZone":                "UTC",
	}
	for k, v := range c.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	args := []string{"-D", c.opts.DataDir}
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	return args
}

func (c *Cluster) pickPort() error {
	if c.port != 0 {
		return nil
	}
	p, err := FreePort()
	if err != nil {
		return err
	}
	c.port = p
	return nil
}

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// StartChild runs the server as a child of this process, which it will not
// outlive: if this process dies, the kernel sends the server SIGQUIT. Stop
// it with StopChild. It returns once the server accepts connections.
func (c *Cluster) StartChild(ctx context.Context) error {
	if err := c.pickPort(); err != nil {
		return err
	}
	c.markLog()
	logf, err := os.OpenFile(c.opts.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	cmd := exec.Command(filepath.Join(c.binDir, "postgres"), c.serverArgs()...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = c.opts.DataDir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	c.child = cmd
	c.exited = make(chan error, 1)
	go func() { c.exited <- cmd.Wait(); _ = logf.Close() }()
	if err := c.waitReady(ctx); err != nil {
		_ = c.StopChild()
		return err
	}
	if err := c.useFastVerifier(ctx); err != nil {
		_ = c.StopChild()
		return err
	}
	return nil
}

// StopChild shuts a server started by StartChild down (fast mode: open
// sessions are ended) and waits for it; after 30 seconds it kills it.
func (c *Cluster) StopChild() error {
	if c.child == nil {
		return nil
	}
	defer func() { c.child = nil }()
	_ = c.child.Process.Signal(syscall.SIGINT)
	// The exit status of a server told to stop (or killed) tells nothing more.
	select {
	case <-c.exited: //nolint:errcheck // exit status of a requested stop
		return nil
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-c.child.Process.Pid, syscall.SIGKILL)
		<-c.exited //nolint:errcheck // killed: the status is SIGKILL's
		return errors.New("postgres did not stop within 30s and was killed")
	}
}

// StartDaemon starts the server in the background with pg_ctl, to outlive
// this process, and returns once it accepts connections. A server already
// running on the data directory is reused (its port is read back).
func (c *Cluster) StartDaemon(ctx context.Context) error {
	c.markLog()
	if port, ok := c.Running(); ok {
		c.port = port
		err := c.waitReady(ctx)
		if err == nil {
			return c.useFastVerifier(ctx)
		}
		if _, still := c.Running(); still {
			return err
		}
		// It stopped (was killed) while we waited: start it again.
	}
	if err := c.awaitReaped(ctx); err != nil {
		return err
	}
	if err := c.pickPort(); err != nil {
		return err
	}
	if err := touch(c.opts.LogFile); err != nil {
		return err
	}
	if err := c.chown(c.opts.LogFile); err != nil {
		return err
	}
	c.markLog()
	quoted := make([]string, 0, len(c.serverArgs()))
	for _, a := range c.serverArgs()[2:] { // drop -D dir: pg_ctl passes it
		quoted = append(quoted, shellQuote(a))
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "pg_ctl"), "start", "-w",
		"-t", strconv.Itoa(int(c.opts.StartTimeout.Seconds())),
		"-D", c.opts.DataDir, "-l", c.opts.LogFile, "-o", strings.Join(quoted, " "))
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs, Setsid: true}
	cmd.Dir = c.opts.DataDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl start: %w: %s%s\n%s", err, c.serverSaid(), lastLines(out, 5), c.logTail())
	}
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	return c.useFastVerifier(ctx)
}

// StopDaemon stops a server started by StartDaemon (fast mode). It is not an
// error when none is running.
func (c *Cluster) StopDaemon(ctx context.Context) error {
	if _, ok := c.Running(); !ok {
		return nil
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, "pg_ctl"), "stop", "-w", "-m", "fast", "-D", c.opts.DataDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.runAs}
	cmd.Dir = c.opts.DataDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop: %w: %s", err, lastLines(out, 5))
	}
	return nil
}

// Running reports whether a server runs on the data directory, and its port,
// from postmaster.pid and a signal-0 probe of its pid.
func (c *Cluster) Running() (int, bool) {
	raw, err := os.ReadFile(filepath.Join(c.opts.DataDir, "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	pid, err1 := strconv.Atoi(strings.TrimSpace(lines[0]))
	port, err2 := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err1 != nil || err2 != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	if isZombie(pid) {
		return 0, false // killed, not yet reaped: no server
	}
	return port, true
}

// awaitReaped waits (10 s at most) while the pid postmaster.pid names is a
// zombie: a postmaster killed and not yet reaped by its parent. The server
// refuses to start while that pid exists ("lock file "postmaster.pid"
// already exists"); init reaps it within a second or two.
func (c *Cluster) awaitReaped(ctx context.Context) error {
	raw, err := os.ReadFile(filepath.Join(c.opts.DataDir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	first, _, _ := strings.Cut(string(raw), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return nil
	}
	deadline := time.Now().Add(10 * time.Second)
	for isZombie(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("the server's last process (pid %d, named by %s) was killed and its parent has not reaped it (a zombie): "+
				"the server refuses to start while that pid exists; the parent (init) must reap it",
				pid, filepath.Join(c.opts.DataDir, "postmaster.pid"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// waitReady polls until the server accepts a connection, the child exits,
// or the start timeout passes. A server that answers but has no free
// connection (ErrServerFull) is not waited for: it is up, and only other
// clients closing theirs would let us in.
func (c *Cluster) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.opts.StartTimeout)
	defer cancel()
	began := time.Now() // the caller's deadline may come before StartTimeout
	var lastErr error
	for {
		conn, err := pgx.Connect(ctx, c.DSN("postgres"))
		if err == nil {
			conn.Close(ctx)
			return nil
		}
		lastErr = err
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && (pgErr.Code == "28P01" || pgErr.Code == "28000") {
			return fmt.Errorf("%w: %v", ErrPasswordRejected, err)
		}
		if errors.As(err, &pgErr) && pgErr.Code == "53300" { // too_many_connections
			return fmt.Errorf("%w (port %d): %v", ErrServerFull, c.port, err)
		}
		if c.child == nil {
			if _, ok := c.Running(); !ok {
				return fmt.Errorf("postgres stopped while waiting for connections on port %d: %s%v\n%s",
					c.port, c.serverSaid(), lastErr, c.logTail())
			}
		}
		select {
		case err := <-c.exitedChan():
			// Put back for StopChild, which waits for it: taken here, a
			// server that exited during its start (a setting it refused)
			// left StopChild waiting for ever (a test hung 10 minutes).
			c.exited <- err
			return fmt.Errorf("postgres exited during start (%v): %s\n%s", err, strings.TrimSuffix(c.serverSaid(), "; "), c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections on port %d within %s: %s%v\n%s",
				c.port, time.Since(began).Round(100*time.Millisecond), c.serverSaid(), lastErr, c.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) exitedChan() <-chan error {
	if c.exited == nil {
		return nil
	}
	return c.exited
}

// markLog notes where the server log ends before a start, so serverSaid
// reads only what this start wrote.
func (c *Cluster) markLog() {
	c.logFrom = 0
	if fi, err := os.Stat(c.opts.LogFile); err == nil {
		c.logFrom = fi.Size()
	}
}

// serverSaid returns the last FATAL or PANIC line the server logged since
// the start began, as "the server said: FATAL:  …; ", or "" when it logged
// none. Errors put it first: the log's tail that ends them begins with
// the lines of earlier runs, and a reader (or the CLI, which folds an error
// to one line of 600 characters) would not reach the cause, such as
// "could not write to file "pg_wal/xlogtemp.15489": No space left on
// device".
func (c *Cluster) serverSaid() string {
	f, err := os.Open(c.opts.LogFile)
	if err != nil {
		return ""
	}
	defer f.Close() //nolint:errcheck // read-only
	if _, err := f.Seek(c.logFrom, io.SeekStart); err != nil {
		return ""
	}
	raw, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return ""
	}
	var panicked, fatal string
	for line := range strings.SplitSeq(string(raw), "\n") {
		if i := strings.Index(line, "PANIC:"); i >= 0 {
			panicked = strings.TrimSpace(line[i:])
		} else if i := strings.Index(line, "FATAL:"); i >= 0 && !refusedWhileStarting(line) {
			fatal = strings.TrimSpace(line[i:])
		}
	}
	if said := cmp.Or(panicked, fatal); said != "" {
		return "the server said: " + said + "; "
	}
	return ""
}

// refusedWhileStarting reports whether a FATAL line of the server log is
// its answer to a connection tried while it was starting, in recovery or
// stopping (waitReady's polls): no reason why it stopped.
func refusedWhileStarting(line string) bool {
	for _, s := range []string{"the database system is starting up", "the database system is in recovery mode",
		"the database system is not yet accepting connections", "the database system is shutting down",
		"the database system is not accepting connections"} {
		if strings.Contains(line, s) {
			return true
		}
	}
	return false
}

// logTail returns the last lines of the server log, for error messages.
func (c *Cluster) logTail() string {
	raw, err := os.ReadFile(c.opts.LogFile)
	if err != nil {
		return ""
	}
	return "server log " + c.opts.LogFile + ":\n" + lastLines(raw, 15)
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(bytes.TrimSpace(b)), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// shellQuote quotes one word for pg_ctl -o, which passes it through a shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FreePortAt reports port if it is free on loopback, or an error.
func FreePortAt(port int) (int, error) {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return port, nil
}

// isZombie reports whether process pid has exited and waits for its parent
// to reap it (state Z, or X while it goes, in /proc/<pid>/stat). A
// signal-0 probe still finds such a process, but it is no server: a
// postmaster killed (kill -9, the OOM killer) stays one until init reaps
// it, which some inits never do.
func isZombie(pid int) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state …: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 || i+2 >= len(raw) {
		return false
	}
	return raw[i+2] == 'Z' || raw[i+2] == 'X'
}

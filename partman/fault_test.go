package partman_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

// TestEnsureRetriesATerminatedConnection: the server ends Ensure's
// connection (pg_terminate_backend, 57P01, as a restart does) while it
// makes a day's partition. That day is tried again on a new connection. It
// was not (only lock timeouts and deadlocks were), so a command's startup
// upkeep failed and a load that had completed under pg_terminate_backend
// exited 1 with "partition upkeep on startup: … terminating connection".
func TestEnsureRetriesATerminatedConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	locker, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer locker.Rollback(ctx) //nolint:errcheck // released below
	_, err = locker.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	type outcome struct {
		res partman.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := partman.Ensure(ctx, pool, partman.Options{LockTimeout: time.Minute, RetryDelay: 10 * time.Millisecond})
		done <- outcome{res, err}
	}()
	var terminated bool
	require.Eventually(t, func() bool {
		err := pool.QueryRow(ctx, `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&terminated)
		return err == nil && terminated
	}, 30*time.Second, 20*time.Millisecond, "Ensure waits for the lock on telemetry_edges")
	require.NoError(t, locker.Rollback(ctx))

	out := <-done
	require.NoError(t, out.err)
	require.Len(t, out.res.Days, 8)
	attempts := 0
	for _, d := range out.res.Days {
		attempts += d.Attempts
	}
	require.Equal(t, 9, attempts, "the day whose connection was ended is tried once more")
}

// outageProxy forwards TCP connections to a server, and while down it
// cuts every connection through it and refuses new ones, as a server
// restart does (the sessions end, connections are refused until it is
// up): a restart of a shared test server without restarting it.
type outageProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func startOutageProxy(t *testing.T, target string) *outageProxy {
	t.Helper()
	p := &outageProxy{target: target}
	p.l = pgtest.Listen(t, p.serve)
	t.Cleanup(func() { _ = p.l.Close(); p.cut() })
	return p
}

func (p *outageProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	p.conns = append(p.conns, c, s)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
	_, _ = io.Copy(c, s)
	_ = c.Close()
}

// cut closes every connection through the proxy.
func (p *outageProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

// outage cuts every connection and refuses new ones for d.
func (p *outageProxy) outage(d time.Duration) {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.cut()
	time.Sleep(d)
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// TestEnsureRidesOutARestart: the server goes away for 3.5 s (every
// session cut, connections refused, as a restart does) while Ensure waits
// to make a day's partition. Ensure retries as the store does
// (store.DefaultRetryPolicy: 10 to 21 s of waits in all) and makes every
// day once the server is back. Before, its own 5 retries from 100 ms
// (1.5 to 3.1 s of waits) were spent within the outage and the upkeep
// failed ("connection refused"), while a load beside it rode the restart
// out.
func TestEnsureRidesOutARestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	proxy := startOutageProxy(t, u.Host)
	u.Host = proxy.l.Addr().String()
	pool := pgtest.PoolFor(t, u.String())
	direct := pgtest.PoolFor(t, dsn)

	locker, err := direct.Begin(ctx)
	require.NoError(t, err)
	defer locker.Rollback(ctx) //nolint:errcheck // released below
	_, err = locker.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(writerFunc(func(b []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logs.Write(b)
	}), nil))
	type outcome struct {
		res partman.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := partman.Ensure(ctx, pool, partman.Options{LockTimeout: time.Minute, Logger: logger})
		done <- outcome{res, err}
	}()
	require.Eventually(t, func() bool {
		var waiting int
		// On Citus the wait for a distributed table's lock is Citus's
		// own (wait_event_type Extension), not a plain Lock.
		err := direct.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type IN ('Lock', 'Extension') AND pid <> pg_backend_pid()`).Scan(&waiting)
		return err == nil && waiting > 0
	}, 30*time.Second, 20*time.Millisecond, "Ensure waits for the lock on telemetry_edges")
	proxy.outage(3500 * time.Millisecond)
	require.NoError(t, locker.Rollback(ctx))

	out := <-done
	logMu.Lock()
	defer logMu.Unlock()
	require.NoError(t, out.err, "logs:\n%s", logs.String())
	require.Len(t, out.res.Days, 8)
	require.Contains(t, logs.String(), "partman: retrying after a transient failure")
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

package pgcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestFailedStartSaysWhyFirst: a server that cannot start (here a setting
// it refuses; in the case seen, the local cluster's disk full: "FATAL:
// could not write to file "pg_wal/xlogtemp.15489": No space left on
// device") logs why as its last FATAL or PANIC line. The error must say it
// on its first line, before pg_ctl's output and the log's last lines: the
// CLI folds an error to one line of 600 characters, and the log of the
// earlier runs that comes first pushed the cause past the cut (`intel local
// start` said only "waiting for server to start.... stopped waiting
// (pg_ctl: could not start server Examine the log output. server log …:
// 2026-12-05 08:38:39.882 UTC [15052] LOG: terminating any other active
// server processes …").
func TestFailedStartSaysWhyFirst(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := os.MkdirTemp("", "pgcluster-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	c, err := New(Options{DataDir: filepath.Join(root, "data"), StartTimeout: 20 * time.Second,
		Settings: map[string]string{"fsync": "off"}})
	require.NoError(t, err)
	require.NoError(t, c.GiveTo(root))
	require.NoError(t, c.Init(ctx))
	// The log of earlier runs, as a state directory keeps it.
	var old strings.Builder
	for i := range 20 {
		fmt.Fprintf(&old, "2026-12-05 08:38:%02d.882 UTC [15052] LOG:  an earlier run's line %d, long enough to matter in a tail\n", i, i)
	}
	require.NoError(t, os.WriteFile(c.LogFile(), []byte(old.String()), 0o600))
	require.NoError(t, c.chown(c.LogFile()))
	f, err := os.OpenFile(filepath.Join(c.opts.DataDir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("shared_buffers = 'bogus'\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	err = c.StartDaemon(ctx)
	require.Error(t, err)
	t.Cleanup(func() { _ = c.StopDaemon(context.Background()) })
	first, _, _ := strings.Cut(err.Error(), "\n")
	require.Contains(t, first, `FATAL:  configuration file`, "the server's reason on the first line: %v", err)
	require.LessOrEqual(t, strings.Index(err.Error(), "FATAL:"), 300, "near the start: %v", err)
	require.Contains(t, err.Error(), "server log "+c.LogFile(), "the log's tail still follows")
}

// TestKilledPostmasterIsNotRunning: the local cluster's postmaster is
// killed (kill -9, the OOM killer). Until its parent reaps it (init, every
// second or two here; never, under an init that does not reap) its pid is
// a zombie that a signal-0 probe still finds. Before, Running took it for
// a live server: `intel local status` said "running on port N", and
// `intel local start` (and any command on the local cluster) reused it,
// waited the whole start timeout (60 s) for connections and failed with
// "postgres did not accept connections on port N within 1m0s". A zombie is
// no server: Running says so, and StartDaemon waits for it to be reaped
// and starts the server.
func TestKilledPostmasterIsNotRunning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := os.MkdirTemp("", "pgcluster-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	c, err := New(Options{DataDir: filepath.Join(root, "data"), StartTimeout: 15 * time.Second,
		Settings: map[string]string{"fsync": "off"}})
	require.NoError(t, err)
	require.NoError(t, c.GiveTo(root))
	require.NoError(t, c.Init(ctx))
	require.NoError(t, c.StartDaemon(ctx))
	t.Cleanup(func() { _ = c.StopDaemon(context.Background()) })
	port, ok := c.Running()
	require.True(t, ok)
	require.NoError(t, c.StopDaemon(ctx))

	// A postmaster killed and not yet reaped: a child of ours that we do
	// not wait for, named by the lock file the killed server left.
	zombie := exec.Command("sleep", "600")
	require.NoError(t, zombie.Start())
	require.NoError(t, zombie.Process.Signal(syscall.SIGKILL))
	require.Eventually(t, func() bool { return isZombie(zombie.Process.Pid) }, 5*time.Second, 10*time.Millisecond)
	lock := fmt.Sprintf("%d\n%s\n%d\n%d\n\n127.0.0.1\n  1234567     12345\nready   \n", zombie.Process.Pid, c.opts.DataDir, time.Now().Unix(), port)
	require.NoError(t, os.WriteFile(filepath.Join(c.opts.DataDir, "postmaster.pid"), []byte(lock), 0o600))
	require.NoError(t, c.chown(filepath.Join(c.opts.DataDir, "postmaster.pid")))
	_, ok = c.Running()
	require.False(t, ok, "a zombie is no server")

	// Its parent reaps it a moment later, as init does.
	go func() {
		time.Sleep(time.Second)
		_ = zombie.Wait()
	}()
	start := time.Now()
	require.NoError(t, c.StartDaemon(ctx), "the server starts again")
	require.Less(t, time.Since(start), 10*time.Second)
	_, ok = c.Running()
	require.True(t, ok)
}

// TestChildThatExitsDuringStartIsNotWaitedForEver: a server started as a
// child (StartChild, as the test harness starts its clusters) that exits
// during its start, here on a setting it refuses (lc_messages = "'x'", a
// quoted value given as a -c argument). waitReady took the child's exit
// from the channel StopChild then waited on: StartChild never returned
// (a test hung until its 10-minute timeout). Now the start fails with the
// server's reason.
func TestChildThatExitsDuringStartIsNotWaitedForEver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := os.MkdirTemp("", "pgcluster-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	c, err := New(Options{DataDir: filepath.Join(root, "data"), StartTimeout: 20 * time.Second,
		Settings: map[string]string{"fsync": "off", "lc_messages": "'x'"}})
	require.NoError(t, err)
	require.NoError(t, c.GiveTo(root))
	require.NoError(t, c.Init(ctx))
	done := make(chan error, 1)
	go func() { done <- c.StartChild(ctx) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("StartChild of a server that exited during its start did not return")
	}
	t.Cleanup(func() { _ = c.StopChild() })
	require.ErrorContains(t, err, "postgres exited during start")
	require.ErrorContains(t, err, "lc_messages")
}

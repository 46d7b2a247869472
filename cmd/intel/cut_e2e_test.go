package main_test

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// lastLine is the last line s holds.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestCutCommandsExitNonZero: a command that --timeout or a signal stops
// before its work is done did not succeed: it exits non-zero (1 for
// --timeout, 128 + the signal) and its last line says what it did and what
// not. Before, `intel partitions maintain` cut inside a round (here: the
// window's partitions missing and a long reader holding telemetry_edges,
// so ensure waits) exited 0, as if stopped between rounds, and ensure,
// prune and the read commands said only "stopped by --timeout 2s". A
// signal between rounds still stops maintain as a service: exit 0; but
// --timeout between rounds is a failure (exit 1), as for every command.
func TestCutCommandsExitNonZero(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	env := []string{"DATABASE_URL=" + dsn}

	// Between rounds: the first round done, then the timeout.
	r := intel(t, env, "", "--timeout", "2s", "partitions", "maintain", "--every", "1h")
	t.Logf("maintain between rounds: exit %d: %s", r.code, r.stderr)
	require.Equal(t, 1, r.code, r.stderr)
	require.Equal(t, "intel: stopped by --timeout 2s: 1 round of partitions maintain done, none cut (stopped between rounds)",
		lastLine(r.stderr))

	// SIGTERM between rounds: a service stopped, exit 0.
	cmd, stderr := startIntelLogged(t, dsn, "partitions", "maintain", "--every", "1h")
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "ensure round done") },
		30*time.Second, 20*time.Millisecond, "the first round ends: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 0, exitCode(t, cmd), stderr.String())
	require.Contains(t, stderr.String(), "partitions maintain stopped between rounds: 1 round of partitions maintain done, none cut")

	// Inside a round: the days to make wait for a long reader.
	dropDayPartitions(t, pool)
	holdTelemetryEdges(t, dsn)
	for name, args := range map[string][]string{
		"maintain": {"partitions", "maintain", "--lock-timeout", "100ms"},
		"ensure":   {"partitions", "ensure", "--lock-timeout", "100ms"},
	} {
		r := intel(t, env, "", append([]string{"--timeout", "1500ms"}, args...)...)
		t.Logf("%s: exit %d: %s", name, r.code, r.stderr)
		require.Equal(t, 1, r.code, "%s: %s", name, r.stderr)
		want := "intel: stopped by --timeout 1.5s: made 0 of 8 day partitions (0 existed); 8 days not reached; run it again for the rest"
		if name == "maintain" {
			want = "intel: stopped by --timeout 1.5s: 0 rounds of partitions maintain done; round 1 cut (ensure made 0 of 8 day partitions (0 existed); " +
				"8 days not reached): run intel partitions ensure (or maintain) again to finish it"
		}
		require.Equal(t, want, lastLine(r.stderr), name)
	}
	cmd, stderr = startIntelLogged(t, dsn, "partitions", "maintain", "--lock-timeout", "100ms")
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting)
		return err == nil && waiting
	}, 30*time.Second, 20*time.Millisecond, "the round waits for the lock: %s", stderr)
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 143, exitCode(t, cmd), stderr.String())
	require.Contains(t, lastLine(stderr.String()), "intel: interrupted by SIGTERM: 0 rounds of partitions maintain done; round 1 cut (ensure made 0 of 8 day partitions")

	// A command that only reads, cut while it waits: it says it changed
	// nothing (the lock holds nodes against a search).
	_, err := pool.Exec(ctx, "SELECT 1") // the pool still answers
	require.NoError(t, err)
	locker := holdTable(t, dsn, "nodes")
	defer locker()
	r = intel(t, env, "", "--timeout", "1s", "--no-partition-maintenance", "search", "foo")
	require.Equal(t, 1, r.code, r.stderr)
	require.Equal(t, "intel: stopped by --timeout 1s before intel search finished; it only reads: nothing is left half done", lastLine(r.stderr))
}

// lockedBuffer is a bytes.Buffer a test may read while a process writes
// it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startIntelLogged is startIntel with a stderr the test may read while
// intel runs.
func startIntelLogged(t *testing.T, dsn string, args ...string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	stderr := &lockedBuffer{}
	return startIntelTo(t, dsn, nil, stderr, args...), stderr
}

// holdTable locks table against every other session (ACCESS EXCLUSIVE)
// until the returned function is called or the test ends.
func holdTable(t *testing.T, dsn, table string) (release func()) {
	t.Helper()
	ctx := context.Background()
	conn := pgtest.PoolFor(t, dsn)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE "+table+" IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	done := false
	release = func() {
		if !done {
			done = true
			_ = tx.Rollback(ctx)
		}
	}
	t.Cleanup(release)
	return release
}

// TestBenchGenStopsWhenCut: bench gen read no context, so --timeout (and
// the first Ctrl-C) did not stop it: `--timeout 1s` wrote its 226 MB for
// 5.7 s and exited 0. It now stops, exit 1, naming the file it left
// incomplete.
func TestBenchGenStopsWhenCut(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "edr.ndjson")
	start := time.Now()
	r := intel(t, nil, "", "--timeout", "300ms", "bench", "gen", "--agents", "200", "--days", "2", "--rows-per-day", "400000", "--telemetry", out)
	t.Logf("exit %d after %s: %s", r.code, time.Since(start), r.stderr)
	require.Equal(t, 1, r.code, r.stderr)
	require.Equal(t, "intel: stopped by --timeout 300ms: "+out+" cut short: incomplete, run it again", lastLine(r.stderr))
}

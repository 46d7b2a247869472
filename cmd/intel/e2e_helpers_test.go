package main_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// startIntel starts the built intel with args against dsn, in a clean
// environment (a home and state directory of its own), its output in
// stdout and stderr; the process is killed when the test ends, if it has
// not exited.
func startIntel(t *testing.T, dsn string, args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer) {
	t.Helper()
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	return startIntelTo(t, dsn, stdout, stderr, args...), stdout, stderr
}

// startIntelTo is startIntel writing to stdout and stderr (nil: discarded).
func startIntelTo(t *testing.T, dsn string, stdout, stderr io.Writer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(intelBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "INTEL_STATE_DIR=" + t.TempDir(), "DATABASE_URL=" + dsn}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// freezeServer SIGSTOPs the processes of the server behind dsn (a server
// of the test's own), and SIGCONTs them when the test ends, before the
// server is stopped: a server is never left frozen.
func freezeServer(t *testing.T, dsn string) {
	t.Helper()
	pids := serverProcesses(t, dsn)
	t.Cleanup(func() {
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	for _, pid := range pids {
		require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	}
}

// dropDayPartitions drops every day partition of telemetry_edges (the
// default partition stays), so the partition upkeep has days to make.
func dropDayPartitions(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'telemetry_edges'::regclass AND c.relname <> 'telemetry_edges_default'`)
	require.NoError(t, err)
	var parts []string
	for rows.Next() {
		var p string
		require.NoError(t, rows.Scan(&p))
		parts = append(parts, p)
	}
	require.NoError(t, rows.Err())
	for _, p := range parts {
		_, err := pool.Exec(ctx, "DROP TABLE "+p)
		require.NoError(t, err)
	}
}

// holdTelemetryEdges opens a transaction that holds telemetry_edges as a
// long reader does (pg_dump: ACCESS SHARE), so making a partition waits
// for it; the connection is closed when the test ends.
func holdTelemetryEdges(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	reader, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = reader.Close(context.Background()) })
	_, err = reader.Exec(ctx, "BEGIN; LOCK TABLE telemetry_edges IN ACCESS SHARE MODE")
	require.NoError(t, err)
	return reader
}

// interrupt sends the running intel SIGINT and returns its exit code and
// how long after the signal it exited (the test fails if it does not
// within 60 s).
func interrupt(t *testing.T, cmd *exec.Cmd) (code int, took time.Duration) {
	t.Helper()
	start := time.Now()
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	code = exitCode(t, cmd)
	took = time.Since(start)
	t.Logf("exit %d after %s", code, took)
	return code, took
}

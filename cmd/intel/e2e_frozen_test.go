package main_test

import (
	"bytes"
	"context"
	"net/url"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/feedtest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// serverProcesses returns the pids of the server at dsn: its postmaster
// (first) and every process it started (backends, checkpointer, …).
func serverProcesses(t *testing.T, dsn string) []int {
	t.Helper()
	var dataDir string
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(context.Background(), "SHOW data_directory").Scan(&dataDir))
	pids, err := pgtest.ServerPIDs(dataDir)
	require.NoError(t, err)
	return pids
}

// freezeDuringALoad starts intel (args before the command's) loading
// 200,000 STIX objects in batches of 100 into the server at dsn (a server
// of the test's own), waits, at most within, for its first 500 nodes, and
// freezes the server (freezeServer).
func freezeDuringALoad(t *testing.T, dsn string, within time.Duration, args ...string) (*exec.Cmd, *bytes.Buffer, time.Time) {
	t.Helper()
	feed := feedtest.MalwareFeed(t, 200_000)
	pool := pgtest.PoolFor(t, dsn)
	started := time.Now() // --timeout counts from here, not from the feed's making
	cmd, _, stderr := startIntel(t, dsn, append(args, "ingest", "stix", feed, "--feed", "big", "--batch-size", "100", "--workers", "1")...)
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(context.Background(), "SELECT count(*) FROM nodes").Scan(&n)
		return err == nil && n >= 500
	}, within, 50*time.Millisecond, "the load writes\nstderr: %s", stderr)
	pool.Close()
	freezeServer(t, dsn)
	return cmd, stderr, started
}

// TestSIGINTWithAFrozenServerExitsWithinTheGrace: the server stops
// answering (its postmaster and backends SIGSTOPped, as a hung host or a
// network partition leaves it) while intel ingest stix writes; Ctrl-C then
// ends the command within the interrupt grace the README states.
func TestSIGINTWithAFrozenServerExitsWithinTheGrace(t *testing.T) {
	t.Parallel()
	dsn := pgtest.StartMigratedServer(t)
	cmd, stderr, _ := freezeDuringALoad(t, dsn, 60*time.Second)
	time.Sleep(time.Second) // the load now waits on the frozen server

	code, took := interrupt(t, cmd)
	require.Equal(t, 130, code, "stderr: %s", stderr)
	require.Contains(t, stderr.String(), "intel: interrupted by SIGINT after reading")
	require.Contains(t, stderr.String(), "feed big could not be marked interrupted", "the server never answered")
	// The grace ends every wait on the server (timers, not work: the bound
	// is loose). Before, the record of the interruption waited for ever
	// on the frozen server, and closing the pool 15 s more.
	require.Less(t, took, ingest.DefaultInterruptGrace+5*time.Second, "stderr: %s", stderr)
}

// TestTimeoutEndsCommandsOnAFrozenServer: with the server frozen (SIGSTOP
// of the postmaster and its backends) and no signal from the user, a
// command given --timeout ends once it runs out (and the interrupt grace
// a load gets), exit 1, saying so: a load frozen mid-write, and a command
// started against the frozen server, whose connecting it bounds too
// (below --connect-timeout's 15 s), as the URL's connect_timeout does.
// Without --timeout the load waits for ever, as psql does.
func TestTimeoutEndsCommandsOnAFrozenServer(t *testing.T) {
	t.Parallel()
	dsn := pgtest.StartMigratedServer(t)
	const timeout = 15 * time.Second
	// Timed from the command's start: making the 200,000-object feed
	// first took more than the bound's 10 s of slack on a loaded machine.
	cmd, stderr, start := freezeDuringALoad(t, dsn, timeout, "--timeout", timeout.String())
	t.Logf("frozen %s after the start", time.Since(start).Round(time.Millisecond))

	code := exitCode(t, cmd)
	took := time.Since(start)
	t.Logf("exit %d after %s: %s", code, took, stderr)
	require.Equal(t, 1, code, "stderr: %s", stderr)
	require.Contains(t, stderr.String(), "intel: stopped by --timeout 15s after reading")
	require.Contains(t, stderr.String(), "feed big could not be marked interrupted", "the server never answered")
	require.Less(t, took, timeout+ingest.DefaultInterruptGrace+10*time.Second, "stderr: %s", stderr)

	// Started against the frozen server: --timeout ends the connecting.
	start = time.Now()
	cmd, _, stderr = startIntel(t, dsn, "--timeout", "2s", "search", "m1")
	code = exitCode(t, cmd)
	took = time.Since(start)
	t.Logf("exit %d after %s: %s", code, took, stderr)
	require.Equal(t, 1, code, "stderr: %s", stderr)
	require.Equal(t, "intel: stopped by --timeout 2s before intel search finished; it only reads: nothing is left half done\n", stderr.String())
	require.Less(t, took, 12*time.Second, "before --connect-timeout's 15 s")

	// The URL's connect_timeout bounds connecting, as pgx applies it, and
	// the error names it: before, "database unreachable within 15s" (the
	// --connect-timeout default) of a connection given up after 1 s.
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("connect_timeout", "1")
	u.RawQuery = q.Encode()
	start = time.Now()
	cmd, _, stderr = startIntel(t, u.String(), "search", "m1")
	code = exitCode(t, cmd)
	took = time.Since(start)
	t.Logf("exit %d after %s: %s", code, took, stderr)
	require.Equal(t, 1, code, "stderr: %s", stderr)
	require.Contains(t, stderr.String(), "intel: database unreachable within 1s: ")
	require.Less(t, took, 12*time.Second, "before --connect-timeout's 15 s")
}

package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
	raw, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	require.NoError(t, err)
	postmaster, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(raw), "\n", 2)[0]))
	require.NoError(t, err)
	pids := []int{postmaster}
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so read after ")".
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) > 1 && fields[1] == strconv.Itoa(postmaster) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestSIGINTWithAFrozenServerExitsWithinTheGrace: the server stops
// answering (its postmaster and backends SIGSTOPped, as a hung host or a
// network partition leaves it) while intel ingest stix writes; Ctrl-C then
// ends the command within the interrupt grace the README states.
func TestSIGINTWithAFrozenServerExitsWithinTheGrace(t *testing.T) {
	t.Parallel()
	dsn := pgtest.StartMigratedServer(t)
	feed := feedtest.MalwareFeed(t, 200_000)
	pool := pgtest.PoolFor(t, dsn)

	cmd, _, stderr := startIntel(t, dsn, "ingest", "stix", feed, "--feed", "big", "--batch-size", "100", "--workers", "1")
	require.Eventually(t, func() bool {
		var n int
		err := pool.QueryRow(context.Background(), "SELECT count(*) FROM nodes").Scan(&n)
		return err == nil && n >= 500
	}, 60*time.Second, 50*time.Millisecond, "the load writes\nstderr: %s", stderr)

	pool.Close()
	freezeServer(t, dsn)
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

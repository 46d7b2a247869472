package main_test

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestFrozenWorkerBoundsAReadCommand: a Citus worker stops answering
// (SIGSTOP of its postmaster and backends: a hung host) while the
// coordinator answers, and a command that only reads reaches its shards
// (intel related from a node with telemetry, intel partitions list, which
// measures the shards). Before, each waited until --timeout (30.2 s with
// --timeout 30s, `stopped by --timeout`), or for ever without it. Now
// --citus-budget bounds it: exit 1 saying the budget was spent and which
// worker does not answer; --citus-budget 0 waits, as before, until
// --timeout; a command that reads only the coordinator's tables (search)
// answers.
func TestFrozenWorkerBoundsAReadCommand(t *testing.T) {
	t.Parallel()
	env, cluster := citusOfItsOwn(t)
	lines := filepath.Join(t.TempDir(), "t.ndjson")
	r := intel(t, env, "", "bench", "gen", "--agents", "32", "--days", "1", "--rows-per-day", "2000", "--telemetry", lines)
	require.Equal(t, 0, r.code, r.stderr)
	r = intel(t, env, "", "ingest", "telemetry", lines)
	require.Equal(t, 0, r.code, r.stderr)
	frozen, thaw := freezeFirstWorker(t, cluster)
	defer thaw()

	const budget = 5 * time.Second
	for _, c := range []struct {
		args     []string
		cmdWords int
	}{
		{[]string{"related", "ipv4-addr:8.8.8.8", "--depth", "1"}, 1},
		{[]string{"partitions", "list"}, 2},
	} {
		args, cmdWords := c.args, c.cmdWords
		start := time.Now()
		r = intel(t, env, "", append([]string{"--citus-budget", budget.String(), "--timeout", "2m"}, args...)...)
		took := time.Since(start)
		t.Logf("intel %v: %s, exit %d: %s", args, took, r.code, r.stderr)
		require.Equal(t, 1, r.code, r.stderr)
		require.Contains(t, r.stderr, "intel: the Citus cluster did not answer intel "+strings.Join(args[:cmdWords], " ")+" within --citus-budget 5s: ")
		require.Contains(t, r.stderr, "worker "+frozen+" does not answer the coordinator")
		require.NotContains(t, r.stderr, "stopped by --timeout")
		require.Less(t, took, budget+30*time.Second, "the budget, the check of the workers and the pool's close")
	}

	r = intel(t, env, "", "--citus-budget", budget.String(), "search", "svchost")
	require.Equal(t, 0, r.code, "the graph is on the coordinator: %s", r.stderr)

	r = intel(t, env, "", "--citus-budget", "0", "--timeout", "8s", "related", "ipv4-addr:8.8.8.8", "--depth", "1")
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "stopped by --timeout 8s", "0: no budget")

	thaw()
	r = intel(t, env, "", "--citus-budget", budget.String(), "related", "ipv4-addr:8.8.8.8", "--depth", "1")
	require.Equal(t, 0, r.code, "the worker answers again: %s", r.stderr)
}

// TestFrozenWorkerBoundsPartitionUpkeep: a Citus worker stops answering
// (SIGSTOP) and the partition upkeep has partitions to make (--ahead 20: a
// new partition of the distributed table is made on every worker). Before,
// each try of a day waited for Citus's connection timeout (30 s) and a day
// was tried ten times: intel partitions ensure ran until --timeout (2 min:
// "stopped by --timeout 2m0s: made 0 of 22 day partitions"), five minutes
// a day without it. Now --citus-budget bounds each day's tries: ensure
// ends with exit 1 saying the budget was spent and which worker does not
// answer, and a round of maintain fails the same way (logged; the next
// round tries again, here --timeout ends it between rounds).
func TestFrozenWorkerBoundsPartitionUpkeep(t *testing.T) {
	t.Parallel()
	env, cluster := citusOfItsOwn(t)
	r := intel(t, env, "", "partitions", "ensure")
	require.Equal(t, 0, r.code, r.stderr)
	frozen, thaw := freezeFirstWorker(t, cluster)
	defer thaw()

	const budget = 5 * time.Second
	start := time.Now()
	r = intel(t, env, "", "--citus-budget", budget.String(), "--timeout", "2m", "partitions", "ensure", "--ahead", "20")
	took := time.Since(start)
	t.Logf("intel partitions ensure: %s, exit %d: %s", took, r.code, r.stderr)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "retry budget spent after 5s")
	require.Contains(t, r.stderr, "worker "+frozen+" does not answer the coordinator")
	require.NotContains(t, r.stderr, "stopped by --timeout")
	require.Less(t, took, budget+30*time.Second, "the budget, the check of the workers and the pool's close; not --timeout's 2 minutes")

	start = time.Now()
	r = intel(t, env, "", "--citus-budget", budget.String(), "--timeout", "40s", "partitions", "maintain", "--ahead", "20", "--every", "1h")
	t.Logf("intel partitions maintain: %s, exit %d: %s", time.Since(start), r.code, r.stderr)
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stderr, "retry budget spent after 5s", "the round ended by the budget")
	require.Contains(t, r.stderr, "1 round of partitions maintain done, the last one failed", "not cut by --timeout")
}

// freezeFirstWorker stops the cluster's first worker answering (SIGSTOP)
// and returns its host:port, as intel names it, and the function that
// lets it go on.
func freezeFirstWorker(t *testing.T, cluster *pgtest.CitusCluster) (string, func()) {
	t.Helper()
	u, err := url.Parse(cluster.Workers[0].DSN)
	require.NoError(t, err)
	return u.Host, cluster.Workers[0].Freeze(t)
}

// citusOfItsOwn skips the test unless it runs on Citus and gives it a
// cluster of its own (a frozen worker holds up every session of its
// cluster) and the environment that points intel at it.
func citusOfItsOwn(t *testing.T) ([]string, *pgtest.CitusCluster) {
	t.Helper()
	if !pgtest.CitusMode() {
		t.Skip("a worker fault: runs on Citus (INTEL_TEST_CITUS=1, make test-citus)")
	}
	dsn, cluster := pgtest.DedicatedCitus(t)
	return []string{"DATABASE_URL=" + dsn}, cluster
}

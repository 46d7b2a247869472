package scaleout_test

import (
	"context"
	"fmt"
	"iter"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/scaleout"
	"github.com/ransomeye/intel/store"
)

// agentEdges is n telemetry edges at at, spread over 64 agents, so that
// every shard (and every worker) gets some.
func agentEdges(n int, at time.Time, tag string) iter.Seq2[graph.TelemetryEdge, error] {
	proc := graph.Node{ID: uuid.NewSHA1(uuid.NameSpaceOID, []byte("proc")), Kind: graph.KindProcess, Key: "h:1"}
	return func(yield func(graph.TelemetryEdge, error) bool) {
		for i := range n {
			e := graph.TelemetryEdge{Src: proc, Relation: "connected-to",
				Dst:     graph.ValueNode(graph.KindIPv4Addr, fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)),
				AgentID: fmt.Sprintf("agent-%d", i%64), ObservedAt: at.Add(time.Duration(i) * time.Millisecond),
				Props: map[string]any{"tag": tag}}
			if !yield(e, nil) {
				return
			}
		}
	}
}

// TestFrozenWorkerBoundsAWrite: a Citus worker stops answering (SIGSTOP of
// its postmaster and backends: a hung host) while the coordinator answers,
// and the store writes telemetry. Before, the write waited for ever (the
// coordinator's LOCK TABLE of the COPY transaction, sent to the worker on
// its cached connection, never answered: still waiting after 10 minutes),
// and each try on a new connection waited citus.node_connection_timeout,
// ten tries in all. With the store's retry budget (RetryPolicy.Budget; the
// CLI gives 60 s on Citus) the write fails within it, wrapping
// store.ErrRetryBudget; once the worker answers again the same write
// succeeds.
func TestFrozenWorkerBoundsAWrite(t *testing.T) {
	t.Parallel()
	if !pgtest.CitusMode() {
		t.Skip("a worker fault: runs on Citus (INTEL_TEST_CITUS=1, make test-citus)")
	}
	ctx := context.Background()
	dsn, cluster := pgtest.DedicatedCitus(t) // a cluster of its own: the frozen worker holds up every session
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	const budget = 15 * time.Second
	policy := store.DefaultRetryPolicy
	policy.Budget = budget
	st := store.NewStore(pool, store.WithRetryPolicy(policy), store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{})))
	at := time.Now().UTC().Add(-time.Minute)
	_, err = partman.Ensure(ctx, pool, partman.Options{})
	require.NoError(t, err)
	_, err = st.AppendTelemetry(ctx, agentEdges(2000, at, "before"))
	require.NoError(t, err, "the cluster takes writes")

	thaw := cluster.Workers[0].Freeze(t)
	start := time.Now()
	_, err = st.AppendTelemetry(ctx, agentEdges(2000, at.Add(time.Second), "frozen"))
	took := time.Since(start)
	t.Logf("write with a frozen worker: %s: %v", took, err)
	require.ErrorIs(t, err, store.ErrRetryBudget, "a shard's worker is frozen")
	require.Less(t, took, budget+15*time.Second, "the budget, and the outcome check of a commit cut")

	// Which worker it waited for: the one that answers no new connection.
	silent, err := scaleout.SilentWorkers(ctx, pool, 2*time.Second)
	require.NoError(t, err)
	require.Equal(t, []string{hostPort(t, cluster.Workers[0].DSN)}, silent)
	thaw()
	silent, err = scaleout.SilentWorkers(ctx, pool, 2*time.Second)
	require.NoError(t, err)
	require.Empty(t, silent, "every worker answers again")

	_, err = st.AppendTelemetry(ctx, agentEdges(2000, at.Add(2*time.Second), "after"))
	require.NoError(t, err, "the worker answers again")
}

// hostPort is the host:port of the server at dsn, as pg_dist_node names it.
func hostPort(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	return u.Host
}

// TestRetryBudgetEndsAWriteThatWaits: on one server, a write that waits
// (here for a lock a long transaction holds on telemetry_edges) is cut
// when the store's retry budget is spent, and says so; without a budget it
// waits, as before, until the caller's context ends.
func TestRetryBudgetEndsAWriteThatWaits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := partman.Ensure(ctx, pool, partman.Options{})
	require.NoError(t, err)
	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer holder.Rollback(ctx) //nolint:errcheck // released when the test ends
	_, err = holder.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	policy := store.DefaultRetryPolicy
	policy.Budget = 2 * time.Second
	st := store.NewStore(pool, store.WithRetryPolicy(policy), store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{})))
	start := time.Now()
	_, err = st.AppendTelemetry(ctx, agentEdges(100, time.Now().UTC().Add(-time.Minute), "held"))
	took := time.Since(start)
	t.Logf("%s: %v", took, err)
	require.ErrorIs(t, err, store.ErrRetryBudget)
	require.Less(t, took, 10*time.Second)

	// No budget: still waiting when the caller gives up.
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = store.NewStore(pool, store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{}))).
		AppendTelemetry(cctx, agentEdges(100, time.Now().UTC().Add(-time.Minute), "held"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NotErrorIs(t, err, store.ErrRetryBudget)
}

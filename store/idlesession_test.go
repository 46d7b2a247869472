package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/pguuid"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestIdleSessionTimeoutIsRetried: the server closes a pooled connection
// that sat idle longer than its idle_session_timeout (57P05); the pool
// does not know until its next statement fails. No statement ran, outside
// any transaction (the limit applies to idle sessions only): the write is
// retried on a new connection, as after a restart. Before, it failed at
// once: `intel ingest feeds` with `ALTER ROLE … SET idle_session_timeout =
// '300ms'` failed its telemetry feed (`the server closed a connection idle
// longer than its idle_session_timeout: upsert telemetry endpoint nodes …:
// FATAL: terminating connection due to idle-session timeout (SQLSTATE
// 57P05)`), exit 1, because a connection of the pool had waited while the
// feeds before it loaded.
func TestIdleSessionTimeoutIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["idle_session_timeout"] = "150ms"
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	cfg.AfterConnect = pguuid.AfterConnect(nil)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	var logs lockedBuffer
	st := store.NewStore(pool, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		store.WithRetryPolicy(store.RetryPolicy{Attempts: 5, Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}))
	for round := range 3 {
		_, err := st.Write(ctx, graph.Batch{Nodes: []graph.Node{graph.ValueNode(graph.KindDomainName, fmt.Sprintf("r%d.example", round))}})
		require.NoError(t, err, "round %d; logs:\n%s", round, logs.String())
		_, err = st.FeedStarted(ctx, "f", "stix", "/f.json")
		require.NoError(t, err, "round %d", round)
		time.Sleep(400 * time.Millisecond) // the server closes the pool's idle connections
	}
	require.Contains(t, logs.String(), "57P05", "the closed connections were met, and retried")
	var n int
	pool.Reset() // the test's own query would meet a closed connection too
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&n))
	require.Equal(t, 3, n)
}

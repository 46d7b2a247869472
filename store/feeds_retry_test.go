package store_test

import (
	"context"
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

// TestFeedBookkeepingSurvivesAKilledConnection: the feed bookkeeping
// (feeds, feed_items) and the page reads of ReleasePending run on a pooled
// connection the server has terminated (pg_terminate_backend, as a restart
// or an administrator does). Each must be retried on a new connection, as
// the graph writes and the telemetry checkpoints are: before, one such
// kill at the end of `intel ingest feeds` (seen under a terminator every
// 0.1-0.9 s) failed a feed whose records were all written with `record end
// of feed dukes: FATAL: terminating connection due to administrator
// command (SQLSTATE 57P01)`, exit 1.
func TestFeedBookkeepingSurvivesAKilledConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	cfg, err := pgxpool.ParseConfig(dsn)
	require.NoError(t, err)
	// One connection, never pinged before use: the next statement after a
	// kill runs on the dead connection, as it does within a second of it.
	cfg.MaxConns, cfg.MinConns = 1, 0
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	cfg.AfterConnect = pguuid.AfterConnect(nil)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	admin, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(admin.Close)

	var logs lockedBuffer
	st := store.NewStore(pool, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		store.WithRetryPolicy(store.RetryPolicy{Attempts: 5, Base: 5 * time.Millisecond, Max: 50 * time.Millisecond}))

	// killPooled terminates the pool's connection (every client backend
	// of the database but admin's) and waits until the server has let it
	// go; the pool does not know.
	killPooled := func() {
		t.Helper()
		require.NoError(t, pool.Ping(ctx)) // the pool holds a live connection now
		var killed int
		require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&killed))
		require.Positive(t, killed)
		require.Eventually(t, func() bool {
			var left int
			require.NoError(t, admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&left))
			return left == 0
		}, 10*time.Second, 10*time.Millisecond)
	}

	// A relation parked in pending_relations, for ReleasePending's read.
	src := graph.NamedNode(graph.KindMalware, "Parked")
	_, err = st.UpsertNodes(ctx, []graph.Node{src})
	require.NoError(t, err)
	ws, err := st.AddRelations(ctx, []graph.Relation{{Src: src.Ref(), Type: "uses", Dst: "tool--00000000-0000-4000-8000-000000000000"}})
	require.NoError(t, err)
	require.EqualValues(t, 1, ws.RelationsPending)

	var load store.FeedLoad
	for _, op := range []struct {
		name string
		run  func() error
	}{
		{"FeedStarted", func() error { load, err = st.FeedStarted(ctx, "f", "stix", "/feeds/f.json"); return err }},
		{"FeedHeartbeat", func() error { _, err := st.FeedHeartbeat(ctx, "f", load); return err }},
		{"FeedItemLoaded", func() error { return st.FeedItemLoaded(ctx, "f", "event-1", "hash-1", "m", nil) }},
		{"FeedItems", func() error { _, err := st.FeedItems(ctx, "f"); return err }},
		{"FeedFinished", func() error {
			return st.FeedFinished(ctx, &load, "f", "ok", "", "hash", "m", map[string]int{"records": 1})
		}},
		{"Feed", func() error { _, _, err := st.Feed(ctx, "f"); return err }},
		{"Feeds", func() error { _, err := st.Feeds(ctx); return err }},
		{"ReleasePending", func() error { _, err := st.ReleasePending(ctx); return err }},
	} {
		killPooled()
		require.NoError(t, op.run(), "%s on a connection the server terminated; logs:\n%s", op.name, logs.String())
	}
	fs, ok, err := st.Feed(ctx, "f")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, "ok", fs.LastStatus)
	require.Equal(t, "hash", fs.ContentHash)
	items, err := st.FeedItems(ctx, "f")
	require.NoError(t, err)
	require.Contains(t, items, "event-1")
	require.Contains(t, logs.String(), "after a transient failure", "the kills were retried, with a WARN line each")
}

package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// TestWritesOfADisplacedLoadRollBack: every write of a load's context
// (store.WithFeedLoad) asks, in its own transaction, whether the feed's
// bookkeeping still names that load. Taken over by another process as
// stale, the load's graph batch, its telemetry COPY (a feed list's
// telemetry feed) and its MISP events recorded as loaded (feed_items) roll
// back with store.ErrLoadDisplaced; before, each committed beside the load
// that took the feed over. While the load holds the feed, they commit.
func TestWritesOfADisplacedLoadRollBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	load, err := b.store.FeedStarted(ctx, "f", "stix", "f.json")
	require.NoError(t, err)
	held := store.WithFeedLoad(ctx, "f", load)
	at := b.now.Truncate(time.Hour)

	_, err = b.store.Write(held, graph.Batch{Nodes: []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.1")}})
	require.NoError(t, err, "the load holds the feed")
	_, err = b.store.AppendTelemetry(held, numbered(10, at, false))
	require.NoError(t, err)
	require.NoError(t, b.store.FeedItemLoaded(held, "f", "e1", "h1", "m", nil))

	// Another process takes the feed over as stale.
	_, err = b.pool.Exec(ctx, `UPDATE feeds SET running_host = 'other-host', running_pid = 4242, running_pid_start = NULL,
		started_at = now() + interval '1 second', heartbeat_at = now() WHERE name = 'f'`)
	require.NoError(t, err)

	_, err = b.store.Write(held, graph.Batch{Nodes: []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.2")}})
	require.ErrorIs(t, err, store.ErrLoadDisplaced)
	_, err = b.store.AppendTelemetry(held, numbered(10, at.Add(time.Minute), false))
	require.ErrorIs(t, err, store.ErrLoadDisplaced)
	require.ErrorIs(t, b.store.FeedItemLoaded(held, "f", "e2", "h2", "m", nil), store.ErrLoadDisplaced)

	var nodes, edges, items int
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM nodes WHERE key = '198.51.100.2'),
		(SELECT count(*) FROM telemetry_edges), (SELECT count(*) FROM feed_items)`).Scan(&nodes, &edges, &items))
	require.Zero(t, nodes, "the displaced load's batch committed")
	require.Equal(t, 10, edges, "only the edges written while the load held the feed")
	require.Equal(t, 1, items)

	// A context of no load writes as before.
	_, err = b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.2")}})
	require.NoError(t, err)
}

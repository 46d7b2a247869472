package partman_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

// TestEnsureMovesRowsAndLeavesNoLocalCopy: rows waiting in the default
// partition move into the day's new child, none lost or doubled, and on
// Citus the coordinator keeps no local copy of them (the child is a shell:
// its rows live on the workers' shards).
func TestEnsureMovesRowsAndLeavesNoLocalCopy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	d := day(2024, 5, 7)
	for i := range 50 {
		_, err := pool.Exec(ctx, insertEdge, d.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
	}
	res, err := partman.EnsureDays(ctx, pool, []time.Time{d}, partman.Options{})
	require.NoError(t, err)
	require.Equal(t, int64(50), res.MovedRows())
	require.Equal(t, int64(50), count(t, pool, "SELECT count(*) FROM telemetry_edges_2024_05_07"))
	require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))
	require.Equal(t, int64(50), count(t, pool, "SELECT count(*) FROM telemetry_edges"))
	local := count(t, pool, "SELECT pg_relation_size('telemetry_edges_2024_05_07')")
	if pgtest.CitusMode() {
		require.Zero(t, local, "the coordinator keeps no stale copy of the moved rows")
	} else {
		require.Positive(t, local)
	}
}

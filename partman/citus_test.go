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

// TestListMeasuresTheShards: on Citus, List gives a distributed
// partition's size and row estimate from its shards on the workers, not
// from the coordinator's empty shell (a few KiB and 0 rows whatever the
// partition holds). Citus only.
func TestListMeasuresTheShards(t *testing.T) {
	t.Parallel()
	if !pgtest.CitusMode() {
		t.Skip("Citus only (INTEL_TEST_CITUS=1, make test-citus)")
	}
	ctx := context.Background()
	pool := pgtest.Pool(t)
	full, empty := day(2024, 5, 7), day(2024, 5, 8)
	_, err := partman.EnsureDays(ctx, pool, []time.Time{full, empty}, partman.Options{})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO telemetry_edges (src_id, dst_id, relation, agent_id, observed_at)
		SELECT gen_random_uuid(), gen_random_uuid(), 'connects-to', 'agent-' || i % 10, $1::timestamptz + i * interval '1 s'
		FROM generate_series(1, 3000) i`, full)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE telemetry_edges`)
	require.NoError(t, err)
	l, err := partman.List(ctx, pool, "")
	require.NoError(t, err)
	sizes := map[string]partman.Partition{}
	for _, p := range l.Partitions {
		sizes[p.Name] = p
	}
	f, e := sizes["telemetry_edges_2024_05_07"], sizes["telemetry_edges_2024_05_08"]
	require.Equal(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_2024_05_07"), f.EstimatedRows, "ANALYZE counts a small table's rows")
	require.Zero(t, e.EstimatedRows)
	require.Greater(t, f.TotalBytes, e.TotalBytes+100*1024, "3,000 rows take room on the shards")
	require.NotNil(t, l.Default)
	require.Zero(t, l.Default.EstimatedRows)
}

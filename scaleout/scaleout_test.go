package scaleout_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/scaleout"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestDistribute: on plain PostgreSQL Distribute refuses with ErrNotCitus;
// on Citus (INTEL_TEST_CITUS=1, where the test database was distributed
// when it was made) a second run changes nothing and telemetry_edges is
// distributed by agent_id, its partitions with it, the rest local.
func TestDistribute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	got, err := scaleout.Distribute(ctx, pool)
	if !pgtest.CitusMode() {
		require.ErrorIs(t, err, scaleout.ErrNotCitus)
		return
	}
	require.NoError(t, err)
	require.Len(t, got, len(scaleout.Plan))
	for _, st := range got {
		require.False(t, st.Done, "%s: already distributed", st.Name)
	}
	var column string
	require.NoError(t, pool.QueryRow(ctx, `SELECT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition
		WHERE logicalrelid = 'telemetry_edges_default'::regclass`).Scan(&column))
	require.Equal(t, "agent_id", column)
	var local int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pg_dist_partition
		WHERE logicalrelid IN ('nodes'::regclass, 'relations'::regclass, 'feeds'::regclass)`).Scan(&local))
	require.Zero(t, local, "the graph stays on the coordinator")
}

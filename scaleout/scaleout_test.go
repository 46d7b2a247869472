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

// TestPlanNamesEveryTable: every table the migrations make (partitions
// follow their parent) has a placement in Plan, so a new table cannot be
// left out of the scale-out decision silently.
func TestPlanNamesEveryTable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	rows, err := pool.Query(ctx, `SELECT c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND c.relname <> 'goose_db_version'
		ORDER BY 1`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var name string
		require.NoError(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	require.NoError(t, rows.Err())
	planned := make(map[string]bool, len(scaleout.Plan))
	for _, p := range scaleout.Plan {
		planned[p.Name] = true
	}
	for _, name := range tables {
		require.True(t, planned[name], "table %s has no placement in scaleout.Plan", name)
	}
	require.Len(t, scaleout.Plan, len(tables), "Plan names a table the schema lacks")
}

package scaleout_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/peterldowns/pgtestdb"
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

// TestDistributeLeavesNoCopyOnTheCoordinator: distributing a schema that
// already holds telemetry (loaded before the cluster grew workers) moves
// the rows to the shards and keeps no copy on the coordinator, where
// nothing reads it; so does a second run after a first one cut between
// distributing and removing the copy. Citus only.
func TestDistributeLeavesNoCopyOnTheCoordinator(t *testing.T) {
	t.Parallel()
	if !pgtest.CitusMode() {
		t.Skip("Citus only (INTEL_TEST_CITUS=1, make test-citus)")
	}
	for _, cut := range []bool{false, true} {
		t.Run(fmt.Sprintf("cut=%v", cut), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			dsn := pgtest.EmptyDSN(t)
			db, err := sql.Open("pgx", dsn)
			require.NoError(t, err)
			defer db.Close()
			require.NoError(t, pgtest.Migrator{}.Migrate(ctx, db, pgtestdb.Config{}))
			pool := pgtest.PoolFor(t, dsn)
			// A day partition and the default one, both filled.
			_, err = pool.Exec(ctx, `SELECT ensure_day_partition('telemetry_edges', current_date)`)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `INSERT INTO telemetry_edges
				SELECT md5('s' || i)::uuid, md5('d' || i)::uuid, 'connected-to', 'agent-' || i % 10, ts, jsonb_build_object('i', i)
				FROM generate_series(1, 2000) i,
				     LATERAL (SELECT CASE WHEN i % 2 = 0 THEN now() ELSE '2001-01-01'::timestamptz END + i * interval '1 ms' AS ts) t`)
			require.NoError(t, err)
			rows := func() string {
				var s string
				require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', src_id, dst_id, relation, agent_id, observed_at, props), ',' ORDER BY dst_id))
					FROM telemetry_edges`).Scan(&s))
				return s
			}
			localBytes := func() int64 {
				var n int64
				require.NoError(t, pool.QueryRow(ctx, `SELECT coalesce(sum(pg_relation_size(relid)), 0) FROM pg_partition_tree('telemetry_edges') WHERE isleaf`).Scan(&n))
				return n
			}
			before := rows()
			require.Positive(t, localBytes())
			if cut { // an earlier run distributed the table and stopped
				_, err := pool.Exec(ctx, `SELECT create_distributed_table('telemetry_edges', 'agent_id')`)
				require.NoError(t, err)
				require.Positive(t, localBytes(), "Citus keeps the coordinator's copy")
			}
			got, err := scaleout.Distribute(ctx, pool)
			require.NoError(t, err)
			require.Equal(t, !cut, got[0].Done)
			require.Zero(t, localBytes(), "no copy of the rows left on the coordinator")
			require.Equal(t, before, rows(), "every row in the shards")
			_, err = scaleout.Distribute(ctx, pool)
			require.NoError(t, err, "a second run changes nothing")
			require.Equal(t, before, rows())
		})
	}
}

package main

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// refuseWritesAfter makes the server refuse, with disk_full (53100, as
// PostgreSQL says when it cannot extend a file), every row of table
// inserted after the first n.
func refuseWritesAfter(t *testing.T, pool *pgxpool.Pool, table string, n int) (remove func()) {
	t.Helper()
	ctx := context.Background()
	_, err := pool.Exec(ctx, `
		CREATE SEQUENCE disk_rows;
		CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF nextval('disk_rows') > `+strconv.Itoa(n)+` THEN
				RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device' USING ERRCODE = 'disk_full';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER disk_full BEFORE INSERT ON `+table+` FOR EACH ROW EXECUTE FUNCTION disk_full();`)
	require.NoError(t, err)
	return func() {
		_, err := pool.Exec(ctx, "DROP TRIGGER disk_full ON "+table)
		require.NoError(t, err)
	}
}

// TestDiskFullMidLoad: the server refuses writes mid-load with disk_full
// (53100). Checked, already right: the load fails (exit 1) with the
// server's cause (`No space left on device (SQLSTATE 53100)`), not
// retried; a STIX feed is `failed` and nothing is recorded as loaded; the
// telemetry checkpoint counts only the edges stored. Once the fault is
// gone the same command finishes the load: the graph, and the telemetry
// edges, equal a clean load's.
func TestDiskFullMidLoad(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	stix, edges := filepath.Join(dir, "intel.json"), filepath.Join(dir, "edr.ndjson")
	runOK(t, "bench", "gen", "--agents", "50", "--days", "1", "--rows-per-day", "12000", "--indicators", "600",
		"--telemetry", edges, "--stix", stix)

	t.Run("stix", func(t *testing.T) {
		t.Parallel()
		faulty, clean := pgtest.DSN(t), pgtest.DSN(t)
		pool := pgtest.PoolFor(t, faulty)
		remove := refuseWritesAfter(t, pool, "nodes", 300)
		_, stderr, code := runCLI(t, "--database-url="+faulty, "ingest", "stix", stix, "--feed", "intel")
		require.Equal(t, exitFailure, code, stderr)
		require.Contains(t, stderr, "No space left on device (SQLSTATE 53100)")
		var status string
		var items int
		require.NoError(t, pool.QueryRow(ctx, "SELECT last_status, (SELECT count(*) FROM feed_items) FROM feeds WHERE name = 'intel'").Scan(&status, &items))
		require.Equal(t, "failed", status)
		require.Zero(t, items)

		remove()
		runOK(t, "--database-url="+faulty, "ingest", "stix", stix, "--feed", "intel")
		runOK(t, "--database-url="+clean, "ingest", "stix", stix, "--feed", "intel")
		require.Equal(t, pgtest.Dump(t, pgtest.PoolFor(t, clean), pgtest.GraphQueries...), pgtest.Dump(t, pool, pgtest.GraphQueries...))
	})

	t.Run("telemetry", func(t *testing.T) {
		t.Parallel()
		faulty, clean := pgtest.DSN(t), pgtest.DSN(t)
		pool := pgtest.PoolFor(t, faulty)
		remove := refuseWritesAfter(t, pool, "telemetry_edges", 6000)
		_, stderr, code := runCLI(t, "--database-url="+faulty, "ingest", "telemetry", edges)
		require.Equal(t, exitFailure, code, stderr)
		require.Contains(t, stderr, "No space left on device (SQLSTATE 53100)")
		var claimed, stored int
		var complete bool
		require.NoError(t, pool.QueryRow(ctx, "SELECT edges, complete, (SELECT count(*) FROM telemetry_edges) FROM telemetry_checkpoints").
			Scan(&claimed, &complete, &stored))
		require.False(t, complete)
		require.Equal(t, stored, claimed, "the checkpoint claims only stored edges")
		require.Less(t, stored, 6000)

		remove()
		runOK(t, "--database-url="+faulty, "ingest", "telemetry", edges)
		runOK(t, "--database-url="+clean, "ingest", "telemetry", edges)
		q := "SELECT src_id, dst_id, relation, agent_id, observed_at, props FROM telemetry_edges ORDER BY 1, 2, 3, 4, 5, props::text"
		require.Equal(t, pgtest.Dump(t, pgtest.PoolFor(t, clean), q), pgtest.Dump(t, pool, q))
	})
}

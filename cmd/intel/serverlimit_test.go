package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestServerTimeoutIsNamed: a statement_timeout set for intel's database
// (as a DBA sets it for a role or a database) that a load's node writes
// outlast. The load failed with the server's bare text, `ERROR: canceling
// statement due to statement timeout (SQLSTATE 57014)`. It now fails (exit
// 1) with a line naming the setting, its value and where it is set, and
// nothing is recorded as loaded.
func TestServerTimeoutIsNamed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, `
		CREATE FUNCTION slow_nodes() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_sleep(2); RETURN NULL; END $$;
		CREATE TRIGGER slow_nodes BEFORE INSERT ON nodes FOR EACH STATEMENT EXECUTE FUNCTION slow_nodes();
		DO $$ BEGIN
			EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '700ms');
		END $$;`)
	require.NoError(t, err)

	feed := filepath.Join("..", "..", "testdata", "stix", "indicators-for-C2-with-COA.json")
	_, stderr, code := runCLI(t, "--database-url="+dsn, "--no-partition-maintenance", "ingest", "stix", feed, "--feed", "slow")
	require.Equal(t, exitFailure, code, stderr)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	require.Contains(t, last, "a statement ran longer than the server's statement_timeout", stderr)
	require.Contains(t, last, "(statement_timeout = 700ms, set for this database", stderr)

	var nodes int
	var status, lastError string
	require.NoError(t, conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM nodes), last_status, last_error FROM feeds WHERE name = 'slow'").
		Scan(&nodes, &status, &lastError))
	require.Zero(t, nodes)
	require.Equal(t, "failed", status)
	require.Contains(t, lastError, "statement_timeout", "intel feeds says why too")
}

// holdLock takes lock (a LOCK TABLE statement) on dsn for hold, in a
// transaction of its own, and returns once the lock is held; the returned
// wait blocks until it is released.
func holdLock(t *testing.T, dsn, lock string, hold time.Duration) (wait func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SET LOCAL statement_timeout = 0; "+lock)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		time.Sleep(hold)
		err := tx.Commit(ctx)
		_ = conn.Close(ctx)
		done <- err
	}()
	return func() { require.NoError(t, <-done) }
}

// TestMaintenanceRunsWithoutStatementTimeout: a statement_timeout set for
// intel's database (300ms here) stopped the maintenance work for good:
// `intel migrate up` failed with "migrate up: partial migration error
// (type:sql,version:1): ERROR: canceling statement due to statement timeout
// (SQLSTATE 57014)" and the startup partition upkeep with "partition upkeep
// on startup: ensure partition ...: ERROR: canceling statement due to
// statement timeout", so no command could run. Migrations and partition
// changes now run with statement_timeout 0 (their lock waits, held up
// here for 800ms by a reader, stay bounded by lock_timeout), while other
// queries keep the database's limit.
func TestMaintenanceRunsWithoutStatementTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	limit := func(t *testing.T, dsn string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, `DO $$ BEGIN
			EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '300ms');
		END $$`)
		require.NoError(t, err)
	}
	keepsLimit := func(t *testing.T, dsn string) {
		t.Helper()
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer conn.Close(ctx)
		var v string
		require.NoError(t, conn.QueryRow(ctx, "SHOW statement_timeout").Scan(&v))
		require.Equal(t, "300ms", v, "other queries keep the database's limit")
	}

	t.Run("migrate up", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.DSN(t)
		runOK(t, "--database-url="+dsn, "migrate", "down") // the last migration recomputes alias_claims' entities
		limit(t, dsn)
		wait := holdLock(t, dsn, "LOCK TABLE alias_claims IN ACCESS EXCLUSIVE MODE", 800*time.Millisecond)
		runOK(t, "--database-url="+dsn, "migrate", "up")
		wait()
		keepsLimit(t, dsn)
		runOK(t, "--database-url="+dsn, "--no-partition-maintenance", "search", "x")
	})

	t.Run("partition upkeep", func(t *testing.T) {
		t.Parallel()
		dsn := pgtest.DSN(t)
		limit(t, dsn)
		// Making a day's partition scans the default partition.
		wait := holdLock(t, dsn, "LOCK TABLE telemetry_edges_default IN ACCESS EXCLUSIVE MODE", 800*time.Millisecond)
		runOK(t, "--database-url="+dsn, "search", "x") // the startup upkeep makes today's partitions
		wait()
		keepsLimit(t, dsn)
		var days int
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		defer conn.Close(ctx)
		require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'telemetry_edges'::regclass`).Scan(&days))
		require.Greater(t, days, 7, "today-1 .. today+6 and the default")
	})
}

// TestTempFileLimitStopsOnlyWhatSpills: work_mem = 64kB and temp_file_limit
// = 64kB set for intel's database (a DBA bounding runaway sorts). Before,
// no command could start: the pool's read of the server's limits
// (pg_settings, pg_stat_activity, which the server gathers in work_mem and
// spills) failed with `read the server's connection limits: read
// max_connections: ERROR: temporary file size exceeds temp_file_limit
// (64kB) (SQLSTATE 53400)`, and so did migration 00022 (its look at
// pg_settings). Now they run under a work_mem of their own; a load whose
// node upserts spill fails (exit 1) on a line naming temp_file_limit, its
// value and where it is set, and work_mem.
func TestTempFileLimitStopsOnlyWhatSpills(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	runOK(t, "--database-url="+dsn, "migrate", "down", "--to", "21")
	admin, err := pgx.Connect(ctx, pgtest.AdminDSN(t, dsn)) // temp_file_limit is the superuser's to set
	require.NoError(t, err)
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, `DO $$ BEGIN
		EXECUTE format('ALTER DATABASE %I SET temp_file_limit = %L', current_database(), '64kB');
		EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '64kB');
	END $$`)
	require.NoError(t, err)

	runOK(t, "--database-url="+dsn, "migrate", "up")
	runOK(t, "--database-url="+dsn, "search", "kitty") // with the startup partition upkeep
	runOK(t, "--database-url="+dsn, "feeds")

	feed := filepath.Join("..", "..", "testdata", "demo", "hellokitty-ransomware.json")
	big := filepath.Join(t.TempDir(), "big.json")
	runOK(t, "bench", "gen", "--agents", "2", "--days", "1", "--rows-per-day", "10", "--stix", big)
	runOK(t, "--database-url="+dsn, "ingest", "stix", feed) // small batches fit in 64kB
	_, stderr, code := runCLI(t, "--database-url="+dsn, "ingest", "stix", big, "--feed", "big")
	require.Equal(t, exitFailure, code, stderr)
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	last := lines[len(lines)-1]
	require.Contains(t, last, "needed more temporary file space than the server's temp_file_limit allows", stderr)
	require.Contains(t, last, "(temp_file_limit = 64kB, set for this database", stderr)
	require.Contains(t, last, "work_mem = 64kB", stderr)
	var status, lastError string
	require.NoError(t, conn.QueryRow(ctx, "SELECT last_status, last_error FROM feeds WHERE name = 'big'").Scan(&status, &lastError))
	require.Equal(t, "failed", status)
	require.Contains(t, lastError, "temp_file_limit")
}

package tuning_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/tuning"
)

// TestServerCheckIgnoresTheStatementTimeout: a statement_timeout set for
// the role or the database bounds intel's own queries, not its startup
// read of the server's connection limits. With statement_timeout = 50ms
// on the role, intel ingest stix, ingest misp and related failed before
// doing anything, `read the server's connection limits: read
// max_connections: ERROR: canceling statement due to statement timeout`:
// that read's first look at pg_settings and pg_stat_activity in a new
// backend took 50-58 ms on the shared test machine. Here the read is made
// to take 300 ms more (pg_sleep) under a database's limit of 100 ms.
func TestServerCheckIgnoresTheStatementTimeout(t *testing.T) { //nolint:paralleltest // replaces the check's query
	ctx := context.Background()
	dsn := pgtest.StartServer(t, nil)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, `DO $$ BEGIN
		EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', current_database(), '100ms'); END $$`)
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))

	tuning.SlowServerCheck(t, 0.3)
	cfg, err := tuning.ConfigurePool(ctx, dsn)
	require.NoError(t, err, "the server check ran under the database's statement_timeout")
	require.Positive(t, cfg.MaxConns)

	// Other queries keep the database's limit.
	conn, err = pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT pg_sleep(0.3)")
	require.ErrorContains(t, err, "statement timeout")
}

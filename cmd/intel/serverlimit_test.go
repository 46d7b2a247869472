package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

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

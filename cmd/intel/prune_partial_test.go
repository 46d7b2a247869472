package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestFailedPruneSaysWhatItRemoved: `intel partitions prune` removes the
// old days one by one, each in its own transaction, and one of them cannot
// be removed (a reader holds it past the lock timeout; in the case seen,
// the server restarted mid-prune). The command fails (exit 1), and stdout
// still lists the days it did remove: they are gone (or archived) whatever
// the error. Before, it printed nothing but the error, so the 25 of 33
// partitions it had moved to the archive went unsaid.
func TestFailedPruneSaysWhatItRemoved(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	runOK(t, db, "partitions", "ensure", "--behind", "12")
	today := time.Now().UTC().Truncate(24 * time.Hour)
	held := "telemetry_edges_" + today.AddDate(0, 0, -6).Format("2006_01_02")

	pool := pgtest.PoolFor(t, dsn)
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // the reader lets go at the end
	_, err = tx.Exec(ctx, "SELECT count(*) FROM "+pgx.Identifier{held}.Sanitize())
	require.NoError(t, err)

	stdout, stderr, code := runCLI(t, db, "--no-partition-maintenance", "partitions", "prune", "--keep", "3d", "--mode", "drop",
		"--lock-timeout", "100ms", "--retries", "0")
	require.Equal(t, exitFailure, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Contains(t, stderr, held)
	for d := 12; d > 6; d-- {
		name := "telemetry_edges_" + today.AddDate(0, 0, -d).Format("2006_01_02")
		require.Contains(t, stdout, "public."+name, "a day removed before the failure is said; stdout:\n%s", stdout)
	}
	require.NotContains(t, stdout, held)
	require.True(t, strings.Contains(stdout, "6 removed (drop)"), "stdout:\n%s", stdout)
}

package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestCommandStartedDuringRecoveryWaitsForTheServer: a command started
// while the server replays its WAL after a restart (every connection
// answered FATAL 57P03 "the database system is not yet accepting
// connections", here the first 3 by a stand-in in front of the test
// server) waits for it, as a load already running does (store.RetryPolicy.
// Recovery), with one WARN that it waits, bounded by --server-start-wait;
// then it stores the feed once. A server that never comes back is waited
// for --server-start-wait and no longer, and the error says so; with
// --server-start-wait 0 the first refusal ends the command, as before.
// Before, every command failed at its first connection ("read the
// server's connection limits: … 57P03"), whatever --server-start-wait.
func TestCommandStartedDuringRecoveryWaitsForTheServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	srv, through := pgtest.NewStartingServer(t, dsn)
	feed := filepath.Join("..", "..", "testdata", "stix", "indicators-for-C2-with-COA.json")
	db := "--database-url=" + through
	direct, err := pgxpool.New(ctx, dsn)
	require.NoError(t, err)
	t.Cleanup(direct.Close)
	feeds := func() int {
		var n int
		require.NoError(t, direct.QueryRow(ctx, "SELECT count(*) FROM feeds WHERE name = 'c2'").Scan(&n))
		return n
	}

	srv.Restart(3)
	stdout, stderr, code := runCLI(t, db, "ingest", "stix", feed, "--feed", "c2", "--server-start-wait", "1m")
	require.Equal(t, exitOK, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Contains(t, stdout, "c2: ok")
	require.Equal(t, 1, strings.Count(stderr, "the server is starting up (crash recovery, or a restart): connect waits for it"), stderr)
	require.Contains(t, stderr, "up_to=1m0s")
	require.GreaterOrEqual(t, srv.Refused(), int64(3))
	require.Equal(t, 1, feeds())

	// Never back: bounded by --server-start-wait, and said.
	srv.Restart(-1)
	_, stderr, code = runCLI(t, db, "search", "x", "--server-start-wait", "300ms")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "intel: the server was still starting up (crash recovery, or a standby not yet consistent) after ")
	require.Contains(t, stderr, "--server-start-wait")
	require.Contains(t, stderr, pgtest.NotYetAccepting)

	// --server-start-wait 0: no wait, the server's refusal at once.
	refused := srv.Refused()
	_, stderr, code = runCLI(t, db, "search", "x", "--server-start-wait", "0")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, pgtest.NotYetAccepting)
	require.NotContains(t, stderr, "waits for it")
	require.Equal(t, refused+1, srv.Refused(), "one connection, not retried")
}

package main

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/partman"
)

// TestPartmansLockTimeoutIsNotTheServers: a partition the upkeep could not
// make because its own lock_timeout (partman's --lock-timeout) ran out on
// every try is not blamed on a server setting. Before, the last line said
// "a lock was not granted within the server's lock_timeout … (lock_timeout =
// 0, source: default)", a setting nobody had made.
func TestPartmansLockTimeoutIsNotTheServers(t *testing.T) {
	pgErr := &pgconn.PgError{Code: "55P03", Message: "canceling statement due to lock timeout"}
	err := fmt.Errorf("partition upkeep on startup: ensure partition public.telemetry_edges_2026_12_05: %w within lock_timeout 2s (10 attempts): %w",
		partman.ErrLockTimeout, pgErr)
	got := explainServerLimit(nil, err).Error()
	require.NotContains(t, got, "server's lock_timeout")
	require.Contains(t, got, "another session held a lock the partitions need")
	require.Contains(t, got, "within lock_timeout 2s (10 attempts)")
	require.ErrorIs(t, explainServerLimit(nil, err), partman.ErrLockTimeout)

	// The server's own lock_timeout is still named as such.
	require.Contains(t, explainServerLimit(nil, fmt.Errorf("write: %w", pgErr)).Error(), "server's lock_timeout")
}

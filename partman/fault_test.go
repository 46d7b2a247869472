package partman_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

// TestEnsureRetriesATerminatedConnection: the server ends Ensure's
// connection (pg_terminate_backend, 57P01, as a restart does) while it
// makes a day's partition. That day is tried again on a new connection. It
// was not (only lock timeouts and deadlocks were), so a command's startup
// upkeep failed and a load that had completed under pg_terminate_backend
// exited 1 with "partition upkeep on startup: … terminating connection".
func TestEnsureRetriesATerminatedConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	locker, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer locker.Rollback(ctx) //nolint:errcheck // released below
	_, err = locker.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	type outcome struct {
		res partman.Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := partman.Ensure(ctx, pool, partman.Options{LockTimeout: time.Minute, RetryDelay: 10 * time.Millisecond})
		done <- outcome{res, err}
	}()
	var terminated bool
	require.Eventually(t, func() bool {
		err := pool.QueryRow(ctx, `SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`).Scan(&terminated)
		return err == nil && terminated
	}, 30*time.Second, 20*time.Millisecond, "Ensure waits for the lock on telemetry_edges")
	require.NoError(t, locker.Rollback(ctx))

	out := <-done
	require.NoError(t, out.err)
	require.Len(t, out.res.Days, 8)
	attempts := 0
	for _, d := range out.res.Days {
		attempts += d.Attempts
	}
	require.Equal(t, 9, attempts, "the day whose connection was ended is tried once more")
}

package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestRetryCutByTheCallerSaysSo: the caller's context ends while the
// write meets a fault that would be retried (its backend terminated,
// 57P01, as a restart does while a TelemetryWriter's Close gives up). The
// error says both: the fault, and that the caller stopped the retries
// (errors.Is context.Canceled), so the caller counts it as its own
// cancellation (interrupted, not failed). Before, the fault alone came
// back: TestLongTelemetryWriterUnderEveryFault saw a caller told
// `terminating connection due to administrator command (SQLSTATE 57P01)`
// when a Close that gave up had ended its write.
func TestRetryCutByTheCallerSaysSo(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tries := 0
	err := store.Retry(ctx, store.DefaultRetryPolicy, slog.New(slog.DiscardHandler), "write", func(context.Context) error {
		tries++
		conn, err := pool.Acquire(context.Background())
		if err != nil {
			return err
		}
		defer conn.Release()
		cancel() // the caller stops while the server ends the session
		_, err = conn.Exec(context.Background(), "SELECT pg_terminate_backend(pg_backend_pid())")
		require.True(t, store.Transient(err), "%v", err)
		return err
	})
	require.Equal(t, 1, tries)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, "SQLSTATE 57P01")
	require.False(t, store.Transient(err))
	require.False(t, errors.Is(err, context.DeadlineExceeded))
}

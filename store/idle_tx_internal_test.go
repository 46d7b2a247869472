package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestAWriteEndedIdleInTransactionIsRetried: a role or database with an
// idle_in_transaction_session_timeout ends the session of a write whose
// client paused between two statements past the limit (on a loaded
// machine: `intel ingest telemetry` of 77,493 lines with the limit at
// 200 ms failed in 3 of 5 runs at load average 12-16, `release pending
// relations: write: upsert 0 relations: FATAL: terminating connection due
// to idle-in-transaction timeout (SQLSTATE 25P03)`, exit 1). The server
// rolled that transaction back whole, so the write is run again, as for
// any lost connection; a client that pauses past the limit every time
// still fails, naming the limit.
func TestAWriteEndedIdleInTransactionIsRetried(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE idle_probe (n int);
		DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L', current_database(), '100ms'); END $$`)
	require.NoError(t, err)
	pool.Reset() // new connections take the database's setting
	s := NewStore(pool, WithLogger(quietLog), WithRetryPolicy(RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond}))

	tries := 0
	err = s.withRetry(ctx, func(tx pgx.Tx) error {
		tries++
		if _, err := tx.Exec(ctx, "INSERT INTO idle_probe VALUES ($1)", tries); err != nil {
			return err
		}
		if tries == 1 {
			time.Sleep(time.Second) // the client pauses, idle in its transaction, past the limit
		}
		_, err := tx.Exec(ctx, "INSERT INTO idle_probe VALUES ($1)", tries)
		return err
	})
	require.NoError(t, err, "the write whose transaction the server ended is run again")
	require.Equal(t, 2, tries)
	var rows []int
	r, err := pool.Query(ctx, "SELECT n FROM idle_probe ORDER BY n")
	require.NoError(t, err)
	rows, err = pgx.CollectRows(r, pgx.RowTo[int])
	require.NoError(t, err)
	require.Equal(t, []int{2, 2}, rows, "the ended try stored nothing, the retry all")

	// Paused every time: the retries are spent and the error names the limit.
	err = s.withRetry(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1"); err != nil {
			return err
		}
		time.Sleep(time.Second)
		_, err := tx.Exec(ctx, "SELECT 1")
		return err
	})
	require.Error(t, err)
	require.Equal(t, "idle_in_transaction_session_timeout", ServerLimit(err))
}

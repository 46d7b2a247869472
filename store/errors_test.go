package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestInterpret checks the one error translator on errors a real server
// gives: no rows, a unique violation, a deadlock, a lock not granted in
// time, and a plain syntax error that stays what it was.
func TestInterpret(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `CREATE TABLE probe (id int PRIMARY KEY)`)
	require.NoError(t, err)

	t.Run("nil stays nil", func(t *testing.T) {
		require.NoError(t, store.Interpret("anything", nil))
	})
	t.Run("no rows is not found", func(t *testing.T) {
		var id int
		err := pool.QueryRow(ctx, `SELECT id FROM probe WHERE id = 42`).Scan(&id)
		got := store.Interpret("get probe 42", err)
		require.ErrorIs(t, got, store.ErrNotFound)
		require.ErrorContains(t, got, "get probe 42")
		require.False(t, store.Retryable(got))
	})
	t.Run("unique violation is a conflict", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO probe VALUES (1), (1)`)
		got := store.Interpret("insert probes", err)
		require.ErrorIs(t, got, store.ErrConflict)
		require.Equal(t, pgerrcode.UniqueViolation, store.Code(got), "the database error stays in the chain")
		require.False(t, store.Retryable(got))
	})
	t.Run("syntax error passes through", func(t *testing.T) {
		_, err := pool.Exec(ctx, `SELEC 1`)
		got := store.Interpret("probe", err)
		require.Equal(t, pgerrcode.SyntaxError, store.Code(got))
		require.NotErrorIs(t, got, store.ErrConflict)
		require.NotErrorIs(t, got, store.ErrNotFound)
		require.False(t, store.Retryable(got))
	})
	t.Run("lock timeout is retryable", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO probe VALUES (7)`)
		require.NoError(t, err)
		holder, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = holder.Rollback(ctx) }()
		_, err = holder.Exec(ctx, `UPDATE probe SET id = 8 WHERE id = 7`)
		require.NoError(t, err)
		err = store.WithTx(ctx, pool, store.TxOptions{LockTimeout: 50 * time.Millisecond}, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, `UPDATE probe SET id = 9 WHERE id = 7`)
			return err
		})
		require.Equal(t, pgerrcode.LockNotAvailable, store.Code(err))
		got := store.Interpret("update probe", err)
		require.ErrorIs(t, got, store.ErrRetryable)
		require.True(t, store.Retryable(got))
	})
	t.Run("deadlock is retryable", func(t *testing.T) {
		_, err := pool.Exec(ctx, `INSERT INTO probe VALUES (100), (200)`)
		require.NoError(t, err)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		ready := make(chan struct{}, 2)
		for i, order := range [2][2]int{{100, 200}, {200, 100}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = store.WithTx(ctx, pool, store.TxOptions{}, func(tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, `UPDATE probe SET id = id WHERE id = $1`, order[0]); err != nil {
						return err
					}
					ready <- struct{}{}
					for len(ready) < 2 { // both hold their first lock
						time.Sleep(time.Millisecond)
					}
					_, err := tx.Exec(ctx, `UPDATE probe SET id = id WHERE id = $1`, order[1])
					return err
				})
			}()
		}
		wg.Wait()
		lost := errors.Join(errs...)
		require.Error(t, lost, "one of two crossed transactions is a deadlock victim")
		require.Equal(t, pgerrcode.DeadlockDetected, store.Code(lost))
		require.True(t, store.Retryable(store.Interpret("crossed updates", lost)))
	})
}

// TestWithTxRollsBackAfterCancel checks that a transaction whose caller
// gives up mid-way is rolled back (nothing it wrote stays) and that its
// connection goes back to the pool usable.
func TestWithTxRollsBackAfterCancel(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, `CREATE TABLE probe (id int PRIMARY KEY)`)
	require.NoError(t, err)

	cctx, cancel := context.WithCancel(ctx)
	err = store.WithTx(cctx, pool, store.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(cctx, `INSERT INTO probe VALUES (1)`); err != nil {
			return err
		}
		cancel()
		return context.Cause(cctx)
	})
	require.ErrorIs(t, err, context.Canceled)

	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM probe`).Scan(&n))
	require.Zero(t, n, "the cancelled transaction's row is gone")
	// Every connection the pool holds is idle and out of any transaction.
	for range pool.Stat().TotalConns() {
		conn, err := pool.Acquire(ctx)
		require.NoError(t, err)
		require.Equal(t, byte('I'), conn.Conn().PgConn().TxStatus(), "connection back in the pool idle")
		conn.Release()
	}

	// A committed transaction stays.
	require.NoError(t, store.WithTx(ctx, pool, store.TxOptions{}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO probe VALUES (2)`)
		return err
	}))
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM probe`).Scan(&n))
	require.Equal(t, 1, n)
}

// TestStoreErrorsAreTranslated checks that Store methods return the
// store's sentinels, not pgx's.
func TestStoreErrorsAreTranslated(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.store.GetNode(ctx, graph.NamedID(graph.KindMalware, "nothing here"))
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NotErrorIs(t, err, pgx.ErrNoRows, "callers never see pgx's sentinel")
	_, err = b.store.ResolveNode(ctx, "malware:nothing here")
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestPermissionDeniedIsExplained: a write the server refuses for the
// role's privileges (42501, as a load run by the reader role gets) is
// explained with what to grant; the error chain is kept. Before, only the
// server's "permission denied for table feeds" came out.
func TestPermissionDeniedIsExplained(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	// The owner of the table (the test database's user) revokes its own
	// right to insert, as the reader role lacks it.
	_, err := pool.Exec(ctx, "REVOKE INSERT ON feeds FROM CURRENT_USER")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "INSERT INTO feeds (name) VALUES ('x')")
	require.Equal(t, pgerrcode.InsufficientPrivilege, store.Code(err))
	explained := store.ExplainServerLimit(err)
	require.ErrorContains(t, explained, "may not do this (permission denied)")
	require.ErrorContains(t, explained, "_writer")
	require.Equal(t, pgerrcode.InsufficientPrivilege, store.Code(explained), "the chain is kept")
}

// TestLockTimeoutBoundsAWaitOnACitusWorker: a transaction's lock_timeout
// bounds its lock waits on Citus workers too, and a lock not granted there
// is a lock timeout (55P03, retryable), not a lost worker. A lock on a
// distributed table (ensure_day_partition's LOCK TABLE of the default
// partition) is taken on the workers too; here a reader holds the table on
// a worker alone, so the wait is there whatever order Citus takes the
// locks in. Before, the waits on a worker took the worker's lock_timeout
// (none), and `partitions maintain` with a 20 ms timeout queued its
// ACCESS EXCLUSIVE request there, and every query behind it, for as long
// as the reader held the table (past a minute in CI); with the timeout
// propagated, the coordinator said only "failure on connection marked as
// essential" (XX000, a lost worker). On plain PostgreSQL the reader and
// the wait are the server's own.
func TestLockTimeoutBoundsAWaitOnACitusWorker(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	var holder pgx.Tx
	if workers := pgtest.CitusWorkerDSNs(t, pool.Config().ConnString()); len(workers) > 0 {
		conn, err := pgx.Connect(ctx, workers[0])
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close(context.Background()) })
		holder, err = conn.Begin(ctx)
		require.NoError(t, err)
		// On this worker alone (not propagated to the other nodes).
		_, err = holder.Exec(ctx, "SET LOCAL citus.enable_ddl_propagation = off")
		require.NoError(t, err)
	} else {
		var err error
		holder, err = pool.Begin(ctx)
		require.NoError(t, err)
	}
	defer holder.Rollback(ctx) //nolint:errcheck // released when the test ends
	_, err := holder.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS SHARE MODE")
	require.NoError(t, err)

	for range 3 {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = store.WithTx(cctx, pool, store.TxOptions{LockTimeout: 20 * time.Millisecond}, func(tx pgx.Tx) error {
			_, err := tx.Exec(cctx, "LOCK TABLE telemetry_edges_default IN ACCESS EXCLUSIVE MODE")
			return err
		})
		outlived := cctx.Err()
		cancel()
		require.Error(t, err)
		require.NoError(t, outlived, "the wait outlived the lock timeout: %v", err)
		require.Equal(t, pgerrcode.LockNotAvailable, store.Code(err), "%v", err)
		require.True(t, store.Retryable(err), "%v", err)
		if pgtest.CitusMode() {
			require.Contains(t, err.Error(), "on the Citus worker")
		}
	}
}

package partman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SQLSTATEs inTx retries: the lock was not granted within lock_timeout, or
// the transaction was chosen as a deadlock victim.
const (
	codeLockNotAvailable = "55P03"
	codeDeadlock         = "40P01"
)

// rollbackTimeout bounds the rollback of a failed transaction, which runs
// even when the caller's context is cancelled.
const rollbackTimeout = 5 * time.Second

// inTx runs fn in a transaction of its own with SET LOCAL lock_timeout, and
// runs it again in a new transaction, after a jittered exponential backoff,
// when a lock was not granted in time or a deadlock was detected, up to
// o.Retries times. what names the operation in logs and errors. It returns
// the number of attempts made. When every attempt timed out waiting for a
// lock the error wraps ErrLockTimeout and the last database error.
func inTx(ctx context.Context, pool *pgxpool.Pool, o Options, what string, fn func(pgx.Tx) error) (int, error) {
	delay := o.RetryDelay
	for attempt := 1; ; attempt++ {
		err := runTx(ctx, pool, o.LockTimeout, fn)
		if err == nil {
			return attempt, nil
		}
		var pgErr *pgconn.PgError
		retryable := errors.As(err, &pgErr) && (pgErr.Code == codeLockNotAvailable || pgErr.Code == codeDeadlock)
		if !retryable || ctx.Err() != nil {
			return attempt, fmt.Errorf("%s: %w", what, err)
		}
		if attempt > o.Retries {
			if pgErr.Code == codeLockNotAvailable {
				return attempt, fmt.Errorf("%s: %w within lock_timeout %s (%s): %w",
					what, ErrLockTimeout, o.LockTimeout, attempts(attempt), err)
			}
			return attempt, fmt.Errorf("%s (%s): %w", what, attempts(attempt), err)
		}
		wait := delay/2 + rand.N(delay/2+1)
		o.Logger.LogAttrs(ctx, slog.LevelWarn, "partman: lock not granted in time, retrying",
			slog.String("op", what), slog.Int("attempt", attempt), slog.Int("retries", o.Retries),
			slog.Duration("lock_timeout", o.LockTimeout), slog.Duration("backoff", wait),
			slog.String("sqlstate", pgErr.Code))
		select {
		case <-ctx.Done():
			return attempt, fmt.Errorf("%s: %w", what, context.Cause(ctx))
		case <-time.After(wait):
		}
		delay = min(2*delay, maxRetryDelay)
	}
}

// runTx runs fn in one transaction whose lock waits are bounded by
// lockTimeout. The rollback of a failed transaction runs even when ctx is
// cancelled, so the connection goes back to the pool clean.
func runTx(ctx context.Context, pool *pgxpool.Pool, lockTimeout time.Duration, fn func(pgx.Tx) error) (err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if _, err = tx.Exec(ctx, "SELECT set_config('lock_timeout', $1, true)", pgMillis(lockTimeout)); err != nil {
		return err
	}
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// pgMillis formats d as a PostgreSQL duration setting in whole
// milliseconds, at least 1 (0 would mean no timeout).
func pgMillis(d time.Duration) string {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return fmt.Sprintf("%dms", max(ms, 1))
}

// attempts spells a number of attempts: "1 attempt", "6 attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

package partman

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/ransomeye/intel/store"
)

// inTx runs fn in a transaction of its own (fn's statements take the
// context it is given: the try's, which Options.RetryBudget ends) with SET LOCAL lock_timeout, and
// runs it again in a new transaction, after a jittered exponential backoff,
// when a lock was not granted in time, a deadlock was detected or the
// connection or server went away (store.Transient), up to
// o.Retries times. what names the operation in logs and errors. It returns
// the number of attempts made. When every attempt timed out waiting for a
// lock the error wraps ErrLockTimeout and the last database error.
func inTx(ctx context.Context, pool *pgxpool.Pool, o Options, what string, fn func(context.Context, pgx.Tx) error) (int, error) {
	return retryTx(ctx, pool, o, store.TxOptions{LockTimeout: o.LockTimeout}, what, fn)
}

// maintenanceTx is inTx for the transactions that change partitions
// (create, attach, detach, drop, move rows): they run without the
// session's statement_timeout (store.TxOptions.Maintenance), since moving
// a day's rows takes as long as there are rows, and a limit meant for
// queries would make the upkeep fail on every run. Lock waits stay bounded
// by o.LockTimeout.
func maintenanceTx(ctx context.Context, pool *pgxpool.Pool, o Options, what string, fn func(context.Context, pgx.Tx) error) (int, error) {
	return retryTx(ctx, pool, o, store.TxOptions{LockTimeout: o.LockTimeout, Maintenance: true}, what, fn)
}

// retryTx waits between attempts as the store does (Options.retryPolicy,
// store.RetryPolicy.Wait).
func retryTx(ctx context.Context, pool *pgxpool.Pool, o Options, txo store.TxOptions, what string, fn func(context.Context, pgx.Tx) error) (int, error) {
	if o.RetryBudget <= 0 {
		return retryTxUnbounded(ctx, pool, o, txo, what, fn)
	}
	budget := fmt.Errorf("%w after %s (Options.RetryBudget; intel's --citus-budget)", store.ErrRetryBudget, o.RetryBudget)
	bctx, cancel := context.WithTimeoutCause(ctx, o.RetryBudget, budget)
	defer cancel()
	n, err := retryTxUnbounded(bctx, pool, o, txo, what, fn)
	if err != nil && ctx.Err() == nil && bctx.Err() != nil && !errors.Is(err, store.ErrRetryBudget) {
		err = fmt.Errorf("%w: %w", budget, err) // the budget, not the caller, ended it
	}
	return n, err
}

// retryTxUnbounded is retryTx without Options.RetryBudget.
func retryTxUnbounded(ctx context.Context, pool *pgxpool.Pool, o Options, txo store.TxOptions, what string, fn func(context.Context, pgx.Tx) error) (int, error) {
	policy := o.retryPolicy()
	for attempt := 1; ; attempt++ {
		err := store.WithTx(ctx, pool, txo, func(tx pgx.Tx) error { return fn(ctx, tx) })
		if err == nil {
			return attempt, nil
		}
		code := store.Code(err)
		// The connection or the server going away (pg_terminate_backend,
		// a restart: 57P01, class 08, a refused connection) is retried too:
		// the day's transaction rolled back whole.
		retryable := code == pgerrcode.LockNotAvailable || code == pgerrcode.DeadlockDetected || store.Transient(err)
		if !retryable || ctx.Err() != nil {
			return attempt, fmt.Errorf("%s: %w", what, err)
		}
		if attempt > o.Retries {
			if code == pgerrcode.LockNotAvailable {
				return attempt, fmt.Errorf("%s: %w within lock_timeout %s (%s): %w",
					what, ErrLockTimeout, o.LockTimeout, attempts(attempt), err)
			}
			return attempt, fmt.Errorf("%s (%s): %w", what, attempts(attempt), err)
		}
		wait := policy.Wait(attempt)
		msg := "partman: lock not granted in time, retrying"
		if code != pgerrcode.LockNotAvailable && code != pgerrcode.DeadlockDetected {
			msg = "partman: retrying after a transient failure"
		}
		o.Logger.LogAttrs(ctx, slog.LevelWarn, msg,
			slog.String("op", what), slog.Int("attempt", attempt), slog.Int("retries", o.Retries),
			slog.Duration("lock_timeout", o.LockTimeout), slog.Duration("backoff", wait),
			slog.String("sqlstate", code), slog.String("err", err.Error()))
		select {
		case <-ctx.Done():
			return attempt, fmt.Errorf("%s: %w", what, context.Cause(ctx))
		case <-time.After(wait):
		}
	}
}

// attempts spells a number of attempts: "1 attempt", "6 attempts".
func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/internal/citusnotice"
)

// rollbackTimeout bounds the rollback of a failed transaction, which runs
// even when the caller's context is cancelled.
const rollbackTimeout = 5 * time.Second

// Beginner starts transactions: a *pgxpool.Pool, a *pgx.Conn or a pgx.Tx
// (a savepoint).
type Beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// TxOptions configure WithTx.
type TxOptions struct {
	// LockTimeout, when positive, bounds every lock wait inside the
	// transaction (SET LOCAL lock_timeout), so a blocked statement fails
	// with a retryable error instead of queueing readers behind it.
	LockTimeout time.Duration
	// WaitsOnPurpose lifts the session's idle_in_transaction_session_timeout
	// for this transaction alone (SET LOCAL ... = 0): a transaction that
	// waits, by design, on work done elsewhere before it commits (a
	// telemetry COPY waiting for its chunk's endpoint records) would be
	// killed by a server that limits idle transactions (FATAL 25P03).
	WaitsOnPurpose bool
	// Maintenance lifts statement_timeout for this transaction alone (SET
	// LOCAL statement_timeout = 0): schema and partition maintenance (making
	// or pruning a partition, moving a day's rows out of the default
	// partition) takes as long as the rows it moves, and a limit set for the
	// role or the database to bound ordinary queries would stop it for good.
	// Lock waits stay bounded by LockTimeout.
	Maintenance bool
	// JITOff turns JIT compilation off for this transaction alone (SET
	// LOCAL jit = off): for a session that could not start with jit=off
	// (WithLocalJITOff).
	JITOff bool
}

// readCommitted is how WithTx begins a transaction, whatever the server,
// database or role set as default_transaction_isolation: the writes and
// the partition upkeep are written for READ COMMITTED, where a statement
// that waited for a lock sees what the lock's holder committed. Under
// 'repeatable read' or 'serializable' the upkeep of two processes at once
// failed for good: the second, woken after the first made a day's
// partition, looked with its old snapshot, did not see it, and tried to
// make it again ("relation \"telemetry_edges_2026_12_07\" already
// exists", 42P07), and every command's startup upkeep ended exit 1.
var readCommitted = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}

// txBeginner begins a transaction with options: a *pgxpool.Pool or a
// *pgx.Conn (a pgx.Tx begins a savepoint only).
type txBeginner interface {
	BeginTx(ctx context.Context, o pgx.TxOptions) (pgx.Tx, error)
}

// WithTx runs fn in one READ COMMITTED transaction (whatever
// default_transaction_isolation says; see readCommitted): it commits when
// fn returns nil and rolls back otherwise. On a Citus coordinator, an
// error a worker gave (a lock timeout there) is returned as that error
// (see citusWorkerCause). The rollback runs on a context of its own (bounded
// by a few seconds) even when ctx is cancelled, so the connection goes
// back to the pool clean. It does not retry: see Store for the writers
// that do.
func WithTx(ctx context.Context, db Beginner, o TxOptions, fn func(pgx.Tx) error) (err error) {
	var tx pgx.Tx
	if b, ok := db.(txBeginner); ok {
		tx, err = b.BeginTx(ctx, readCommitted)
	} else {
		tx, err = db.Begin(ctx) // a savepoint: its transaction's level
	}
	if err != nil {
		return err
	}
	conn := tx.Conn().PgConn()
	citusnotice.Take(conn) // one an earlier transaction left
	defer func() {
		if err == nil {
			return
		}
		err = citusWorkerCause(conn, err)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	if sql := o.setLocal(); sql != "" {
		if _, err = tx.Exec(ctx, sql); err != nil {
			return err
		}
	}
	if err = fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// setLocal returns the statements that make o's settings for the
// transaction alone (SET LOCAL), or "" when o has none. They are plain SET
// LOCAL statements (no parameters: one simple-protocol round trip) after
// citus.propagate_set_commands = 'local', so that on a Citus coordinator
// the workers' side of the transaction takes them too: a partition's DDL
// there locks the shell tables on every worker, and a wait on a worker
// bounded by nothing but the coordinator's lock_timeout was unbounded (a
// reader holding the parent on a worker held `partitions maintain`, lock
// timeout 20ms, past a minute). On plain PostgreSQL the citus setting is a
// placeholder, set for the transaction and read by nothing.
func (o TxOptions) setLocal() string {
	var set []string
	if o.LockTimeout > 0 {
		set = append(set, "lock_timeout = '"+pgMillis(o.LockTimeout)+"'")
	}
	if o.WaitsOnPurpose {
		set = append(set, "idle_in_transaction_session_timeout = 0")
	}
	if o.Maintenance {
		set = append(set, "statement_timeout = 0")
	}
	if o.JITOff {
		set = append(set, "jit = off")
	}
	if set == nil {
		return ""
	}
	return "SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL " + strings.Join(set, "; SET LOCAL ")
}

// pgMillis formats d as a PostgreSQL duration setting in whole
// milliseconds, at least 1 (0 would mean no timeout).
func pgMillis(d time.Duration) string {
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return fmt.Sprintf("%dms", max(ms, 1))
}

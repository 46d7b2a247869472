package store

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// WithLocalJITOff turns JIT compilation off for every statement of the
// Store by transaction (SET LOCAL jit = off), not by session: each write
// transaction sets it first, and each read the Store makes outside a
// transaction of its own runs in one that begins with it ("BEGIN; SET LOCAL
// jit = off" in one round trip, then the statement, then COMMIT: two round
// trips more per read). It is for a pool whose sessions cannot start with
// jit=off: a transaction pooler (PgBouncer in transaction mode) refuses
// the jit startup parameter, and a session SET there would reach other
// clients of the pooler's server connection. Without it, the graph walk
// ran with JIT on behind such a pooler: its plan is costed above
// jit_above_cost even on small graphs, and compiling it cost about 150 ms
// per walk. tuning.ConfigurePool says when it had to drop the parameter
// (tuning.SessionJITOff).
func WithLocalJITOff() Option { return func(s *Store) { s.localJITOff = true } }

// beginJITOff begins a transaction with JIT off for it alone, in one round
// trip (pgx runs a BeginQuery without arguments by the simple protocol,
// which takes the two statements at once).
var beginJITOff = pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL jit = off"}

// jitOffDB runs each statement of db/gen's queries in a transaction of its
// own that turns JIT off first (WithLocalJITOff).
type jitOffDB struct{ pool *pgxpool.Pool }

func (d jitOffDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tx, err := d.pool.BeginTx(ctx, beginJITOff)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := tx.Exec(ctx, sql, args...)
	if err != nil {
		rollback(ctx, tx)
		return tag, err
	}
	return tag, tx.Commit(ctx)
}

func (d jitOffDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	tx, err := d.pool.BeginTx(ctx, beginJITOff)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		rollback(ctx, tx)
		return nil, err
	}
	return &jitOffRows{Rows: rows, ctx: ctx, tx: tx}, nil
}

func (d jitOffDB) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, err := d.Query(ctx, sql, args...)
	return jitOffRow{rows: rows, err: err}
}

// jitOffRows ends its transaction when it is closed: it commits a read
// that succeeded (a statement that wrote keeps its writes) and rolls back
// one that failed.
type jitOffRows struct {
	pgx.Rows
	ctx    context.Context
	tx     pgx.Tx
	closed bool
	err    error // the commit's
}

func (r *jitOffRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	if r.Rows.Err() != nil {
		rollback(r.ctx, r.tx)
		return
	}
	r.err = r.tx.Commit(r.ctx)
}

func (r *jitOffRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// jitOffRow is QueryRow's row: pgx's own rules (ErrNoRows, the first row
// only), on a jitOffRows.
type jitOffRow struct {
	rows pgx.Rows
	err  error
}

func (r jitOffRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		r.rows.Close()
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}

// rollback rolls tx back on a context of its own, bounded, even when ctx
// has ended, so the connection goes back to the pool clean.
func rollback(ctx context.Context, tx pgx.Tx) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	_ = tx.Rollback(rctx)
}

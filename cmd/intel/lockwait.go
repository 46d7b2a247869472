package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lockWaitEvery is how long a statement of intel waits for a lock before
// lockWatch names what holds it, and how often it looks (a variable: a
// test shortens it).
var lockWaitEvery = 5 * time.Second

// backendPIDs are the server processes of a pool's connections.
type backendPIDs struct {
	mu   sync.Mutex
	pids map[uint32]bool
}

func (b *backendPIDs) afterConnect(next func(context.Context, *pgx.Conn) error) func(context.Context, *pgx.Conn) error {
	return func(ctx context.Context, conn *pgx.Conn) error {
		if next != nil {
			if err := next(ctx, conn); err != nil {
				return err
			}
		}
		b.mu.Lock()
		b.pids[conn.PgConn().PID()] = true
		b.mu.Unlock()
		return nil
	}
}

func (b *backendPIDs) list() []int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]int64, 0, len(b.pids))
	for p := range b.pids {
		out = append(out, int64(p))
	}
	return out
}

// lockWatch logs, once per holder and relation, a WARN naming
// the session that holds a lock one of the pool's connections has waited
// for longer than every (its pid, role, application, state, how long its
// transaction has been open, its last statement) and the relation, until
// ctx ends or the pool closes. A load waiting on a lock another session
// holds (LOCK TABLE nodes, a long pg_dump, a transaction left open in
// psql) waited without a word, for ever under lock_timeout = 0.
func lockWatch(ctx context.Context, pool *pgxpool.Pool, pids *backendPIDs, every time.Duration, log *slog.Logger) {
	told := map[string]bool{}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rows, err := pool.Query(ctx, `SELECT w.pid, extract(epoch FROM now() - w.state_change)::int,
				coalesce((SELECT string_agg(DISTINCT l.relation::regclass::text, ', ') FROM pg_locks l
					WHERE l.pid = w.pid AND NOT l.granted AND l.relation IS NOT NULL), ''),
				b.pid, coalesce(b.usename::text, ''), coalesce(b.application_name, ''), coalesce(b.state, ''),
				coalesce(extract(epoch FROM now() - b.xact_start)::int, 0), left(coalesce(b.query, ''), 120),
				current_setting('lock_timeout')
			FROM pg_stat_activity w
			CROSS JOIN LATERAL unnest(pg_blocking_pids(w.pid)) AS bp(pid)
			JOIN pg_stat_activity b ON b.pid = bp.pid
			WHERE w.pid = ANY($1) AND w.wait_event_type = 'Lock' AND w.state = 'active'
			  AND now() - w.state_change >= $2::interval`, pgx.QueryExecModeSimpleProtocol,
			pids.list(), fmt.Sprintf("%d ms", every.Milliseconds()))
		if err != nil {
			if ctx.Err() != nil || strings.Contains(err.Error(), "closed pool") {
				return
			}
			log.Debug("look for lock waits", "err", err)
			continue
		}
		for rows.Next() {
			var waiter, holder int64 // waiter: scanned, not shown
			var waited, open int
			var rel, user, app, state, query, lockTimeout string
			if err := rows.Scan(&waiter, &waited, &rel, &holder, &user, &app, &state, &open, &query, &lockTimeout); err != nil {
				break
			}
			if rel == "" {
				rel = "a row or object"
			}
			key := fmt.Sprintf("%d/%s", holder, rel) // once, however many of the pool's statements wait on it
			if told[key] {
				continue
			}
			told[key] = true
			log.Warn(fmt.Sprintf("a statement has waited %ds for a lock on %s that another session holds: it goes on once that session "+
				"commits or rolls back (lock_timeout = %s; pg_terminate_backend(%d) ends it)", waited, rel, lockTimeout, holder),
				"holder_pid", holder, "holder_user", user, "holder_application", app, "holder_state", state,
				"holder_transaction_open_s", open, "holder_query", query)
		}
		rows.Close()
	}
}

package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Activity describes what the servers of dsn's database are doing, for a
// test that waited too long to say why: on the server (the coordinator on
// Citus) and on each Citus worker, every backend of the database — its
// state, what it waits for, how long its transaction and its statement
// have run, its query — and the locks not granted with the backends that
// block them. It asks as the administrative user, on connections of its
// own, for at most 10 s each; a server that does not answer is reported,
// not fatal.
func Activity(t testing.TB, dsn string) string {
	t.Helper()
	var out strings.Builder
	servers := append([]string{AdminDSN(t, dsn)}, CitusWorkerDSNs(t, dsn)...)
	for i, s := range servers {
		name := "server"
		if i > 0 {
			name = fmt.Sprintf("worker %d", i)
		} else if CitusMode() {
			name = "coordinator"
		}
		fmt.Fprintf(&out, "== %s (%s)\n", name, hostPort(s))
		if err := activity(&out, s); err != nil {
			fmt.Fprintf(&out, "   cannot ask: %v\n", err)
		}
	}
	return out.String()
}

// hostPort is the server address of dsn.
func hostPort(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "?"
	}
	return u.Host + u.Path
}

// activity writes the backends and the waiting locks of dsn's database.
func activity(out *strings.Builder, dsn string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, `SELECT pid, coalesce(backend_type, ''), coalesce(state, ''),
		coalesce(wait_event_type || ':' || wait_event, ''), coalesce(now() - xact_start, '0')::text,
		coalesce(now() - query_start, '0')::text, pg_blocking_pids(pid)::text, left(coalesce(query, ''), 200)
		FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY xact_start NULLS LAST, pid`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var pid int32
		var kind, state, wait, xact, stmt, blockers, query string
		if err := rows.Scan(&pid, &kind, &state, &wait, &xact, &stmt, &blockers, &query); err != nil {
			return err
		}
		fmt.Fprintf(out, "   pid %d %s %q wait %q xact %s stmt %s blocked by %s: %s\n", pid, kind, state, wait, xact, stmt, blockers,
			strings.Join(strings.Fields(query), " "))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = conn.Query(ctx, `SELECT l.pid, l.locktype, l.mode, coalesce(l.relation::regclass::text, ''), coalesce(l.transactionid::text, '')
		FROM pg_locks l WHERE NOT l.granted
		AND (l.database IS NULL OR l.database = (SELECT oid FROM pg_database WHERE datname = current_database())) ORDER BY l.pid`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var pid int32
		var kind, mode, rel, xid string
		if err := rows.Scan(&pid, &kind, &mode, &rel, &xid); err != nil {
			return err
		}
		fmt.Fprintf(out, "   lock not granted: pid %d %s %s %s%s\n", pid, kind, mode, rel, xid)
	}
	return rows.Err()
}

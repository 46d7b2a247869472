package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/store"
)

// TestTelemetryCopyOutlivesTheIdleInTransactionTimeout: a server (role or
// database) with idle_in_transaction_session_timeout, as DBAs set it, and
// endpoint records that take longer to write than that limit. The COPY
// transaction of a chunk waits, idle, for its chunk's records to commit
// before it commits; the server killed it (FATAL 25P03) and the load failed
// with nothing stored (seen: `intel ingest telemetry` of 70,000 generated
// lines with the limit at 1 s failed on its first chunk). It now lifts the
// limit for itself alone: the load stores every edge once.
//
// The records wait for a lock the test holds until a COPY transaction has
// been idle for longer than the limit, so the test does not depend on the
// machine's speed: with a limit of 150 ms and records slowed by a sleep of
// 300 ms, the load's other transactions (which keep the limit) were killed
// too on a loaded CI machine whenever the client paused 150 ms between two
// statements. The limit is 2 s, a pause only a stalled client makes.
func TestTelemetryCopyOutlivesTheIdleInTransactionTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const n = 2000
	const limit = 2 * time.Second
	b := setup(t, store.WithCopyChunk(400))
	// A statement writing nodes waits for the lock the test holds.
	_, err := b.pool.Exec(ctx, `
		CREATE FUNCTION slow_nodes() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NULL; END $$;
		CREATE TRIGGER slow_nodes BEFORE INSERT ON nodes FOR EACH STATEMENT EXECUTE FUNCTION slow_nodes();`)
	require.NoError(t, err)
	_, err = b.pool.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN
		EXECUTE format('ALTER DATABASE %%I SET idle_in_transaction_session_timeout = %%L', current_database(), '%dms');
	END $$`, limit.Milliseconds()))
	require.NoError(t, err)
	b.pool.Reset() // new connections take the database's setting
	var setting string
	require.NoError(t, b.pool.QueryRow(ctx, "SHOW idle_in_transaction_session_timeout").Scan(&setting))
	require.Equal(t, "2s", setting)
	hold, err := pgx.Connect(ctx, b.pool.Config().ConnString())
	require.NoError(t, err)
	defer func() { _ = hold.Close(ctx) }()
	_, err = hold.Exec(ctx, "SELECT pg_advisory_lock(4242)") // a session's lock: no transaction stays open
	require.NoError(t, err)

	in := store.TelemetryInput{Name: "file:/tmp/idle.ndjson", ContentHash: "h"}
	type outcome struct {
		st  store.TelemetryStats
		err error
	}
	loaded := make(chan outcome, 1)
	go func() {
		st, err := b.store.Checkpointed(in).AppendTelemetry(ctx, numbered(n, b.now.Add(-time.Hour), false))
		loaded <- outcome{st, err}
	}()
	// A COPY transaction waits for its records, idle (its last statement
	// the release of a savepoint), for longer than the limit: the server
	// kills a backend idle in a transaction at the limit, and a killed one
	// is gone from pg_stat_activity. The bound catches a COPY that never
	// gets there: one killed at the limit each time it is retried.
	var idle string
	require.Eventually(t, func() bool {
		err := hold.QueryRow(ctx, `SELECT coalesce(max(now() - state_change), '0')::text FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'idle in transaction'
			HAVING max(now() - state_change) > $1::interval`, fmt.Sprintf("%dms", limit.Milliseconds()+500)).Scan(&idle)
		return err == nil
	}, time.Minute, 20*time.Millisecond, "no transaction stayed idle for longer than the limit")
	t.Logf("a COPY transaction idle for %s (limit %s)", idle, limit)
	_, err = hold.Exec(ctx, "SELECT pg_advisory_unlock(4242)")
	require.NoError(t, err)

	got := <-loaded
	require.NoError(t, got.err)
	require.EqualValues(t, wantEdges(n), got.st.Edges)
	var rows, distinct int64
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT (dst_id, observed_at)) FROM telemetry_edges`).Scan(&rows, &distinct))
	require.EqualValues(t, wantEdges(n), rows, "each edge stored once")
	require.Equal(t, rows, distinct)
}

// TestServerLimitNamesTheSetting: each timeout a DBA sets on a role or a
// database, provoked on a real server, is named by store.ServerLimit; a
// statement cancelled on request (pg_cancel_backend) and a NOWAIT lock
// failure are not.
func TestServerLimitNamesTheSetting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	conn, err := b.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	other, err := b.pool.Acquire(ctx)
	require.NoError(t, err)
	defer other.Release()

	_, err = conn.Exec(ctx, "SET statement_timeout = '20ms'; SELECT pg_sleep(1)")
	require.Equal(t, "statement_timeout", store.ServerLimit(err), "%v", err)
	_, err = conn.Exec(ctx, "RESET statement_timeout")
	require.NoError(t, err)

	var pid int
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	cancelled := make(chan error, 1)
	go func() {
		time.Sleep(200 * time.Millisecond)
		_, err := other.Exec(ctx, "SELECT pg_cancel_backend($1::int)", pid) // Citus adds a bigint overload
		cancelled <- err
	}()
	_, err = conn.Exec(ctx, "SELECT pg_sleep(5)")
	require.NoError(t, <-cancelled)
	require.Error(t, err)
	require.Empty(t, store.ServerLimit(err), "a cancel request is not a limit: %v", err)

	tx, err := other.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE feeds IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "SET lock_timeout = '20ms'; SELECT count(*) FROM feeds")
	require.Equal(t, "lock_timeout", store.ServerLimit(err), "%v", err)
	_, err = conn.Exec(ctx, "RESET lock_timeout; BEGIN; LOCK TABLE feeds IN ACCESS SHARE MODE NOWAIT")
	require.Equal(t, "55P03", store.Code(err), "%v", err)
	require.Empty(t, store.ServerLimit(err), "NOWAIT is not a limit: %v", err)
	_, err = conn.Exec(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.NoError(t, tx.Rollback(ctx))

	_, err = conn.Exec(ctx, "SET idle_in_transaction_session_timeout = '20ms'; BEGIN")
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond)
	_, err = conn.Exec(ctx, "SELECT 1")
	require.Equal(t, "idle_in_transaction_session_timeout", store.ServerLimit(err), "%v", err)
	conn.Conn().Close(ctx) //nolint:errcheck // the server closed it
}

package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// crashWorkerAt makes every worker of the Citus cluster holding dsn crash
// (a backend killed with SIGKILL, as the OOM killer does: the worker's
// postmaster ends every session and recovers) when a COPY stores the
// telemetry edge whose props[key] is at, once, into the day partition of
// day, which it makes. The test skips off Citus.
func crashWorkerAt(t *testing.T, pool *pgxpool.Pool, day time.Time, key string, at int) {
	t.Helper()
	if !pgtest.CitusMode() {
		t.Skip("a worker fault: runs on Citus (INTEL_TEST_CITUS=1, make test-citus)")
	}
	ctx := context.Background()
	_, err := partman.EnsureDays(ctx, pool, []time.Time{day}, partman.Options{})
	require.NoError(t, err)
	for _, w := range pgtest.CitusWorkerDSNs(t, pool.Config().ConnString()) {
		conn, err := pgx.Connect(ctx, w)
		require.NoError(t, err)
		// The shards of the day partitions (Citus COPYs into them),
		// which Citus hides from other sessions' catalog reads.
		_, err = conn.Exec(ctx, `SET citus.show_shards_for_app_name_prefixes = '*'`)
		require.NoError(t, err)
		var shards []string
		rows, err := conn.Query(ctx, `SELECT relname FROM pg_class WHERE relname ~ '^telemetry_edges_.*_[0-9]{6,}$' AND relkind = 'r'`)
		require.NoError(t, err)
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			shards = append(shards, s)
		}
		rows.Close()
		require.NoError(t, rows.Err())
		require.NotEmpty(t, shards, "the worker holds shards of telemetry_edges")
		// The worker's crash recovery forgets what the killed transaction
		// did, a sequence's advance too: a file in the data directory
		// says the crash happened. The program reads what COPY sends it
		// first (a program that ends unread breaks COPY's pipe).
		stmts := []string{
			`SET citus.enable_ddl_propagation = off`, // objects of this worker alone
			fmt.Sprintf(`CREATE FUNCTION fault_crash() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $f$
			BEGIN
				IF (NEW.props->>%s)::int = %d THEN
					EXECUTE format('COPY (SELECT 1) TO PROGRAM %%L', format('cat >/dev/null; test -e %%s || { touch %%s; kill -9 %%s; }',
						'crashed_' || current_database(), 'crashed_' || current_database(), pg_backend_pid()));
				END IF;
				RETURN NEW;
			END $f$`, pgQuote(key), at),
		}
		for _, s := range shards {
			stmts = append(stmts, fmt.Sprintf(`CREATE TRIGGER fault_crash BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION fault_crash()`,
				pgx.Identifier{s}.Sanitize()))
		}
		for _, s := range stmts {
			_, err := conn.Exec(ctx, s)
			require.NoError(t, err, s)
		}
		require.NoError(t, conn.Close(ctx))
	}
}

// TestAppendTelemetryInputSurvivesAWorkerCrash: a checkpointed load during
// which the Citus worker holding the agent's shard crashes in the middle
// of a chunk's COPY (and restarts, as PostgreSQL does after a crash) stores
// exactly the rows of a clean load: the chunk is retried, not given up.
func TestAppendTelemetryInputSurvivesAWorkerCrash(t *testing.T) {
	// Not parallel: the crash ends every session of the worker, those of
	// other tests too.
	ctx := context.Background()
	const n = 12_000
	in := store.TelemetryInput{Name: "file:/tmp/edr.ndjson", ContentHash: "abc"}
	b := setup(t, store.WithCopyChunk(2000))
	at := b.now.Add(-time.Hour)
	crashWorkerAt(t, b.pool, at, "i", 7000)
	clean := setup(t, store.WithCopyChunk(2000))
	st, err := clean.store.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, false))
	require.NoError(t, err)
	require.EqualValues(t, wantEdges(n), st.Edges)

	got, err := b.store.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, false))
	require.NoError(t, err, "a worker that crashed and came back is a transient failure")
	require.EqualValues(t, wantEdges(n), got.Edges)
	require.Equal(t, edgeRows(t, clean.pool), edgeRows(t, b.pool), "the rows of one clean load")
	requireOneWorkerCrashed(t, b.pool)
}

// requireOneWorkerCrashed fails the test unless crashWorkerAt's crash
// happened on exactly one worker.
func requireOneWorkerCrashed(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	crashed := 0
	for _, dsn := range pgtest.CitusWorkerDSNs(t, pool.Config().ConnString()) {
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err)
		var ok bool
		require.NoError(t, conn.QueryRow(ctx, `SELECT (pg_stat_file('crashed_' || current_database(), true)).size IS NOT NULL`).Scan(&ok))
		if ok {
			crashed++
		}
		require.NoError(t, conn.Close(ctx))
	}
	require.Equal(t, 1, crashed, "the worker holding the edge's shard crashed")
}

func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestTelemetryWriterCallersSurviveAWorkerCrash: callers of a shared
// TelemetryWriter whose group is being COPYed when the Citus worker holding
// one of its shards crashes are told nil, and the tables (edges, nodes with
// their first and last seen, relations, records) equal one clean append's:
// the group is written again once the worker is back, not failed.
func TestTelemetryWriterCallersSurviveAWorkerCrash(t *testing.T) {
	// Not parallel: the crash ends every session of the worker.
	ctx := context.Background()
	edges := writerCorpus(yesterday())
	var logs lockedBuffer
	b := setup(t, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	crashWorkerAt(t, b.pool, yesterday(), "seq", len(edges)/2)
	want := cleanTables(t, edges)
	w := b.store.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 3, GroupRows: 40, Linger: time.Millisecond})
	errs := appendFromCallers(ctx, w, edges)
	require.NoError(t, w.Close(ctx), "logs:\n%s", logs.String())
	for _, err := range errs {
		require.NoError(t, err, "logs:\n%s", logs.String())
	}
	requireOneWorkerCrashed(t, b.pool)
	// A group the crash caught between the two phases of its commit is
	// committed (the coordinator decided, its callers were told nil), its
	// rows prepared on the worker until Citus' recovery commits them
	// (every citus.recover_2pc_interval, a minute by default): run it now.
	admin, err := pgx.Connect(ctx, pgtest.AdminDSN(t, b.pool.Config().ConnString()))
	require.NoError(t, err)
	var recovered int
	require.NoError(t, admin.QueryRow(ctx, `SELECT recover_prepared_transactions()`).Scan(&recovered))
	require.NoError(t, admin.Close(ctx))
	t.Logf("prepared transactions recovered: %d", recovered)
	got := writerTables(t, b)
	for table := range want {
		require.Equal(t, want[table], got[table], table)
	}
}

// crashingEnsurer is a DayEnsurer that crashes the workers' postmasters'
// sessions (a backend of each killed with SIGKILL) during its first
// Horizon read, which the store runs inside a COPY transaction's
// retention fence (a savepoint), and waits until they refuse connections.
type crashingEnsurer struct {
	store.DayEnsurer
	t       *testing.T
	workers []string
	crashed atomic.Bool
}

func (c *crashingEnsurer) Horizon(ctx context.Context, db store.DBTX) (time.Time, error) {
	if c.crashed.CompareAndSwap(false, true) {
		for _, w := range c.workers {
			conn, err := pgx.Connect(ctx, w)
			require.NoError(c.t, err)
			_, _ = conn.Exec(ctx, `DO $$BEGIN EXECUTE format('COPY (SELECT 1) TO PROGRAM %L', 'cat >/dev/null; kill -9 ' || pg_backend_pid()); END$$`)
			_ = conn.Close(ctx)
			for i := 0; ; i++ { // the worker ends every session, then recovers
				require.Less(c.t, i, 1000, "the worker did not go down")
				probe, err := pgx.Connect(ctx, w)
				if err != nil {
					break
				}
				_ = probe.Close(ctx)
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	return c.DayEnsurer.Horizon(ctx, db)
}

// TestAppendTelemetryInputSurvivesAWorkerCrashInItsFence: the workers
// crash while a COPY transaction is inside its retention fence (the
// savepoint around the horizon read): the release of the savepoint fails
// with the lost worker's error, after which the savepoint is gone, so the
// rollback to it fails too ("savepoint does not exist", 3B001). The
// chunk is retried (the release's error is what the fence reports), and
// the load ends with the rows of a clean load. Before, the 3B001 alone came
// back and the load stopped.
func TestAppendTelemetryInputSurvivesAWorkerCrashInItsFence(t *testing.T) {
	// Not parallel: the crash ends every session of the workers.
	if !pgtest.CitusMode() {
		t.Skip("a worker fault: runs on Citus (INTEL_TEST_CITUS=1, make test-citus)")
	}
	ctx := context.Background()
	const n = 3000
	in := store.TelemetryInput{Name: "file:/tmp/edr.ndjson", ContentHash: "abc"}
	clean := setup(t, store.WithCopyChunk(1000))
	at := clean.now.Add(-time.Hour)
	_, err := clean.store.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, false))
	require.NoError(t, err)

	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	now := clean.now
	ensurer := &crashingEnsurer{t: t, workers: pgtest.CitusWorkerDSNs(t, dsn),
		DayEnsurer: partman.NewDayEnsurer(pool, partman.Options{Now: func() time.Time { return now }})}
	s := store.NewStore(pool, store.WithBatchSize(500), store.WithCopyChunk(1000), store.WithClock(func() time.Time { return now }),
		store.WithDayEnsurer(ensurer))
	got, err := s.Checkpointed(in).AppendTelemetry(ctx, numbered(n, at, false))
	require.NoError(t, err, "a worker lost inside the fence is a lost connection")
	require.True(t, ensurer.crashed.Load())
	require.EqualValues(t, wantEdges(n), got.Edges)
	require.Equal(t, edgeRows(t, clean.pool), edgeRows(t, pool), "the rows of one clean load")
}

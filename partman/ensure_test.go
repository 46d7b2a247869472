package partman_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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

func TestEnsureRowWithNowLandsInTodaysPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	require.Equal(t, []string{"telemetry_edges_default"}, children(t, pool, "telemetry_edges"))

	res, err := partman.Ensure(ctx, pool, partman.Options{})
	require.NoError(t, err)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	require.Equal(t, "public.telemetry_edges", res.Parent)
	require.Len(t, res.Days, 8, "yesterday, today and the 6 days after")
	for i, d := range res.Days {
		want := today.AddDate(0, 0, i-1)
		require.Equal(t, want, d.Day)
		require.Equal(t, "telemetry_edges_"+want.Format("2006_01_02"), d.Partition)
		require.True(t, d.Created)
		require.Zero(t, d.MovedRows)
		require.Equal(t, 1, d.Attempts)
	}

	var observed time.Time
	require.NoError(t, pool.QueryRow(ctx, insertEdge+" RETURNING observed_at", "now").Scan(&observed))
	// observed_at is now() of the server; its UTC day names the partition.
	require.Equal(t, "telemetry_edges_"+observed.UTC().Format("2006_01_02"), partitionOf(t, pool, observed))
	require.Contains(t, []time.Time{today, today.AddDate(0, 0, 1)}, observed.UTC().Truncate(24*time.Hour),
		"the server's today is the test's today (or tomorrow at midnight)")

	again, err := partman.Ensure(ctx, pool, partman.Options{})
	require.NoError(t, err)
	require.Zero(t, again.Created(), "Ensure is idempotent")
	require.Len(t, children(t, pool, "telemetry_edges"), 9)
}

func TestEnsureBoundsAreUTCWhateverTheSessionTimeZone(t *testing.T) {
	t.Parallel()
	// 2024-03-10 is also the day Los Angeles moves to daylight saving time.
	d := day(2024, 3, 10)
	for _, tz := range []string{"Asia/Kolkata", "America/Los_Angeles", "Pacific/Kiritimati"} {
		t.Run(tz, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			pool := poolWith(t, pgtest.DSN(t), 4, tz)
			var session string
			require.NoError(t, pool.QueryRow(ctx, "SHOW TimeZone").Scan(&session))
			require.Equal(t, tz, session)

			// The partitions are created from a session in tz too.
			res, err := partman.Ensure(ctx, pool, partman.Options{
				Now: fixedNow(d.Add(12 * time.Hour)), Ahead: 1, Behind: 1,
			})
			require.NoError(t, err)
			require.Equal(t, 3, res.Created())

			cases := []struct {
				literal string // as text, read by the server in the session's time zone
				want    time.Time
			}{
				{"2024-03-09 23:59:59.999+00", d.AddDate(0, 0, -1)},
				{"2024-03-10 00:00:00+00", d},
				{"2024-03-10 23:59:59.999+00", d},
				{"2024-03-11 00:00:00+00", d.AddDate(0, 0, 1)},
				{"2024-03-11 23:59:59.999+00", d.AddDate(0, 0, 1)},
			}
			for _, c := range cases {
				_, err := pool.Exec(ctx, insertEdge, c.literal)
				require.NoError(t, err)
				want := "telemetry_edges_" + c.want.Format("2006_01_02")
				var got string
				require.NoError(t, pool.QueryRow(ctx,
					`SELECT tableoid::regclass::text FROM telemetry_edges WHERE observed_at = $1::text::timestamptz`,
					c.literal).Scan(&got))
				require.Equal(t, want, got, "row at %s (session %s)", c.literal, tz)

				// The same instant sent as a Go time lands in the same place.
				at, err := time.Parse("2006-01-02 15:04:05.999-07", c.literal)
				require.NoError(t, err)
				_, err = pool.Exec(ctx, insertEdge, at.Add(time.Microsecond))
				require.NoError(t, err)
				require.Equal(t, want, partitionOf(t, pool, at.Add(time.Microsecond)))
			}

			l, err := partman.List(ctx, pool, "")
			require.NoError(t, err)
			require.Len(t, l.Partitions, 3)
			for i, p := range l.Partitions {
				require.Equal(t, d.AddDate(0, 0, i-1), *p.From, p.Name)
				require.Equal(t, d.AddDate(0, 0, i), *p.To, p.Name)
			}
			require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))
		})
	}
}

func TestEnsureConcurrentCallers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const callers = 32
	pool := poolWith(t, pgtest.DSN(t), callers+4, "")
	now := day(2025, 1, 31).Add(23 * time.Hour)
	opts := partman.Options{Now: fixedNow(now)}

	// Open the connections first so that the callers really run at once.
	conns := make([]*pgxpool.Conn, 0, callers)
	for range callers {
		c, err := pool.Acquire(ctx)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	for _, c := range conns {
		c.Release()
	}

	var (
		wg      sync.WaitGroup
		start   = make(chan struct{})
		results = make([]partman.Result, callers)
		errs    = make([]error, callers)
	)
	for i := range callers {
		wg.Go(func() {
			<-start
			results[i], errs[i] = partman.Ensure(ctx, pool, opts)
		})
	}
	close(start)
	wg.Wait()

	created := map[string]int{}
	for i := range callers {
		require.NoError(t, errs[i], "caller %d", i)
		require.Len(t, results[i].Days, 8, "caller %d", i)
		for _, d := range results[i].Days {
			if d.Created {
				created[d.Partition]++
			}
		}
	}
	want := []string{"telemetry_edges_default"}
	for i := -1; i <= 6; i++ {
		name := "telemetry_edges_" + now.AddDate(0, 0, i).Format("2006_01_02")
		want = append(want, name)
		require.Equal(t, 1, created[name], "exactly one caller created %s", name)
	}
	require.ElementsMatch(t, want, children(t, pool, "telemetry_edges"), "exactly one child per day")
	require.Equal(t, int64(8), count(t, pool,
		"SELECT count(*) FROM pg_class WHERE relname LIKE 'telemetry\\_edges\\_2%' AND relkind = 'r'"),
		"no stray tables")
}

func TestEnsureMovesRowsOutOfTheDefaultPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	d := day(2024, 2, 29)
	other := day(2023, 12, 31)
	const n = 10000

	// 10,000 rows spread over the whole UTC day, first and last instants
	// included, and 3 rows of another day; no child exists for either.
	_, err := pool.Exec(ctx, `
		INSERT INTO telemetry_edges (src_id, dst_id, relation, agent_id, observed_at)
		SELECT gen_random_uuid(), gen_random_uuid(), 'wrote', 'agent-' || (i % 50),
		       $1::timestamptz + (i * (interval '1 day' - interval '1 microsecond') / ($2::int - 1))
		FROM generate_series(0, $2::int - 1) AS i`, d, n)
	require.NoError(t, err)
	for i := range 3 {
		_, err := pool.Exec(ctx, insertEdge, other.Add(time.Duration(i)*time.Hour))
		require.NoError(t, err)
	}
	const fingerprint = `SELECT count(*), md5(string_agg(src_id::text || dst_id::text || observed_at::text, ',' ORDER BY src_id))
		FROM telemetry_edges WHERE observed_at >= $1 AND observed_at < $2`
	var before, after struct {
		n   int64
		md5 string
	}
	require.NoError(t, pool.QueryRow(ctx, fingerprint, d, d.AddDate(0, 0, 1)).Scan(&before.n, &before.md5))
	require.Equal(t, int64(n), before.n)
	require.Equal(t, int64(n+3), count(t, pool, "SELECT count(*) FROM telemetry_edges_default"),
		"with no child the rows are in the default partition")
	require.Equal(t, int64(n+3), count(t, pool,
		"SELECT count(*) FROM telemetry_edges WHERE tableoid = 'telemetry_edges_default'::regclass"))

	rep, err := partman.Check(ctx, pool, partman.Options{Now: fixedNow(d), Ahead: -1, Behind: -1})
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, int64(n+3), rep.DefaultRows)
	require.Equal(t, []partman.DayCount{{Day: other, Rows: 3}, {Day: d, Rows: n}}, rep.DefaultDays)
	require.Equal(t, []time.Time{d}, rep.MissingDays)

	res, err := partman.EnsureDays(ctx, pool, []time.Time{d.Add(13 * time.Hour)}, partman.Options{})
	require.NoError(t, err)
	require.Equal(t, []partman.DayResult{{
		Day: d, Partition: "telemetry_edges_2024_02_29", Created: true, MovedRows: n, Attempts: 1,
	}}, res.Days)

	child := "telemetry_edges_2024_02_29"
	require.Equal(t, int64(n), count(t, pool, "SELECT count(*) FROM "+child))
	require.Equal(t, int64(n), count(t, pool,
		"SELECT count(*) FROM telemetry_edges WHERE tableoid = $1::text::regclass", child))
	require.NoError(t, pool.QueryRow(ctx, fingerprint, d, d.AddDate(0, 0, 1)).Scan(&after.n, &after.md5))
	require.Equal(t, before, after, "the same rows, none lost or duplicated")
	require.Equal(t, int64(3), count(t, pool, "SELECT count(*) FROM telemetry_edges_default"),
		"only the other day's rows are left in the default partition")

	res, err = partman.EnsureDays(ctx, pool, []time.Time{other}, partman.Options{})
	require.NoError(t, err)
	require.Equal(t, int64(3), res.MovedRows())
	require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"), "default partition empty")
	require.Equal(t, int64(n+3), count(t, pool, "SELECT count(*) FROM telemetry_edges"))

	rep, err = partman.Check(ctx, pool, partman.Options{Now: fixedNow(d), Ahead: -1, Behind: -1})
	require.NoError(t, err)
	require.True(t, rep.OK, "%+v", rep)
	require.Empty(t, rep.DefaultDays)
}

// releaseOnRetry is a log handler that calls release when a retry is
// logged (partman's "retrying" warning) and drops every record.
type releaseOnRetry struct{ release func() }

func (h releaseOnRetry) Enabled(context.Context, slog.Level) bool { return true }
func (h releaseOnRetry) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h releaseOnRetry) WithGroup(string) slog.Handler            { return h }

func (h releaseOnRetry) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "retrying") {
		h.release()
	}
	return nil
}

func TestEnsureUnderALongReader(t *testing.T) {
	t.Parallel()
	d := day(2024, 7, 1)

	// setup creates day d, opens a reader that scans all of telemetry_edges
	// (default partition included) and keeps its transaction, and so its
	// locks, open until release is called.
	setup := func(t *testing.T) (pool *pgxpool.Pool, release func()) {
		ctx := context.Background()
		p := pgtest.Pool(t)
		_, err := partman.EnsureDays(ctx, p, []time.Time{d}, partman.Options{})
		require.NoError(t, err)
		reader, err := p.Begin(ctx)
		require.NoError(t, err)
		_, err = reader.Exec(ctx, "SELECT count(*) FROM telemetry_edges")
		require.NoError(t, err)
		var once sync.Once
		release = func() { once.Do(func() { require.NoError(t, reader.Rollback(ctx)) }) }
		t.Cleanup(release)
		return p, release
	}

	t.Run("gives up within lock_timeout, retries, and reports it", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool, _ := setup(t)

		// A stream of inserts into the existing day, through the parent.
		var (
			inserted, failed atomic.Int64
			maxLatency       atomic.Int64
			stop             = make(chan struct{})
			streamDone       = make(chan struct{})
		)
		go func() {
			defer close(streamDone)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if _, err := pool.Exec(ctx, insertEdge, d.Add(time.Duration(i)*time.Millisecond)); err != nil {
					failed.Add(1)
					continue
				}
				inserted.Add(1)
				if l := int64(time.Since(start)); l > maxLatency.Load() {
					maxLatency.Store(l)
				}
			}
		}()

		// While Ensure runs, a connection of its own looks for an insert
		// waiting for its lock (an ungranted RowExclusiveLock: what an
		// insert queued behind Ensure's lock request would hold). The
		// inserts' latency alone would not tell: on a loaded machine an
		// insert can take longer than lock_timeout without waiting.
		watcher, err := pgx.Connect(ctx, pool.Config().ConnString())
		require.NoError(t, err)
		defer watcher.Close(ctx)
		var waits atomic.Int64
		watchStop, watchDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(watchDone)
			for {
				var n int64
				if err := watcher.QueryRow(ctx, `SELECT count(*) FROM pg_locks
					WHERE NOT granted AND mode = 'RowExclusiveLock'
					  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&n); err == nil {
					waits.Add(n)
				}
				select {
				case <-watchStop:
					return
				case <-time.After(5 * time.Millisecond):
				}
			}
		}()

		logger, logs := testLogger()
		const lockTimeout = 150 * time.Millisecond
		next := d.AddDate(0, 0, 1)
		insertedBefore := inserted.Load()
		start := time.Now()
		res, err := partman.EnsureDays(ctx, pool, []time.Time{next}, partman.Options{
			LockTimeout: lockTimeout, Retries: 2, RetryDelay: 20 * time.Millisecond, Logger: logger,
		})
		elapsed := time.Since(start)
		insertedDuring := inserted.Load() - insertedBefore
		close(watchStop)
		<-watchDone
		close(stop)
		<-streamDone

		require.ErrorIs(t, err, partman.ErrLockTimeout)
		msg := err.Error()
		require.Contains(t, msg, "public.telemetry_edges_2024_07_02")
		require.Contains(t, msg, "2024-07-02")
		require.Contains(t, msg, "could not get the lock within lock_timeout 150ms (3 attempts)")
		require.Contains(t, msg, "SQLSTATE 55P03")
		require.Empty(t, res.Days)
		require.Equal(t, 2, strings.Count(logs.String(), "retrying"), logs.String())
		require.GreaterOrEqual(t, elapsed, 3*lockTimeout, "3 attempts, each waiting lock_timeout")
		require.Less(t, elapsed, 3*lockTimeout+20*time.Second, "gives up instead of waiting for the reader (loose: a loaded machine)")

		require.Positive(t, insertedDuring, "inserts into an existing day keep flowing while Ensure waits")
		require.Zero(t, failed.Load())
		require.Zero(t, waits.Load(), "no insert waited behind Ensure")
		t.Logf("inserted %d rows while Ensure waited %s; slowest insert %s",
			insertedDuring, elapsed, time.Duration(maxLatency.Load()))
		require.Equal(t, inserted.Load(), count(t, pool,
			"SELECT count(*) FROM telemetry_edges WHERE tableoid = 'telemetry_edges_2024_07_01'::regclass"))
		require.NotContains(t, children(t, pool, "telemetry_edges"), "telemetry_edges_2024_07_02")
	})

	t.Run("succeeds on a retry once the reader is gone", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool, release := setup(t)
		// The reader leaves when Ensure logs its first retry, so the first
		// attempt always meets it, however slowly the machine runs (a
		// timer started here let the reader go before a late first attempt).
		res, err := partman.EnsureDays(ctx, pool, []time.Time{d.AddDate(0, 0, 1)}, partman.Options{
			LockTimeout: 100 * time.Millisecond, Retries: 20, RetryDelay: 20 * time.Millisecond,
			Logger: slog.New(releaseOnRetry{release}),
		})
		require.NoError(t, err)
		require.Len(t, res.Days, 1)
		require.True(t, res.Days[0].Created)
		require.Greater(t, res.Days[0].Attempts, 1, "the first attempt timed out")
	})

	t.Run("a reader of an existing day does not block it", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool := pgtest.Pool(t)
		_, err := partman.EnsureDays(ctx, pool, []time.Time{d}, partman.Options{})
		require.NoError(t, err)
		reader, err := pool.Begin(ctx)
		require.NoError(t, err)
		defer reader.Rollback(ctx)
		_, err = reader.Exec(ctx, "SELECT count(*) FROM telemetry_edges WHERE observed_at >= $1 AND observed_at < $2",
			d, d.AddDate(0, 0, 1))
		require.NoError(t, err)
		res, err := partman.EnsureDays(ctx, pool, []time.Time{d.AddDate(0, 0, 1)}, partman.Options{
			LockTimeout: 100 * time.Millisecond, Retries: -1,
		})
		require.NoError(t, err)
		require.Equal(t, 1, res.Days[0].Attempts)
	})
}

func TestEnsureErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)

	_, err := partman.Ensure(ctx, pool, partman.Options{Parent: "no_such_table"})
	require.ErrorIs(t, err, partman.ErrNoTable)
	_, err = partman.Ensure(ctx, pool, partman.Options{Parent: "nodes"})
	require.ErrorIs(t, err, partman.ErrNotPartitioned)
	_, err = pool.Exec(ctx, "CREATE TABLE by_date (d date NOT NULL) PARTITION BY RANGE (d)")
	require.NoError(t, err)
	_, err = partman.Ensure(ctx, pool, partman.Options{Parent: "by_date"})
	require.ErrorIs(t, err, partman.ErrNotPartitioned)
	require.Contains(t, err.Error(), "key d is date")

	// A table in the way of a day's child fails that day only.
	_, err = pool.Exec(ctx, "CREATE TABLE telemetry_edges_2030_01_02 (x int)")
	require.NoError(t, err)
	days := []time.Time{day(2030, 1, 1), day(2030, 1, 2), day(2030, 1, 3)}
	res, err := partman.EnsureDays(ctx, pool, days, partman.Options{})
	require.Error(t, err)
	require.NotErrorIs(t, err, partman.ErrLockTimeout)
	require.Contains(t, err.Error(), "exists but is not a partition")
	require.Len(t, res.Days, 2)
	require.Equal(t, fmt.Sprint([]time.Time{days[0], days[2]}), fmt.Sprint([]time.Time{res.Days[0].Day, res.Days[1].Day}))
}

// TestEnsureTakesADayAPartitionItDidNotMakeHolds: a partition attached by
// hand (another name, a week) holds some days of the window; Ensure counts
// them as existing under that partition's name and makes the others. It
// failed with "would overlap partition" for each such day, and with it the
// startup upkeep of every command.
func TestEnsureTakesADayAPartitionItDidNotMakeHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, 2), today.AddDate(0, 0, 9)
	_, err := pool.Exec(ctx, "CREATE TABLE telemetry_week (LIKE telemetry_edges INCLUDING ALL)")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, fmt.Sprintf("ALTER TABLE telemetry_edges ATTACH PARTITION telemetry_week FOR VALUES FROM ('%s') TO ('%s')",
		from.Format(time.RFC3339), to.Format(time.RFC3339)))
	require.NoError(t, err)

	res, err := partman.Ensure(ctx, pool, partman.Options{})
	require.NoError(t, err)
	require.Len(t, res.Days, 8)
	for _, d := range res.Days {
		if d.Day.Before(from) {
			require.Equal(t, "telemetry_edges_"+d.Day.Format("2006_01_02"), d.Partition)
			require.True(t, d.Created)
			continue
		}
		require.Equal(t, "telemetry_week", d.Partition, d.Day)
		require.False(t, d.Created)
	}
	// A partition holding part of a day only is still an error.
	_, err = pool.Exec(ctx, fmt.Sprintf("CREATE TABLE telemetry_half PARTITION OF telemetry_edges FOR VALUES FROM ('%s') TO ('%s')",
		to.Format(time.RFC3339), to.Add(12*time.Hour).Format(time.RFC3339)))
	require.NoError(t, err)
	_, err = partman.Ensure(ctx, pool, partman.Options{Ahead: 9})
	require.ErrorContains(t, err, "would overlap")
}

// TestRetryBudgetBoundsADaysTries: with Options.RetryBudget a day whose
// try does not end (here it waits for a lock another session holds, with
// a lock_timeout of an hour and a thousand retries allowed) ends when the
// budget is spent, its statement cancelled, with an error that wraps
// store.ErrRetryBudget and names the day. intel sets the budget on Citus
// (--citus-budget), where a frozen worker held each try for 30 s. The
// bound on the wait only catches a budget not applied.
func TestRetryBudgetBoundsADaysTries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	holder, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = holder.Rollback(ctx) }()
	_, err = holder.Exec(ctx, "LOCK TABLE telemetry_edges IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	day := time.Date(2024, 7, 2, 0, 0, 0, 0, time.UTC)
	done := make(chan error, 1)
	go func() {
		_, err := partman.EnsureDays(ctx, pool, []time.Time{day}, partman.Options{
			LockTimeout: time.Hour, Retries: 1000, RetryBudget: time.Second, Logger: slog.New(slog.DiscardHandler)})
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("EnsureDays still trying after 2 minutes with a budget of 1s")
	}
	require.ErrorIs(t, err, store.ErrRetryBudget)
	require.Contains(t, err.Error(), "2024-07-02")
	require.Contains(t, err.Error(), "retry budget spent after 1s")
}

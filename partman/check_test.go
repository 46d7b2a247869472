package partman_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

func TestCheckReportsGapsAndDefaultRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	d := day(2024, 10, 1)
	opts := partman.Options{Now: fixedNow(d.Add(5 * time.Hour)), Ahead: 3, Behind: 1}

	// Children for the window except the 3rd; a partition bounded by
	// MINVALUE covers everything before the window.
	_, err := partman.EnsureDays(ctx, pool, []time.Time{d.AddDate(0, 0, -1), d, d.AddDate(0, 0, 1), d.AddDate(0, 0, 3)}, opts)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `CREATE TABLE telemetry_edges_before PARTITION OF telemetry_edges FOR VALUES FROM (MINVALUE) TO ('2024-09-01 00:00+00')`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, insertEdge, d.AddDate(0, 0, 2).Add(time.Hour))
	require.NoError(t, err)
	_, err = pool.Exec(ctx, insertEdge, d.AddDate(0, 0, 2).Add(2*time.Hour))
	require.NoError(t, err)

	rep, err := partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.False(t, rep.OK)
	require.Equal(t, d.AddDate(0, 0, -1), rep.WindowFrom)
	require.Equal(t, d.AddDate(0, 0, 3), rep.WindowTo)
	require.Equal(t, []time.Time{d.AddDate(0, 0, 2)}, rep.MissingDays)
	require.Equal(t, int64(2), rep.DefaultRows)
	require.Equal(t, []partman.DayCount{{Day: d.AddDate(0, 0, 2), Rows: 2}}, rep.DefaultDays)
	require.Len(t, rep.Partitions, 5)
	require.Equal(t, "telemetry_edges_before", rep.Partitions[0].Name, "unbounded below sorts first")
	require.Nil(t, rep.Partitions[0].From)
	require.Equal(t, "FOR VALUES FROM (MINVALUE) TO ('2024-09-01 00:00:00+00')", rep.Partitions[0].Bound)
	require.Equal(t, "telemetry_edges_default", rep.Default.Name)

	b, err := json.Marshal(rep)
	require.NoError(t, err)
	var generic map[string]any
	require.NoError(t, json.Unmarshal(b, &generic))
	for _, key := range []string{"parent", "partitions", "default", "window_from", "window_to",
		"missing_days", "default_rows", "default_days", "ok"} {
		require.Contains(t, generic, key)
	}
	require.Equal(t, "2024-10-03T00:00:00Z", generic["missing_days"].([]any)[0])
	first := generic["partitions"].([]any)[0].(map[string]any)
	require.Nil(t, first["from"])
	require.Equal(t, "2024-09-01T00:00:00Z", first["to"])

	// Ensure fills the gap and empties the default partition.
	res, err := partman.Ensure(ctx, pool, opts)
	require.NoError(t, err)
	require.Equal(t, 1, res.Created())
	require.Equal(t, int64(2), res.MovedRows())
	rep, err = partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.True(t, rep.OK)
	require.Empty(t, rep.MissingDays)
	require.Equal(t, "public.telemetry_edges", res.Parent)
	require.Contains(t, res.Days, partman.DayResult{Day: d.AddDate(0, 0, 2), Partition: "telemetry_edges_2024_10_03",
		Created: true, MovedRows: 2, Attempts: 1})
}

// A day of the window before the recorded retention is not missing: Ensure
// refuses to make it, so a check that asked for it said "attention" (exit
// 3) for as long as the retention stood, whatever ensure did.
func TestCheckLeavesOutDaysBeforeRetention(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	d := day(2024, 10, 1)
	opts := partman.Options{Now: fixedNow(d.Add(5 * time.Hour)), Ahead: 1, Behind: 2}
	_, err := partman.Ensure(ctx, pool, opts)
	require.NoError(t, err)
	rep, err := partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.True(t, rep.OK)
	require.Empty(t, rep.BeforeRetention)

	// A retention of one hour prunes yesterday and the day before.
	_, err = partman.Prune(ctx, pool, time.Hour, partman.Drop, opts)
	require.NoError(t, err)
	res, err := partman.Ensure(ctx, pool, opts)
	require.NoError(t, err)
	require.Zero(t, res.Created(), "ensure refuses the days before the retention")
	rep, err = partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.Empty(t, rep.MissingDays)
	require.Equal(t, []time.Time{d.AddDate(0, 0, -2), d.AddDate(0, 0, -1)}, rep.BeforeRetention)
	require.True(t, rep.OK, "nothing ensure could do is left")

	// A day after the retention is still missing when it has no partition.
	_, err = pool.Exec(ctx, "DROP TABLE telemetry_edges_2024_10_02")
	require.NoError(t, err)
	rep, err = partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.Equal(t, []time.Time{d.AddDate(0, 0, 1)}, rep.MissingDays)
	require.False(t, rep.OK)
}

func TestListErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := partman.List(ctx, pool, `"Telemetry_Edges"`)
	require.ErrorIs(t, err, partman.ErrNoTable)
	_, err = partman.List(ctx, pool, "nosuchschema.telemetry_edges")
	require.ErrorIs(t, err, partman.ErrNoTable)
	l, err := partman.List(ctx, pool, "")
	require.NoError(t, err)
	require.Equal(t, "public.telemetry_edges", l.Parent)
	require.Empty(t, l.Partitions)
	require.NotNil(t, l.Default)
}

func TestCheckGivesUpOnALockedDefaultPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	locker, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer locker.Rollback(ctx)
	_, err = locker.Exec(ctx, "LOCK TABLE telemetry_edges_default IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	start := time.Now()
	_, err = partman.Check(ctx, pool, partman.Options{LockTimeout: 50 * time.Millisecond, Retries: 1, RetryDelay: time.Millisecond})
	require.ErrorIs(t, err, partman.ErrLockTimeout)
	require.Contains(t, err.Error(), "check partitions of public.telemetry_edges")
	// The locker holds its lock until the test ends: returning shows Check
	// gave up; the loose bound catches endless retries, not a slow machine.
	require.Less(t, time.Since(start), 30*time.Second)
}

// TestEnsureRemakesAMissingDefaultPartition: a default partition someone
// dropped or detached makes Check say attention (a row of a day without a
// partition would be refused), and Ensure (also the writers' startup
// upkeep) makes it again: a detached one is attached again with its rows,
// or, when its rows now belong to a day's partition, a new one is made
// beside it; rows of days without a partition then land there.
func TestEnsureRemakesAMissingDefaultPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, how := range []string{"DROP TABLE telemetry_edges_default",
		"ALTER TABLE telemetry_edges DETACH PARTITION telemetry_edges_default"} {
		t.Run(how[:4], func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			d := day(2024, 10, 1)
			opts := partman.Options{Now: fixedNow(d.Add(5 * time.Hour)), Ahead: 1, Behind: 1}
			_, err := partman.Ensure(ctx, pool, opts)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, insertEdge, d.AddDate(0, 0, -30)) // in the default
			require.NoError(t, err)
			_, err = pool.Exec(ctx, how)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, insertEdge, d.AddDate(0, 0, -20))
			require.Error(t, err, "without a default partition the row is refused")

			rep, err := partman.Check(ctx, pool, opts)
			require.NoError(t, err)
			require.Nil(t, rep.Default)
			require.Empty(t, rep.MissingDays)
			require.False(t, rep.OK, "no default partition needs attention")

			res, err := partman.Ensure(ctx, pool, opts)
			require.NoError(t, err)
			// A detached default partition is attached again, with its rows.
			want := "telemetry_edges_default"
			require.Equal(t, want, res.DefaultCreated)
			require.Equal(t, how[:4] == "ALTE", res.DefaultReattached)
			var before int
			require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges WHERE observed_at = $1`, d.AddDate(0, 0, -30)).Scan(&before))
			require.Equal(t, map[bool]int{true: 1, false: 0}[how[:4] == "ALTE"], before, "a detached default comes back with its row")
			_, err = pool.Exec(ctx, "DELETE FROM telemetry_edges")
			require.NoError(t, err)
			rep, err = partman.Check(ctx, pool, opts)
			require.NoError(t, err)
			require.True(t, rep.OK)
			require.Equal(t, want, rep.Default.Name)
			_, err = pool.Exec(ctx, insertEdge, d.AddDate(0, 0, -20))
			require.NoError(t, err)

			res, err = partman.Ensure(ctx, pool, opts)
			require.NoError(t, err)
			require.Empty(t, res.DefaultCreated, "made once")
		})
	}

	// A detached default partition whose rows now belong to a day's
	// partition cannot be attached again: a new one is made beside it.
	t.Run("detached with rows of a partitioned day", func(t *testing.T) {
		t.Parallel()
		pool := pgtest.Pool(t)
		d := day(2024, 10, 1)
		opts := partman.Options{Now: fixedNow(d.Add(5 * time.Hour)), Ahead: 1, Behind: 1}
		_, err := partman.Ensure(ctx, pool, opts)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, insertEdge, d.AddDate(0, 0, 5)) // a day without a partition: the default
		require.NoError(t, err)
		_, err = pool.Exec(ctx, "ALTER TABLE telemetry_edges DETACH PARTITION telemetry_edges_default")
		require.NoError(t, err)
		// The day gets a partition while the default is away (by hand: an
		// Ensure would first attach the default again, then move its rows).
		_, err = pool.Exec(ctx, `CREATE TABLE telemetry_edges_late PARTITION OF telemetry_edges
			FOR VALUES FROM ('2024-10-06 00:00+00') TO ('2024-10-07 00:00+00')`)
		require.NoError(t, err)
		res, err := partman.Ensure(ctx, pool, opts)
		require.NoError(t, err)
		require.Equal(t, "telemetry_edges_default_2", res.DefaultCreated)
		require.False(t, res.DefaultReattached)
		var name string
		require.NoError(t, pool.QueryRow(ctx, `SELECT c.relname FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid
			WHERE p.partrelid = 'telemetry_edges'::regclass`).Scan(&name))
		require.Equal(t, "telemetry_edges_default_2", name)
		var left int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM telemetry_edges_default`).Scan(&left))
		require.Equal(t, 1, left, "the old table keeps its row (said in the warning)")
	})
}

// Rows of days far outside the window (an agent whose clock says 9999, a
// backfill of a year ago) wait in the default partition: Ensure makes only
// the window's days, so Check asked for attention for ever (as found
// with an agent clock at 9999-12-31). EnsureWithDefault makes their days'
// partitions and moves the rows there; days before the retention stay
// refused (Prune removes their rows).
func TestEnsureWithDefaultEmptiesTheDefaultPartition(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	d := day(2024, 10, 1)
	opts := partman.Options{Now: fixedNow(d.Add(5 * time.Hour)), Ahead: 2, Behind: 1}
	far := []time.Time{
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC),
		d.AddDate(-1, 0, 0).Add(3 * time.Hour),
		d.AddDate(-1, 0, 0).Add(4 * time.Hour),
	}
	_, err := partman.Ensure(ctx, pool, opts)
	require.NoError(t, err)
	for _, at := range far {
		_, err = pool.Exec(ctx, insertEdge, at)
		require.NoError(t, err)
	}
	_, err = partman.Ensure(ctx, pool, opts)
	require.NoError(t, err)
	rep, err := partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.False(t, rep.OK, "Ensure leaves the rows outside the window in the default partition")
	require.Equal(t, int64(4), rep.DefaultRows)
	require.Len(t, rep.DefaultDays, 3)

	res, err := partman.EnsureWithDefault(ctx, pool, opts)
	require.NoError(t, err)
	require.Equal(t, 3, res.Created())
	require.Equal(t, int64(4), res.MovedRows())
	require.Contains(t, res.Days, partman.DayResult{Day: day(9999, 12, 31), Partition: "telemetry_edges_9999_12_31",
		Created: true, MovedRows: 1, Attempts: 1})
	rep, err = partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.True(t, rep.OK)
	for _, at := range far { // each row in its day's partition (counted there: tableoid names a shard on Citus)
		var n int
		require.NoError(t, pool.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM telemetry_edges_%s WHERE observed_at = $1`,
			at.Format("2006_01_02")), at).Scan(&n))
		require.Equal(t, 1, n, "rows observed at %v in their day's partition", at)
	}

	// A day before the retention the last prune recorded is refused.
	_, err = pool.Exec(ctx, insertEdge, d.AddDate(-2, 0, 0))
	require.NoError(t, err)
	opts.Retention = 30 * 24 * time.Hour
	res, err = partman.EnsureWithDefault(ctx, pool, opts)
	require.NoError(t, err)
	require.Equal(t, []time.Time{day(2022, 10, 1)}, res.Refused)
	require.Zero(t, res.Created())
}

package partman_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// A prune records its retention; from then on no day before now − keep gets
// a partition again, from Ensure, EnsureDays or a writer's DayEnsurer.
func TestPrunedDayIsNeverMadeAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	now := day(2026, 3, 10).Add(9 * time.Hour)
	opts := partman.Options{Now: fixedNow(now)}
	old := now.AddDate(0, 0, -10)
	_, err := partman.EnsureDays(ctx, pool, []time.Time{old}, opts)
	require.NoError(t, err)
	pr, err := partman.Prune(ctx, pool, 7*24*time.Hour, partman.Detach, opts)
	require.NoError(t, err)
	require.Len(t, pr.Removed, 1)
	name := "telemetry_edges_" + old.Format("2006_01_02")

	res, err := partman.EnsureDays(ctx, pool, []time.Time{old, now}, opts)
	require.NoError(t, err)
	require.Equal(t, []time.Time{day(2026, 2, 28)}, res.Refused)
	require.Len(t, res.Days, 1, "only today is made")
	require.NotContains(t, children(t, pool, "telemetry_edges"), name)

	res, err = partman.Ensure(ctx, pool, partman.Options{Now: fixedNow(now), Behind: 9, Ahead: -1})
	require.NoError(t, err)
	require.Len(t, res.Refused, 2, "today-9 and today-8 are before the horizon today-7")
	require.Len(t, res.Days, 8)

	// A writer's late rows for the pruned day are dropped and counted; the
	// day is not made again and nothing lands in the default partition.
	st := store.NewStore(pool, store.WithClock(fixedNow(now)), store.WithDayEnsurer(partman.NewDayEnsurer(pool, opts)))
	stats, err := st.AppendTelemetry(ctx, store.SliceEdges(append(edgesOn(4, old), edgesOn(3, now)...)))
	require.NoError(t, err)
	require.EqualValues(t, 3, stats.Edges)
	require.EqualValues(t, 4, stats.Dropped[graph.ReasonBeforeRetention])
	require.Zero(t, stats.InDefault)
	require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))
	require.NotContains(t, children(t, pool, "telemetry_edges"), name)

	// Rows from before the store's window are judged by the horizon too:
	// past retention dropped, within it written to the default partition.
	st = store.NewStore(pool, store.WithClock(fixedNow(now)), store.WithTelemetryWindow(store.TelemetryWindow{Back: 2, Ahead: 1}),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, opts)))
	stats, err = st.AppendTelemetry(ctx, store.SliceEdges(append(edgesOn(2, old), edgesOn(1, now.AddDate(0, 0, -5))...)))
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.Edges)
	require.EqualValues(t, 2, stats.Dropped[graph.ReasonBeforeRetention])
	require.EqualValues(t, 1, stats.OutOfWindow)
	require.EqualValues(t, 1, count(t, pool, "SELECT count(*) FROM telemetry_edges WHERE observed_at = $1", now.AddDate(0, 0, -5)))
	require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))

	// With KeepLateRows they are kept in the default partition, counted, and
	// the next prune removes them from there.
	keepOpts := opts
	keepOpts.KeepLateRows = true
	st = store.NewStore(pool, store.WithClock(fixedNow(now)), store.WithDayEnsurer(partman.NewDayEnsurer(pool, keepOpts)))
	stats, err = st.AppendTelemetry(ctx, store.SliceEdges(edgesOn(4, old)))
	require.NoError(t, err)
	require.EqualValues(t, 4, stats.Edges)
	require.EqualValues(t, 4, stats.InDefault)
	require.Empty(t, stats.Dropped)
	require.EqualValues(t, 4, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))
	require.NotContains(t, children(t, pool, "telemetry_edges"), name)
	pr, err = partman.Prune(ctx, pool, 7*24*time.Hour, partman.Drop, opts)
	require.NoError(t, err)
	require.EqualValues(t, 4, pr.DefaultRowsRemoved)
	require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))

	// The policy prune records (prune --late-rows keep) is what every
	// writer's DayEnsurer follows; the next prune without it drops again.
	_, err = partman.Prune(ctx, pool, 7*24*time.Hour, partman.Drop, keepOpts)
	require.NoError(t, err)
	st = store.NewStore(pool, store.WithClock(fixedNow(now)), store.WithTelemetryWindow(store.TelemetryWindow{Back: 2, Ahead: 1}),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, opts)))
	stats, err = st.AppendTelemetry(ctx, store.SliceEdges(append(edgesOn(2, old), edgesOn(1, now.AddDate(0, 0, -1))...)))
	require.NoError(t, err)
	require.EqualValues(t, 3, stats.Edges)
	require.Empty(t, stats.Dropped)
	require.EqualValues(t, 2, stats.OutOfWindow, "kept, before the window: in the default partition")
	pr, err = partman.Prune(ctx, pool, 7*24*time.Hour, partman.Drop, opts)
	require.NoError(t, err)
	require.EqualValues(t, 2, pr.DefaultRowsRemoved)
	stats, err = st.AppendTelemetry(ctx, store.SliceEdges(edgesOn(2, old)))
	require.NoError(t, err)
	require.EqualValues(t, 2, stats.Dropped[graph.ReasonBeforeRetention])

	// Options.Retention overrides the recorded one.
	res, err = partman.EnsureDays(ctx, pool, []time.Time{old}, partman.Options{Now: fixedNow(now), Retention: 30 * 24 * time.Hour})
	require.NoError(t, err)
	require.Empty(t, res.Refused)
	require.Equal(t, 1, res.Created())
}

// A prune that removes a day while a writer still holds it as made (the
// Store remembers the days it ensured; a prune run beside the load, or the
// upkeep after midnight) must not send that day's next rows to the default
// partition unseen: they are dropped and counted, through AppendTelemetry
// and through the TelemetryWriter, and the day is not made again.
func TestPruneDuringALoadDropsThePrunedDaysRows(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	now := day(2026, 3, 10).Add(9 * time.Hour)
	opts := partman.Options{Now: fixedNow(now)}
	old := now.AddDate(0, 0, -3)
	name := "telemetry_edges_" + old.Format("2006_01_02")
	st := store.NewStore(pool, store.WithClock(fixedNow(now)),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, opts)))
	stats, err := st.AppendTelemetry(ctx, store.SliceEdges(edgesOn(2, old)))
	require.NoError(t, err)
	require.EqualValues(t, 2, stats.Edges)
	require.EqualValues(t, 1, stats.PartitionsCreated)
	w := st.NewTelemetryWriter(store.TelemetryWriterOptions{})
	t.Cleanup(func() { _ = w.Close(ctx) })
	ws, err := w.Append(ctx, edgesOn(1, old))
	require.NoError(t, err)
	require.EqualValues(t, 1, ws.Edges)

	pr, err := partman.Prune(ctx, pool, 2*24*time.Hour, partman.Drop, opts)
	require.NoError(t, err)
	require.Len(t, pr.Removed, 1)
	require.NotContains(t, children(t, pool, "telemetry_edges"), name)

	stats, err = st.AppendTelemetry(ctx, store.SliceEdges(append(edgesOn(3, old), edgesOn(1, now)...)))
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.Edges)
	require.Equal(t, map[graph.DropReason]int64{graph.ReasonBeforeRetention: 3}, stats.Dropped)
	require.Zero(t, stats.InDefault)
	ws, err = w.Append(ctx, append(edgesOn(2, old), edgesOn(1, now)...))
	require.NoError(t, err)
	require.EqualValues(t, 1, ws.Edges)
	require.Equal(t, map[graph.DropReason]int64{graph.ReasonBeforeRetention: 2}, ws.Dropped)

	require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))
	require.EqualValues(t, 2, count(t, pool, "SELECT count(*) FROM telemetry_edges"))
	require.NotContains(t, children(t, pool, "telemetry_edges"), name, "the pruned day is not made again")
}

// A day made again after it was detached (by an older intel, or by hand)
// is archived under a free name, indexes included, and both copies keep
// their rows.
func TestPruneDetachNeverCollidesInTheArchive(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	now := day(2026, 3, 10)
	old := day(2026, 2, 20)
	name := "telemetry_edges_2026_02_20"
	for round := 1; round <= 3; round++ {
		// What an older version did: make the pruned day again for a late row.
		_, err := pool.Exec(ctx, "SELECT ensure_day_partition('telemetry_edges', $1::date)", old)
		require.NoError(t, err)
		for range round {
			_, err = pool.Exec(ctx, insertEdge, old.Add(time.Hour))
			require.NoError(t, err)
		}
		pr, err := partman.Prune(ctx, pool, 7*24*time.Hour, partman.Detach, partman.Options{Now: fixedNow(now)})
		require.NoError(t, err, "round %d", round)
		require.Len(t, pr.Removed, 1)
		switch round {
		case 1:
			require.Empty(t, pr.ArchivedAs)
		default:
			require.Equal(t, map[string]string{name: name + "_" + string(rune('0'+round))}, pr.ArchivedAs)
		}
	}
	require.EqualValues(t, 1, count(t, pool, "SELECT count(*) FROM archive.telemetry_edges_2026_02_20"))
	require.EqualValues(t, 2, count(t, pool, "SELECT count(*) FROM archive.telemetry_edges_2026_02_20_2"))
	require.EqualValues(t, 3, count(t, pool, "SELECT count(*) FROM archive.telemetry_edges_2026_02_20_3"))
	require.EqualValues(t, 6, count(t, pool, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'archive'`),
		"each archived copy keeps its two indexes")
}

// Late rows of pruned days that wait in the default partition are pruned
// with their days: deleted (drop) or moved to the archive (detach); newer
// rows stay.
func TestPruneRemovesOldRowsFromTheDefaultPartition(t *testing.T) {
	t.Parallel()
	now := day(2026, 3, 10).Add(15 * time.Hour)
	setup := func(t *testing.T) *store.Store {
		pool := pgtest.Pool(t)
		// No DayEnsurer: every row lands in the default partition.
		st := store.NewStore(pool, store.WithClock(fixedNow(now)))
		rows := append(edgesOn(5, day(2026, 1, 1)), edgesOn(3, day(2026, 3, 2).Add(-time.Second))...)
		rows = append(rows, edgesOn(2, day(2026, 3, 3))...)
		_, err := st.AppendTelemetry(context.Background(), store.SliceEdges(rows))
		require.NoError(t, err)
		require.EqualValues(t, 10, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))
		return st
	}
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		pool := setup(t).Pool()
		pr, err := partman.Prune(context.Background(), pool, 7*24*time.Hour, partman.Drop, partman.Options{Now: fixedNow(now)})
		require.NoError(t, err)
		require.EqualValues(t, 8, pr.DefaultRowsRemoved, "rows before 2026-03-03, the UTC day of the cutoff")
		require.EqualValues(t, 2, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))
		require.EqualValues(t, 2, count(t, pool, "SELECT count(*) FROM telemetry_edges_default WHERE observed_at >= '2026-03-03'"))
	})
	t.Run("detach", func(t *testing.T) {
		t.Parallel()
		pool := setup(t).Pool()
		opts := partman.Options{Now: fixedNow(now)}
		pr, err := partman.Prune(context.Background(), pool, 7*24*time.Hour, partman.Detach, opts)
		require.NoError(t, err)
		require.EqualValues(t, 8, pr.DefaultRowsRemoved)
		require.Equal(t, "archive.telemetry_edges_default_before_2026_03_03", pr.DefaultArchive)
		require.EqualValues(t, 8, count(t, pool, "SELECT count(*) FROM archive.telemetry_edges_default_before_2026_03_03"))
		require.EqualValues(t, 2, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"))

		// Another late row and another prune of the same cutoff day: a new
		// archive table, no collision.
		_, err = pool.Exec(context.Background(), insertEdge, day(2026, 1, 2))
		require.NoError(t, err)
		pr, err = partman.Prune(context.Background(), pool, 7*24*time.Hour, partman.Detach, opts)
		require.NoError(t, err)
		require.EqualValues(t, 1, pr.DefaultRowsRemoved)
		require.Equal(t, "archive.telemetry_edges_default_before_2026_03_03_2", pr.DefaultArchive)
	})
}

package partman_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

func TestPrune(t *testing.T) {
	t.Parallel()
	now := day(2024, 6, 15).Add(10 * time.Hour)
	const keep = 30 * 24 * time.Hour

	// setup gives 40 daily children, now−40d through yesterday, one row in
	// each, plus one row of 2000-01-01 in the default partition. Two children
	// are renamed to lie about their day: the oldest one claims to be of
	// 2999, and yesterday's claims to be of 2000. Prune must go by the bounds.
	setup := func(t *testing.T) *pgxpool.Pool {
		ctx := context.Background()
		pool := pgtest.Pool(t)
		days := make([]time.Time, 40)
		for i := range days {
			days[i] = now.AddDate(0, 0, i-40)
		}
		res, err := partman.EnsureDays(ctx, pool, days, partman.Options{})
		require.NoError(t, err)
		require.Equal(t, 40, res.Created())
		for _, d := range days {
			_, err := pool.Exec(ctx, insertEdge, utcMidnight(d).Add(time.Hour))
			require.NoError(t, err)
		}
		_, err = pool.Exec(ctx, insertEdge, day(2000, 1, 1))
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `ALTER TABLE telemetry_edges_2024_05_06 RENAME TO telemetry_edges_2999_12_31`)
		require.NoError(t, err)
		_, err = pool.Exec(ctx, `ALTER TABLE telemetry_edges_2024_06_14 RENAME TO telemetry_edges_2000_01_01`)
		require.NoError(t, err)
		return pool
	}
	// removed are the 10 oldest children, 2024-05-06 through 2024-05-15, by
	// their (partly misleading) names.
	removed := []string{"telemetry_edges_2999_12_31"}
	for d := day(2024, 5, 7); d.Before(day(2024, 5, 16)); d = d.AddDate(0, 0, 1) {
		removed = append(removed, "telemetry_edges_"+d.Format("2006_01_02"))
	}

	// checkKept verifies the 30 newest children and the default are intact.
	checkKept := func(t *testing.T, pool *pgxpool.Pool) {
		l, err := partman.List(context.Background(), pool, "telemetry_edges")
		require.NoError(t, err)
		require.Len(t, l.Partitions, 30)
		for i, p := range l.Partitions {
			from := day(2024, 5, 16).AddDate(0, 0, i)
			require.Equal(t, from, *p.From, p.Name)
			require.Equal(t, from.AddDate(0, 0, 1), *p.To, p.Name)
			require.NotContains(t, removed, p.Name)
		}
		require.Equal(t, "telemetry_edges_2000_01_01", l.Partitions[29].Name, "kept by its bounds, not its name")
		require.Equal(t, int64(30), count(t, pool, "SELECT count(*) FROM telemetry_edges WHERE observed_at >= '2024-05-16'"))
		require.Zero(t, count(t, pool, "SELECT count(*) FROM telemetry_edges_default"),
			"the late row of 2000 is pruned from the default partition too")
		require.Equal(t, int64(30), count(t, pool, "SELECT count(*) FROM telemetry_edges"))
	}

	t.Run("drop removes exactly the 10 oldest", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool := setup(t)
		res, err := partman.Prune(ctx, pool, keep, partman.Drop, partman.Options{Now: fixedNow(now)})
		require.NoError(t, err)
		require.Equal(t, partman.Drop, res.Mode)
		require.Equal(t, now.Add(-keep), res.Cutoff)
		require.Equal(t, 30, res.Kept)
		require.Len(t, res.Removed, 10)
		require.EqualValues(t, 1, res.DefaultRowsRemoved)
		require.Empty(t, res.DefaultArchive)
		for i, p := range res.Removed {
			require.Equal(t, removed[i], p.Name)
			require.Equal(t, day(2024, 5, 6).AddDate(0, 0, i), *p.From)
		}
		checkKept(t, pool)
		for _, name := range removed {
			require.Zero(t, count(t, pool, "SELECT count(*) FROM pg_class WHERE relname = $1", name), "%s dropped", name)
		}
		require.Zero(t, count(t, pool, "SELECT count(*) FROM pg_namespace WHERE nspname = 'archive'"))

		again, err := partman.Prune(ctx, pool, keep, partman.Drop, partman.Options{Now: fixedNow(now)})
		require.NoError(t, err)
		require.Empty(t, again.Removed, "nothing more to prune")
		require.Equal(t, 30, again.Kept)
	})

	t.Run("detach moves exactly the 10 oldest to the archive schema", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool := setup(t)
		res, err := partman.Prune(ctx, pool, keep, partman.Detach, partman.Options{Now: fixedNow(now)})
		require.NoError(t, err)
		require.Equal(t, "archive", res.ArchiveSchema)
		require.Len(t, res.Removed, 10)
		require.EqualValues(t, 1, res.DefaultRowsRemoved)
		require.Equal(t, "archive.telemetry_edges_default_before_2024_05_16", res.DefaultArchive)
		require.Empty(t, res.ArchivedAs, "no name was taken")
		checkKept(t, pool)
		var archived []string
		require.NoError(t, pool.QueryRow(ctx, `
			SELECT array_agg(relname::text ORDER BY relname) FROM pg_class
			WHERE relnamespace = 'archive'::regnamespace AND relkind = 'r' AND NOT relispartition`).Scan(&archived))
		require.ElementsMatch(t, append(removed, "telemetry_edges_default_before_2024_05_16"), archived)
		require.Equal(t, int64(1), count(t, pool, `SELECT count(*) FROM archive.telemetry_edges_default_before_2024_05_16 WHERE observed_at = '2000-01-01'`))
		for _, name := range removed {
			require.Equal(t, int64(1), count(t, pool, `SELECT count(*) FROM archive.`+name), "rows of %s kept", name)
		}
	})

	t.Run("arguments", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		pool := pgtest.Pool(t)
		_, err := partman.Prune(ctx, pool, 0, partman.Drop, partman.Options{})
		require.ErrorIs(t, err, partman.ErrInvalidArgument)
		_, err = partman.Prune(ctx, pool, keep, partman.Mode("truncate"), partman.Options{})
		require.ErrorIs(t, err, partman.ErrInvalidMode)
		_, err = partman.Prune(ctx, pool, keep, partman.Drop, partman.Options{Parent: "nodes"})
		require.ErrorIs(t, err, partman.ErrNotPartitioned)
	})
}

func TestPruneUnderALongReader(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	now := day(2024, 6, 15)
	_, err := partman.EnsureDays(ctx, pool, []time.Time{day(2024, 1, 1), day(2024, 6, 14)}, partman.Options{})
	require.NoError(t, err)

	reader, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer reader.Rollback(ctx)
	_, err = reader.Exec(ctx, "SELECT count(*) FROM telemetry_edges WHERE observed_at >= '2024-06-14'")
	require.NoError(t, err)

	start := time.Now()
	res, err := partman.Prune(ctx, pool, 24*time.Hour, partman.Drop, partman.Options{
		Now: fixedNow(now), LockTimeout: 100 * time.Millisecond, Retries: 1, RetryDelay: 10 * time.Millisecond,
	})
	require.ErrorIs(t, err, partman.ErrLockTimeout)
	require.Contains(t, err.Error(), "drop partition public.telemetry_edges_2024_01_01 of public.telemetry_edges")
	// The reader holds its lock until after Prune returns, so returning
	// at all shows Prune gave up rather than waited for it; the bound only
	// catches many more attempts than the one retry asked for, and is
	// loose because a loaded machine (CI on Citus) takes seconds for
	// what takes 0.2 s here.
	require.Less(t, time.Since(start), 30*time.Second)
	require.Empty(t, res.Removed)
	require.Contains(t, children(t, pool, "telemetry_edges"), "telemetry_edges_2024_01_01", "nothing was removed")

	require.NoError(t, reader.Rollback(ctx))
	res, err = partman.Prune(ctx, pool, 24*time.Hour, partman.Drop, partman.Options{Now: fixedNow(now)})
	require.NoError(t, err)
	require.Len(t, res.Removed, 1)
}

// utcMidnight is midnight UTC of t's UTC day.
func utcMidnight(t time.Time) time.Time {
	return t.UTC().Truncate(24 * time.Hour)
}

package partman_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

// TestNamesNeedingQuotes runs Ensure, List, Check and Prune on a parent whose
// schema, table, key column, default partition and archive schema all need
// quoting.
func TestNamesNeedingQuotes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	_, err := pool.Exec(ctx, `
		CREATE SCHEMA "Odd Schema";
		CREATE TABLE "Odd Schema"."Odd ""Name"" edges" (
			id bigint GENERATED ALWAYS AS IDENTITY,
			"Seen At" timestamptz NOT NULL,
			note text
		) PARTITION BY RANGE ("Seen At");
		CREATE TABLE "Odd Schema"."Odd ""Name"" edges default" PARTITION OF "Odd Schema"."Odd ""Name"" edges" DEFAULT;
		CREATE INDEX ON "Odd Schema"."Odd ""Name"" edges" ("Seen At");`)
	require.NoError(t, err)
	const parent = `"Odd Schema"."Odd ""Name"" edges"`
	insert := func(at time.Time) string {
		t.Helper()
		var where string
		require.NoError(t, pool.QueryRow(ctx,
			`INSERT INTO `+parent+` ("Seen At", note) VALUES ($1, 'x') RETURNING tableoid::regclass::text`, at).Scan(&where))
		return where
	}
	d := day(2024, 1, 15)
	require.Equal(t, `"Odd Schema"."Odd ""Name"" edges default"`, insert(d.Add(10*time.Hour)))
	require.Equal(t, `"Odd Schema"."Odd ""Name"" edges default"`, insert(d.Add(11*time.Hour)))

	res, err := partman.Ensure(ctx, pool, partman.Options{Parent: parent, Now: fixedNow(d.Add(12 * time.Hour)), Ahead: 1, Behind: 1})
	require.NoError(t, err)
	require.Equal(t, parent, res.Parent)
	require.Equal(t, 3, res.Created())
	require.Equal(t, int64(2), res.MovedRows())
	require.Equal(t, `Odd "Name" edges_2024_01_14`, res.Days[0].Partition)
	require.Equal(t, `"Odd Schema"."Odd ""Name"" edges_2024_01_16"`, insert(d.AddDate(0, 0, 1)))
	require.Equal(t, int64(2), count(t, pool, `SELECT count(*) FROM "Odd Schema"."Odd ""Name"" edges_2024_01_15"`))

	l, err := partman.List(ctx, pool, parent)
	require.NoError(t, err)
	require.Len(t, l.Partitions, 3)
	for i, p := range l.Partitions {
		require.Equal(t, "Odd Schema", p.Schema)
		require.Equal(t, `Odd "Name" edges_`+d.AddDate(0, 0, i-1).Format("2006_01_02"), p.Name)
		require.Equal(t, d.AddDate(0, 0, i-1), *p.From)
	}
	require.Equal(t, `Odd "Name" edges default`, l.Default.Name)

	// A row of a day with no child waits in the default partition; Check
	// counts it by day through the quoted key column.
	insert(d.AddDate(0, 0, 10))
	opts := partman.Options{Parent: parent, Now: fixedNow(d), Ahead: 1, Behind: 1}
	rep, err := partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.Equal(t, []partman.DayCount{{Day: d.AddDate(0, 0, 10), Rows: 1}}, rep.DefaultDays)
	require.Empty(t, rep.MissingDays)
	_, err = partman.EnsureDays(ctx, pool, []time.Time{d.AddDate(0, 0, 10)}, opts)
	require.NoError(t, err)
	rep, err = partman.Check(ctx, pool, opts)
	require.NoError(t, err)
	require.True(t, rep.OK)

	// Drop: cutoff 2024-01-15 00:00 removes the child of the 14th.
	pr, err := partman.Prune(ctx, pool, 30*24*time.Hour, partman.Drop,
		partman.Options{Parent: parent, Now: fixedNow(d.AddDate(0, 0, 30))})
	require.NoError(t, err)
	require.Len(t, pr.Removed, 1)
	require.Equal(t, `Odd "Name" edges_2024_01_14`, pr.Removed[0].Name)

	// Detach: cutoff 2024-01-17 00:00 moves the 15th and 16th to the archive.
	archive := `Odd "Archive"`
	pr, err = partman.Prune(ctx, pool, 30*24*time.Hour, partman.Detach,
		partman.Options{Parent: parent, Now: fixedNow(d.AddDate(0, 0, 32)), ArchiveSchema: archive})
	require.NoError(t, err)
	require.Len(t, pr.Removed, 2)
	require.Equal(t, 1, pr.Kept)
	require.Equal(t, int64(2), count(t, pool, `SELECT count(*) FROM "Odd ""Archive"""."Odd ""Name"" edges_2024_01_15"`))
	require.Equal(t, int64(1), count(t, pool, `SELECT count(*) FROM "Odd ""Archive"""."Odd ""Name"" edges_2024_01_16"`))
	require.Equal(t, []string{`Odd "Name" edges default`, `Odd "Name" edges_2024_01_25`}, children(t, pool, parent))
	require.Equal(t, archive, pr.ArchiveSchema)
	require.Equal(t, `"Odd ""Archive"""."Odd ""Name"" edges_2024_01_15"`, partman.QualifiedName(pr.ArchiveSchema, pr.Removed[0].Name))
}

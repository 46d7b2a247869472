package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/partman"
)

func utcDate(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

func ptr[T any](v T) *T { return &v }

// dayPartition is a child of public.telemetry_edges for one day, never analyzed.
func dayPartition(d time.Time) partman.Partition {
	return partman.Partition{Schema: "public", Name: "telemetry_edges_" + d.Format("2006_01_02"),
		From: ptr(d), To: ptr(d.AddDate(0, 0, 1)), EstimatedRows: -1, TotalBytes: 16 * 1024}
}

// checkReport is what Check reports on a window 2024-09-30 .. 2024-10-04
// whose 3rd has no child and two rows of it wait in the default partition.
func checkReport() partman.Report {
	d := utcDate(2024, 10, 1)
	return partman.Report{
		Listing: partman.Listing{
			Parent: "public.telemetry_edges",
			Partitions: []partman.Partition{
				{Schema: "public", Name: "telemetry_edges_before", To: ptr(utcDate(2024, 9, 1)), EstimatedRows: -1, TotalBytes: 8192},
				dayPartition(d.AddDate(0, 0, -1)), dayPartition(d), dayPartition(d.AddDate(0, 0, 1)), dayPartition(d.AddDate(0, 0, 3)),
			},
			Default: &partman.Partition{Schema: "public", Name: "telemetry_edges_default", Bound: "DEFAULT",
				EstimatedRows: -1, TotalBytes: 48 * 1024},
		},
		WindowFrom:  d.AddDate(0, 0, -1),
		WindowTo:    d.AddDate(0, 0, 3),
		MissingDays: []time.Time{d.AddDate(0, 0, 2)},
		DefaultRows: 2,
		DefaultDays: []partman.DayCount{{Day: d.AddDate(0, 0, 2), Rows: 2}},
	}
}

func TestWriteCheckTable(t *testing.T) {
	t.Parallel()

	t.Run("attention", func(t *testing.T) {
		t.Parallel()
		var out bytes.Buffer
		require.NoError(t, writeCheckTable(&out, checkReport()))
		require.Equal(t, `PARTITION                          FROM        TO          EST. ROWS  SIZE
public.telemetry_edges_before      MINVALUE    2024-09-01  ?          8 KiB
public.telemetry_edges_2024_09_30  2024-09-30  2024-10-01  ?          16 KiB
public.telemetry_edges_2024_10_01  2024-10-01  2024-10-02  ?          16 KiB
public.telemetry_edges_2024_10_02  2024-10-02  2024-10-03  ?          16 KiB
public.telemetry_edges_2024_10_04  2024-10-04  2024-10-05  ?          16 KiB
public.telemetry_edges_default     DEFAULT                 ?          48 KiB
public.telemetry_edges: 5 partitions

default partition public.telemetry_edges_default: 2 rows
DAY         ROWS IN DEFAULT
2024-10-03  2
missing days in 2024-09-30 .. 2024-10-04: 2024-10-03
status: attention (run ensure for the missing days and the days in the default partition)
`, out.String())
		requireNoTrailingBlanks(t, out.String())
	})
	t.Run("ok", func(t *testing.T) {
		t.Parallel()
		rep := checkReport()
		rep.MissingDays, rep.DefaultRows, rep.DefaultDays, rep.OK = nil, 0, nil, true
		var out bytes.Buffer
		require.NoError(t, writeCheckTable(&out, rep))
		require.Contains(t, out.String(), "default partition public.telemetry_edges_default: 0 rows\n"+
			"missing days in 2024-09-30 .. 2024-10-04: none\nstatus: ok\n")
	})
	t.Run("before retention", func(t *testing.T) {
		t.Parallel()
		rep := checkReport()
		rep.MissingDays, rep.DefaultRows, rep.DefaultDays, rep.OK = nil, 0, nil, true
		rep.BeforeRetention = []time.Time{utcDate(2024, 9, 30)}
		var out bytes.Buffer
		require.NoError(t, writeCheckTable(&out, rep))
		require.Contains(t, out.String(), "missing days in 2024-09-30 .. 2024-10-04: none\n"+
			"before the retention (no partition wanted): 2024-09-30\nstatus: ok\n")
	})
	t.Run("no default partition", func(t *testing.T) {
		t.Parallel()
		rep := checkReport()
		rep.Default = nil
		var out bytes.Buffer
		require.NoError(t, writeCheckTable(&out, rep))
		require.Contains(t, out.String(), "\ndefault partition: none (a row of a day without a partition is refused; run ensure to make one)\n")
		require.Contains(t, out.String(), "status: attention (run ensure for the missing days, the days in the default partition and the missing default partition)\n")
	})
}

func TestWriteEnsureTable(t *testing.T) {
	t.Parallel()
	d := utcDate(2024, 10, 3)
	res := partman.Result{Parent: "public.telemetry_edges", Days: []partman.DayResult{
		{Day: d.AddDate(0, 0, -1), Partition: "telemetry_edges_2024_10_02", Attempts: 1},
		{Day: d, Partition: "telemetry_edges_2024_10_03", Created: true, MovedRows: 2, Attempts: 1},
	}}
	var out bytes.Buffer
	require.NoError(t, writeEnsureTable(&out, res))
	require.Equal(t, `DAY         PARTITION                   ACTION   MOVED ROWS  ATTEMPTS
2024-10-02  telemetry_edges_2024_10_02  exists   0           1
2024-10-03  telemetry_edges_2024_10_03  created  2           1
public.telemetry_edges: 2 days, 1 created, 2 rows moved from the default partition
`, out.String())
}

func TestWriteListingTableQuotesOddNames(t *testing.T) {
	t.Parallel()
	d := utcDate(2024, 1, 14)
	l := partman.Listing{Parent: `"Odd Schema"."Odd ""Name"" edges"`, Partitions: []partman.Partition{
		{Schema: "Odd Schema", Name: `Odd "Name" edges_2024_01_14`, From: ptr(d), To: ptr(d.AddDate(0, 0, 1)),
			EstimatedRows: 3, TotalBytes: 3 * 1024 * 1024 / 2},
		{Schema: "Odd Schema", Name: `Odd "Name" edges_late`, From: ptr(d.AddDate(0, 0, 1)),
			To: ptr(d.AddDate(0, 0, 1).Add(90 * time.Minute))},
	}}
	var out bytes.Buffer
	require.NoError(t, writeListingTable(&out, l))
	require.Equal(t, `PARTITION                                     FROM        TO                    EST. ROWS  SIZE
"Odd Schema"."Odd ""Name"" edges_2024_01_14"  2024-01-14  2024-01-15            3          1.5 MiB
"Odd Schema"."Odd ""Name"" edges_late"        2024-01-15  2024-01-15T01:30:00Z  0          0 B
"Odd Schema"."Odd ""Name"" edges": 2 partitions
`, out.String())
}

func TestWritePruneTable(t *testing.T) {
	t.Parallel()
	d := utcDate(2024, 1, 15)
	removed := []partman.Partition{
		{Schema: "Odd Schema", Name: `Odd "Name" edges_2024_01_15`, From: ptr(d), To: ptr(d.AddDate(0, 0, 1))},
		{Schema: "Odd Schema", Name: `Odd "Name" edges_2024_01_16`, From: ptr(d.AddDate(0, 0, 1)), To: ptr(d.AddDate(0, 0, 2))},
	}
	cutoff := time.Date(2024, 1, 17, 0, 0, 0, 0, time.FixedZone("CET", 3600))

	var out bytes.Buffer
	require.NoError(t, writePruneTable(&out, partman.PruneResult{Parent: `"Odd Schema"."Odd ""Name"" edges"`,
		Mode: partman.Detach, Cutoff: cutoff, ArchiveSchema: `Odd "Archive"`, Removed: removed, Kept: 1}))
	require.Equal(t, `PARTITION                                     FROM        TO          ACTION
"Odd Schema"."Odd ""Name"" edges_2024_01_15"  2024-01-15  2024-01-16  moved to "Odd ""Archive"""."Odd ""Name"" edges_2024_01_15"
"Odd Schema"."Odd ""Name"" edges_2024_01_16"  2024-01-16  2024-01-17  moved to "Odd ""Archive"""."Odd ""Name"" edges_2024_01_16"
"Odd Schema"."Odd ""Name"" edges": 2 removed (detach), 1 kept, cutoff 2024-01-16T23:00:00Z
`, out.String())

	out.Reset()
	require.NoError(t, writePruneTable(&out, partman.PruneResult{Parent: "public.telemetry_edges", Mode: partman.Drop,
		Cutoff: cutoff, Removed: removed[:1]}))
	require.Contains(t, out.String(), "  dropped\n")
	require.Contains(t, out.String(), "public.telemetry_edges: 1 removed (drop), 0 kept, cutoff 2024-01-16T23:00:00Z\n")
	require.NotContains(t, out.String(), "default partition")

	// A day archived before goes under its new name; late rows of the
	// default partition are reported.
	out.Reset()
	require.NoError(t, writePruneTable(&out, partman.PruneResult{Parent: "public.telemetry_edges", Mode: partman.Detach,
		ArchiveSchema: "archive", Cutoff: cutoff, Removed: []partman.Partition{{Schema: "public", Name: "telemetry_edges_2024_01_15",
			From: ptr(d), To: ptr(d.AddDate(0, 0, 1))}},
		ArchivedAs:         map[string]string{"telemetry_edges_2024_01_15": "telemetry_edges_2024_01_15_2"},
		DefaultRowsRemoved: 7, DefaultArchive: "archive.telemetry_edges_default_before_2024_01_16"}))
	require.Contains(t, out.String(), "  moved to archive.telemetry_edges_2024_01_15_2\n")
	require.Contains(t, out.String(), "default partition: 7 late rows moved to archive.telemetry_edges_default_before_2024_01_16\n")
	out.Reset()
	require.NoError(t, writePruneTable(&out, partman.PruneResult{Parent: "public.telemetry_edges", Mode: partman.Drop,
		Cutoff: cutoff, Removed: []partman.Partition{}, DefaultRowsRemoved: 3}))
	require.Contains(t, out.String(), "default partition: 3 late rows deleted\n")
}

package partman

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Report is the state of a partitioned table as Check finds it.
type Report struct {
	Listing
	// WindowFrom and WindowTo are the first and last day (midnight UTC) that
	// must have a partition: today−Behind through today+Ahead.
	WindowFrom time.Time `json:"window_from"`
	WindowTo   time.Time `json:"window_to"`
	// MissingDays are the days of the window some instant of which no
	// partition holds; their rows would go to the default partition.
	// Days before the recorded retention are not among them.
	MissingDays []time.Time `json:"missing_days"`
	// BeforeRetention are the days of the window before the retention the
	// last prune recorded: they get no partition again (Ensure refuses
	// them) and are not missing.
	BeforeRetention []time.Time `json:"before_retention"`
	// DefaultRows is the exact number of rows in the default partition.
	DefaultRows int64 `json:"default_rows"`
	// DefaultDays breaks DefaultRows down by the UTC day of the rows (rows
	// whose key is NULL, which can only be in the default partition, are
	// counted in DefaultRows alone).
	DefaultDays []DayCount `json:"default_days"`
	// OK is true when no day of the window is missing and the default
	// partition exists and is empty.
	OK bool `json:"ok"`
}

// DayCount is a number of rows of one UTC day.
type DayCount struct {
	// Day is midnight UTC of the day.
	Day time.Time `json:"day"`
	// Rows is the exact number of rows.
	Rows int64 `json:"rows"`
}

// Check lists the partitions of Options.Parent like List, counts the rows in
// its default partition exactly, by UTC day, and reports the days of the
// window today−Behind through today+Ahead that have no partition, leaving
// out the days before the retention the last Prune recorded (which Ensure
// refuses: Report.BeforeRetention). It runs
// in one transaction with Options.LockTimeout and retries, like Ensure.
func Check(ctx context.Context, pool *pgxpool.Pool, opts Options) (Report, error) {
	opts = opts.withDefaults()
	t, err := resolve(ctx, pool, opts.Parent)
	if err != nil {
		return Report{}, fmt.Errorf("check partitions: %w", err)
	}
	days := opts.window()
	slices.SortFunc(days, time.Time.Compare)
	var rep Report
	_, err = inTx(ctx, pool, opts, "check partitions of "+t.String(), func(ctx context.Context, tx pgx.Tx) error {
		l, err := list(ctx, tx, t)
		if err != nil {
			return err
		}
		// A day before the retention gets no partition again: not missing,
		// or check would ask for an ensure that refuses it, every time.
		want, refused, _, err := splitRetention(ctx, tx, t, days, opts)
		if err != nil {
			return err
		}
		rep = Report{
			Listing:         l,
			WindowFrom:      days[0],
			WindowTo:        days[len(days)-1],
			MissingDays:     missingDays(l.Partitions, want),
			BeforeRetention: refused,
			DefaultDays:     []DayCount{},
		}
		if l.Default == nil {
			return nil
		}
		def := table{schema: l.Default.Schema, name: l.Default.Name, key: t.key}
		rep.DefaultDays, rep.DefaultRows, err = countByDay(ctx, tx, def)
		return err
	})
	if err != nil {
		return Report{}, err
	}
	rep.OK = len(rep.MissingDays) == 0 && rep.DefaultRows == 0 && rep.Default != nil
	return rep, nil
}

// countByDay counts the rows of t by the UTC day of its key column, and in
// all.
func countByDay(ctx context.Context, tx pgx.Tx, t table) ([]DayCount, int64, error) {
	key := pgx.Identifier{t.key}.Sanitize()
	rows, err := tx.Query(ctx, fmt.Sprintf(
		"SELECT (%s AT TIME ZONE 'UTC')::date, count(*) FROM %s GROUP BY 1 ORDER BY 1", key, t.ident()))
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	counts := []DayCount{}
	var total int64
	for rows.Next() {
		var (
			day *time.Time
			n   int64
		)
		if err := rows.Scan(&day, &n); err != nil {
			return nil, 0, err
		}
		total += n
		if day != nil {
			counts = append(counts, DayCount{Day: *day, Rows: n})
		}
	}
	return counts, total, rows.Err()
}

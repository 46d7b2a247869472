package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/partman"
)

// writeEnsureTable writes an ensure result as an aligned table, one line
// per day.
func writeEnsureTable(w io.Writer, r partman.Result) error {
	t := newTable(w)
	t.row("DAY", "PARTITION", "ACTION", "MOVED ROWS", "ATTEMPTS")
	for _, d := range r.Days {
		action := "exists"
		if d.Created {
			action = "created"
		}
		t.row(d.Day.Format(time.DateOnly), d.Partition, action, d.MovedRows, d.Attempts)
	}
	for _, d := range r.Refused {
		t.row(d.Format(time.DateOnly), "", "refused: before retention", 0, 0)
	}
	t.line(fmt.Sprintf("%s: %d days, %d created, %d rows moved from the default partition",
		r.Parent, len(r.Days), r.Created(), r.MovedRows()))
	switch {
	case r.DefaultReattached:
		t.line("default partition " + r.DefaultCreated + ": attached again, with its rows (it had been detached)")
	case r.DefaultCreated != "":
		t.line("default partition " + r.DefaultCreated + ": created (the table had none)")
	}
	return t.flush("ensure result")
}

// writeListingTable writes a partition listing as an aligned table, one
// line per partition, the default partition last.
func writeListingTable(w io.Writer, l partman.Listing) error {
	t := newTable(w)
	listingRows(t, l)
	return t.flush("partition list")
}

func listingRows(t *textTable, l partman.Listing) {
	t.row("PARTITION", "FROM", "TO", "EST. ROWS", "SIZE")
	for _, p := range l.Partitions {
		t.row(partman.QualifiedName(p.Schema, p.Name), formatBound(p.From, "MINVALUE"), formatBound(p.To, "MAXVALUE"),
			formatEstimate(p.EstimatedRows), formatBytes(uint64(max(p.TotalBytes, 0))))
	}
	if d := l.Default; d != nil {
		t.row(partman.QualifiedName(d.Schema, d.Name), "DEFAULT", "", formatEstimate(d.EstimatedRows),
			formatBytes(uint64(max(d.TotalBytes, 0))))
	}
	t.line(fmt.Sprintf("%s: %d partitions", l.Parent, len(l.Partitions)))
}

// writeCheckTable writes a check report: the partitions as
// writeListingTable does, the rows waiting in the default partition by day,
// the missing days and a verdict.
func writeCheckTable(w io.Writer, r partman.Report) error {
	t := newTable(w)
	listingRows(t, r.Listing)
	t.row()
	if r.Default == nil {
		t.line("default partition: none (a row of a day without a partition is refused; run ensure to make one)")
	} else {
		t.line(fmt.Sprintf("default partition %s: %d rows", partman.QualifiedName(r.Default.Schema, r.Default.Name), r.DefaultRows))
		if len(r.DefaultDays) > 0 {
			t.row("DAY", "ROWS IN DEFAULT")
			for _, d := range r.DefaultDays {
				t.row(d.Day.Format(time.DateOnly), d.Rows)
			}
		}
	}
	window := r.WindowFrom.Format(time.DateOnly) + " .. " + r.WindowTo.Format(time.DateOnly)
	if len(r.MissingDays) == 0 {
		t.line("missing days in " + window + ": none")
	} else {
		days := make([]string, len(r.MissingDays))
		for i, d := range r.MissingDays {
			days[i] = d.Format(time.DateOnly)
		}
		t.line(fmt.Sprintf("missing days in %s: %s", window, strings.Join(days, ", ")))
	}
	if len(r.BeforeRetention) > 0 {
		days := make([]string, len(r.BeforeRetention))
		for i, d := range r.BeforeRetention {
			days[i] = d.Format(time.DateOnly)
		}
		t.line(fmt.Sprintf("before the retention (no partition wanted): %s", strings.Join(days, ", ")))
	}
	if r.OK {
		t.line("status: ok")
	} else {
		var what []string
		if len(r.MissingDays) > 0 {
			what = append(what, "the missing days")
		}
		if r.DefaultRows > 0 {
			what = append(what, "the days in the default partition")
		}
		if r.Default == nil {
			what = append(what, "the missing default partition")
		}
		if len(what) == 0 {
			what = []string{"the window"}
		}
		last := len(what) - 1
		if last > 0 {
			what = append(what[:last-1], what[last-1]+" and "+what[last])
		}
		t.line("status: attention (run ensure for " + strings.Join(what, ", ") + ")")
	}
	return t.flush("check report")
}

// writePruneTable writes a prune result as an aligned table, one line per
// removed partition.
func writePruneTable(w io.Writer, r partman.PruneResult) error {
	t := newTable(w)
	t.row("PARTITION", "FROM", "TO", "ACTION")
	for _, p := range r.Removed {
		action := "dropped"
		if r.Mode == partman.Detach {
			name := p.Name
			if as, ok := r.ArchivedAs[p.Name]; ok {
				name = as
			}
			action = "moved to " + partman.QualifiedName(r.ArchiveSchema, name)
		}
		t.row(partman.QualifiedName(p.Schema, p.Name), formatBound(p.From, "MINVALUE"), formatBound(p.To, "MAXVALUE"), action)
	}
	t.line(fmt.Sprintf("%s: %d removed (%s), %d kept, cutoff %s",
		r.Parent, len(r.Removed), r.Mode, r.Kept, r.Cutoff.UTC().Format(time.RFC3339)))
	switch {
	case r.DefaultArchive != "":
		t.line(fmt.Sprintf("default partition: %d late rows moved to %s", r.DefaultRowsRemoved, r.DefaultArchive))
	case r.DefaultRowsRemoved > 0:
		t.line(fmt.Sprintf("default partition: %d late rows deleted", r.DefaultRowsRemoved))
	}
	return t.flush("prune result")
}

// formatBound prints a bound as a day when it is a UTC midnight, as an
// RFC 3339 UTC time otherwise, and as unbounded when nil.
func formatBound(t *time.Time, unbounded string) string {
	if t == nil {
		return unbounded
	}
	u := t.UTC()
	if u.Equal(graph.UTCDay(u)) {
		return u.Format(time.DateOnly)
	}
	return u.Format(time.RFC3339Nano)
}

// formatEstimate prints a planner row estimate, "?" when unknown (-1).
func formatEstimate(n int64) string {
	if n < 0 {
		return "?"
	}
	return strconv.FormatInt(n, 10)
}

// textTable is an aligned table whose lines carry no trailing blanks.
type textTable struct {
	p *printer
}

func newTable(w io.Writer) *textTable {
	return &textTable{p: newTablePrinter(w)}
}

// row writes cells separated by tabs, dropping empty trailing cells.
func (t *textTable) row(cells ...any) {
	for len(cells) > 0 && cells[len(cells)-1] == "" {
		cells = cells[:len(cells)-1]
	}
	for i, c := range cells {
		if i > 0 {
			t.p.print("\t")
		}
		if s, ok := c.(string); ok {
			c = cellText(s)
		}
		t.p.print(c)
	}
	t.p.print("\n")
}

// line writes free text that takes no part in the column alignment.
func (t *textTable) line(s string) {
	t.p.print(strings.ReplaceAll(s, "\t", " "), "\n")
}

// flush writes the table out and returns the first error of its writes.
func (t *textTable) flush(what string) error {
	if err := t.p.flush(); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
}

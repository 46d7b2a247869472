package partman

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/tuning"
)

// WriteTable writes r to w as an aligned table, one line per day.
func (r Result) WriteTable(w io.Writer) error {
	t := newTable(w)
	t.row("DAY", "PARTITION", "ACTION", "MOVED ROWS", "ATTEMPTS")
	for _, d := range r.Days {
		action := "exists"
		if d.Created {
			action = "created"
		}
		t.row(d.Day.Format(time.DateOnly), d.Partition, action, d.MovedRows, d.Attempts)
	}
	t.line(fmt.Sprintf("%s: %d days, %d created, %d rows moved from the default partition",
		r.Parent, len(r.Days), r.Created(), r.MovedRows()))
	return t.flush("ensure result")
}

// WriteTable writes l to w as an aligned table, one line per partition,
// the default partition last.
func (l Listing) WriteTable(w io.Writer) error {
	t := newTable(w)
	l.rows(t)
	return t.flush("partition list")
}

func (l Listing) rows(t *textTable) {
	t.row("PARTITION", "FROM", "TO", "EST. ROWS", "SIZE")
	for _, p := range l.Partitions {
		t.row(qualified(p.Schema, p.Name), formatBound(p.From, "MINVALUE"), formatBound(p.To, "MAXVALUE"),
			formatEstimate(p.EstimatedRows), tuning.FormatBytes(uint64(max(p.TotalBytes, 0))))
	}
	if d := l.Default; d != nil {
		t.row(qualified(d.Schema, d.Name), "DEFAULT", "", formatEstimate(d.EstimatedRows),
			tuning.FormatBytes(uint64(max(d.TotalBytes, 0))))
	}
	t.line(fmt.Sprintf("%s: %d partitions", l.Parent, len(l.Partitions)))
}

// WriteTable writes r to w: the partitions as Listing.WriteTable does, the
// rows waiting in the default partition by day, the missing days and a
// verdict.
func (r Report) WriteTable(w io.Writer) error {
	t := newTable(w)
	r.Listing.rows(t)
	t.row()
	if r.Default == nil {
		t.line("default partition: none")
	} else {
		t.line(fmt.Sprintf("default partition %s: %d rows", qualified(r.Default.Schema, r.Default.Name), r.DefaultRows))
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
	if r.OK {
		t.line("status: ok")
	} else {
		t.line("status: attention (run ensure for the missing days or the days in the default partition)")
	}
	return t.flush("check report")
}

// WriteTable writes r to w as an aligned table, one line per removed
// partition.
func (r PruneResult) WriteTable(w io.Writer) error {
	t := newTable(w)
	t.row("PARTITION", "FROM", "TO", "ACTION")
	for _, p := range r.Removed {
		action := "dropped"
		if r.Mode == Detach {
			action = "moved to " + qualified(r.ArchiveSchema, p.Name)
		}
		t.row(qualified(p.Schema, p.Name), formatBound(p.From, "MINVALUE"), formatBound(p.To, "MAXVALUE"), action)
	}
	t.line(fmt.Sprintf("%s: %d removed (%s), %d kept, cutoff %s",
		r.Parent, len(r.Removed), r.Mode, r.Kept, r.Cutoff.UTC().Format(time.RFC3339)))
	return t.flush("prune result")
}

// textTable is a tabwriter whose lines carry no trailing blanks.
type textTable struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer) *textTable {
	return &textTable{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
}

// row writes cells separated by tabs, dropping empty trailing cells.
func (t *textTable) row(cells ...any) {
	for len(cells) > 0 && cells[len(cells)-1] == "" {
		cells = cells[:len(cells)-1]
	}
	for i, c := range cells {
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprint(t.tw, "\n")
}

// line writes free text that takes no part in the column alignment.
func (t *textTable) line(s string) {
	fmt.Fprint(t.tw, strings.ReplaceAll(s, "\t", " "), "\n")
}

func (t *textTable) flush(what string) error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	return nil
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

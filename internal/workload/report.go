package workload

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets of the sustained-load benchmark (issue #15): the last day
// against the first.
const (
	TargetQueryP99Ratio = 2.0
	TargetRSSRatio      = 1.2
)

// FeedLoad is what loading the generated STIX feed took.
type FeedLoad struct {
	Records  int64
	Dropped  int64
	Duration time.Duration
}

// DayStats are the measures of one simulated day.
type DayStats struct {
	Day  int       // 1-based
	Date time.Time // its UTC midnight
	// Upkeep is the wall time of partman.Ensure and Prune at its midnight;
	// Pruned the partitions Prune dropped.
	Upkeep time.Duration
	Pruned int
	// Rows are the edges written, Dropped those the store dropped, Elapsed
	// the wall time of the day's load.
	Rows, Dropped int64
	Elapsed       time.Duration
	// AppendP50/P99 are the latencies of one Append call; QueryP50/P99
	// those of one walk while the day loads, Queries how many ran.
	AppendP50, AppendP99 time.Duration
	QueryP50, QueryP99   time.Duration
	Queries              int
	// PeakRSS is the client's peak resident set (VmHWM) during the day;
	// RSSReset says whether the peak was reset at the day's start (else it
	// is the peak since the process started).
	PeakRSS  int64
	RSSReset bool
	// HeapLive is the Go heap live after the last GC at the day's end
	// (runtime/metrics /gc/heap/live:bytes): what the client holds on to.
	HeapLive int64
	// Nodes counts the rows of nodes at the day's end.
	Nodes int64
	// Partitions counts the day partitions of telemetry_edges at the end
	// of the day; EdgesTable and EdgesIndex are the sizes of all its
	// partitions, NodesTable and NodesIndex those of nodes.
	Partitions             int
	EdgesTable, EdgesIndex int64
	NodesTable, NodesIndex int64
	// Load is the 1-minute load average at the day's end.
	Load string
}

// RowsPerSecond is the day's sustained write rate.
func (d DayStats) RowsPerSecond() float64 {
	if d.Elapsed <= 0 {
		return 0
	}
	return float64(d.Rows) / d.Elapsed.Seconds()
}

func (d DayStats) line() string {
	return fmt.Sprintf("day %d (%s): %d rows in %s = %.0f rows/s, append p50 %s p99 %s, query p50 %s p99 %s (%d), peak RSS %s, heap live %s, %d nodes, %d partitions, load %s",
		d.Day, d.Date.Format(time.DateOnly), d.Rows, d.Elapsed.Round(time.Millisecond), d.RowsPerSecond(),
		ms(d.AppendP50), ms(d.AppendP99), ms(d.QueryP50), ms(d.QueryP99), d.Queries, mib(d.PeakRSS), mib(d.HeapLive),
		d.Nodes, d.Partitions, d.Load)
}

// ScaleReport is what RunScale measured.
type ScaleReport struct {
	Options      ScaleOptions
	PoolMaxConns int32
	Feed         FeedLoad
	Days         []DayStats
	// Load is the load average (1, 5, 15 minutes) when the run started.
	Load string
}

// Ratios are the last day's measures over the first day's.
type Ratios struct {
	RowsPerSecond, AppendP99, QueryP99, PeakRSS, EdgesTotal, NodesTotal float64
}

// Ratios returns the last day over the first day.
func (r *ScaleReport) Ratios() (Ratios, error) {
	if len(r.Days) == 0 {
		return Ratios{}, errNoDays
	}
	a, b := r.Days[0], r.Days[len(r.Days)-1]
	return Ratios{
		RowsPerSecond: ratio(b.RowsPerSecond(), a.RowsPerSecond()),
		AppendP99:     ratio(float64(b.AppendP99), float64(a.AppendP99)),
		QueryP99:      ratio(float64(b.QueryP99), float64(a.QueryP99)),
		PeakRSS:       ratio(float64(b.PeakRSS), float64(a.PeakRSS)),
		EdgesTotal:    ratio(float64(b.EdgesTable+b.EdgesIndex), float64(a.EdgesTable+a.EdgesIndex)),
		NodesTotal:    ratio(float64(b.NodesTable+b.NodesIndex), float64(a.NodesTable+a.NodesIndex)),
	}, nil
}

func ratio(b, a float64) float64 {
	if a == 0 {
		return 0
	}
	return b / a
}

// Write prints the report: the scale, a row per day, and the ratios of the
// last day to the first with the targets.
func (r *ScaleReport) Write(w io.Writer) error {
	o := r.Options
	var b bytes.Buffer
	fmt.Fprintf(&b, "sustained load: %d agents, %d simulated days from %s, ~%d rows/day in batches of %d-%d, seed %d\n",
		o.Agents, o.Days, o.Start.Format(time.DateOnly), o.RowsPerDay, o.MinBatch, o.MaxBatch, o.Seed)
	fmt.Fprintf(&b, "writers %d (NewAppender), queriers %d (depth %d walks, every %s each), pool max %d conns, retention %s (prune drop at each simulated midnight)\n",
		o.Writers, o.Queriers, o.Depth, o.QueryInterval, r.PoolMaxConns, o.Keep)
	if o.StorePerDay {
		fmt.Fprintln(&b, "diagnostic: a new Store at each simulated midnight (-store-per-day)")
	}
	fmt.Fprintf(&b, "machine: %d CPUs (GOMAXPROCS %d), load average at start %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), r.Load)
	fmt.Fprintf(&b, "feed: %d STIX objects loaded in %s, %d dropped\n\n", r.Feed.Records, r.Feed.Duration.Round(time.Millisecond), r.Feed.Dropped)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	_, _ = fmt.Fprintln(tw, "day\tdate\trows\trows/s\tappend p50\tappend p99\tquery p50\tquery p99\tqueries\tpeak RSS\theap live\tnodes\tpartitions\tedges table\tedges idx\tnodes table\tnodes idx\tupkeep\tpruned\tload\t")
	for _, d := range r.Days {
		_, _ = fmt.Fprintf(tw, "%d\t%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t\n",
			d.Day, d.Date.Format(time.DateOnly), d.Rows, d.RowsPerSecond(), ms(d.AppendP50), ms(d.AppendP99),
			ms(d.QueryP50), ms(d.QueryP99), d.Queries, mib(d.PeakRSS), mib(d.HeapLive), d.Nodes, d.Partitions, mib(d.EdgesTable),
			mib(d.EdgesIndex), mib(d.NodesTable), mib(d.NodesIndex), ms(d.Upkeep), d.Pruned, d.Load)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Days) > 0 && !r.Days[0].RSSReset {
		fmt.Fprintln(&b, "(peak RSS could not be reset per day: each figure is the peak since the start)")
	}
	if rt, err := r.Ratios(); err == nil {
		n := len(r.Days)
		fmt.Fprintf(&b, "\nday %d / day 1: rows/s %.2f×, append p99 %.2f×, query p99 %.2f× (target ≤ %.1f×: %s), peak RSS %.2f× (target ≤ %.1f×: %s), telemetry size %.2f×, nodes size %.2f×\n",
			n, rt.RowsPerSecond, rt.AppendP99, rt.QueryP99, TargetQueryP99Ratio, verdict(rt.QueryP99 <= TargetQueryP99Ratio),
			rt.PeakRSS, TargetRSSRatio, verdict(rt.PeakRSS <= TargetRSSRatio), rt.EdgesTotal, rt.NodesTotal)
	}
	_, err := w.Write(b.Bytes())
	return err
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

func mib(n int64) string {
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + "MiB"
}

// heapLive returns the Go heap live after the last GC.
func heapLive() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64()) //nolint:gosec // a heap size fits
}

// loadAverage returns /proc/loadavg's three load averages, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

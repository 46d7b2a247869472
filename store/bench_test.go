package store_test

// Benchmarks of the graph Store, each measured side by side with the
// baseline the issue names, in one run, on a throw-away PostgreSQL (see
// internal/pgtest; DATABASE_URL points them at another server):
//
//	BenchmarkTelemetryCopy     AppendTelemetry vs `psql \copy` of the same rows into the same
//	                           daily-partitioned table (goal: ratio ≥ 1.0)
//	BenchmarkTelemetryConcurrent 32 and 128 callers with 100–500-row batches through one
//	                           TelemetryWriter vs one streaming AppendTelemetry (goal: 128
//	                           callers ≥ 0.8× with p99 call < 1 s); INTEL_BENCH_WRITER_ROWS,
//	                           INTEL_BENCH_WRITER_ROUNDS size it
//	BenchmarkNodeUpsert        UpsertNodes (multi-row batches) vs one INSERT … ON CONFLICT per row
//	                           in its own transaction (goal: ratio ≥ 20)
//	BenchmarkFindRelated       FindRelated depth 4 p50/p99 on a generated graph with hubs vs a
//	                           walk from Go issuing one query per hop (goal: FindRelated faster)
//	BenchmarkFindRelatedHubs   the visited set vs a recursive CTE that tracks only its own path
//	                           (NOT id = ANY(path)) on a graph with two ~20k-degree hubs
//
// Every pool is made as the product makes its pools (tuning.ConfigurePool,
// which starts sessions with jit=off); a row that deviates says so. Each
// prints a table of its figures and reports the main ones as metrics
// (rows/s, ms, ratio). They do the whole comparison once per iteration: run
// them with -benchtime=1x, as `make bench` does:
//
//	make bench BENCH=Telemetry
//	go test ./graph -run '^$' -bench . -benchtime=1x -timeout 60m
//
// Sizes come from the environment; INTEL_BENCH_SIZE=full switches every
// default to the size the acceptance asks for (2M telemetry rows for
// the COPY comparison; a graph of 1M nodes, 3M relations and 5M telemetry
// edges over 7 days for FindRelated). The full-size FindRelated run is:
//
//	INTEL_BENCH_SIZE=full make bench BENCH='FindRelated$'
//
// (about 1.5 minutes to generate the graph and 15 to time the walks on the
// 2-core machine), and the full-size COPY comparison
//
//	INTEL_BENCH_SIZE=full make bench BENCH=TelemetryCopy
//
// Single figures can be overridden on top of either preset:
//
//	INTEL_BENCH_ROWS         telemetry rows for BenchmarkTelemetryCopy (500,000 | full 2,000,000)
//	INTEL_BENCH_COPY_NODES   distinct endpoint nodes of those rows (50,000)
//	INTEL_BENCH_ROUNDS       rounds of each side-by-side comparison (TelemetryCopy, NodeUpsert), best reported (1)
//	INTEL_BENCH_UPSERT_NODES nodes for BenchmarkNodeUpsert (20,000)
//	INTEL_BENCH_DURABLE_NODES nodes for its fsync=on server variant (20,000; 0 skips it)
//	INTEL_BENCH_NODES        graph nodes for BenchmarkFindRelated (200,000 | full 1,000,000)
//	INTEL_BENCH_RELATIONS    graph relations (600,000 | full 3,000,000)
//	INTEL_BENCH_TELEMETRY    graph telemetry edges (1,000,000 | full 5,000,000)
//	INTEL_BENCH_QUERIES      random start nodes timed, each with every walk (50 | full 100),
//	                         besides 10 starts at and next to the hubs
//	INTEL_BENCH_NAIVE_TIMEOUT statement_timeout of the path-tracking CTE (20s)

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/tuning"
)

// benchConfig holds the sizes of the benchmarks.
type benchConfig struct {
	full bool

	copyRows   int
	copyNodes  int
	rounds     int
	upsertRows int
	durableRow int

	graphNodes     int
	graphRelations int
	graphTelemetry int
	queries        int
	naiveTimeout   time.Duration
}

func loadBenchConfig(b *testing.B) benchConfig {
	b.Helper()
	full := strings.EqualFold(os.Getenv("INTEL_BENCH_SIZE"), "full")
	pick := func(small, large int) int {
		if full {
			return large
		}
		return small
	}
	c := benchConfig{
		full:           full,
		copyRows:       envInt(b, "INTEL_BENCH_ROWS", pick(500_000, 2_000_000)),
		copyNodes:      envInt(b, "INTEL_BENCH_COPY_NODES", 50_000),
		rounds:         envInt(b, "INTEL_BENCH_ROUNDS", 1),
		upsertRows:     envInt(b, "INTEL_BENCH_UPSERT_NODES", 20_000),
		durableRow:     envInt(b, "INTEL_BENCH_DURABLE_NODES", 20_000),
		graphNodes:     envInt(b, "INTEL_BENCH_NODES", pick(200_000, 1_000_000)),
		graphRelations: envInt(b, "INTEL_BENCH_RELATIONS", pick(600_000, 3_000_000)),
		graphTelemetry: envInt(b, "INTEL_BENCH_TELEMETRY", pick(1_000_000, 5_000_000)),
		queries:        envInt(b, "INTEL_BENCH_QUERIES", pick(50, 100)),
		naiveTimeout:   20 * time.Second,
	}
	if v := os.Getenv("INTEL_BENCH_NAIVE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatalf("INTEL_BENCH_NAIVE_TIMEOUT: %v", err)
		}
		c.naiveTimeout = d
	}
	c.rounds = max(c.rounds, 1)
	return c
}

func envInt(b *testing.B, name string, def int) int {
	b.Helper()
	v := strings.ReplaceAll(os.Getenv(name), "_", "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// quietLogger drops everything below WARN, so partition making does not
// drown the figures.
var quietLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// productPool opens a pool on dsn the way the product makes its pools
// (tuning.ConfigurePool: sized for this machine, sessions with jit=off),
// with runtime settings on top, closed when the benchmark ends.
func productPool(b *testing.B, dsn string, settings map[string]string) *pgxpool.Pool {
	b.Helper()
	ctx := context.Background()
	cfg, err := tuning.ConfigurePool(ctx, dsn, tuning.WithLogger(quietLogger))
	if err != nil {
		b.Fatalf("configure pool: %v", err)
	}
	for k, v := range settings {
		cfg.ConnConfig.RuntimeParams[k] = v
	}
	p, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatalf("open pool: %v", err)
	}
	b.Cleanup(p.Close)
	return p
}

// report prints a titled table of figures to stdout, so that they appear in
// the benchmark output whatever the -v flag.
type report struct {
	w *tabwriter.Writer
}

func newReport(title string) *report {
	fmt.Printf("\n=== %s\n", title)
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		// The machine may be shared: a load above the core count inflates
		// every figure, though not the ratios of side-by-side runs as much.
		fmt.Printf("    load average now: %s", load)
	}
	return &report{w: tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)}
}

// row prints one line of cells separated into columns.
func (r *report) row(cells ...any) {
	for i, c := range cells {
		if i > 0 {
			_, _ = io.WriteString(r.w, "\t") // benchmark output to stdout: nothing to do on failure
		}
		_, _ = fmt.Fprint(r.w, c)
	}
	_, _ = io.WriteString(r.w, "\t\n")
}

func (r *report) flush() { _ = r.w.Flush() }

// note prints a line under the table.
func note(format string, args ...any) {
	fmt.Printf("    "+format+"\n", args...)
}

// rate is n per second of d.
func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return math.Inf(1)
	}
	return float64(n) / d.Seconds()
}

func fmtRate(r float64) string { return fmt.Sprintf("%.0f/s", r) }

func fmtRatio(r float64) string { return fmt.Sprintf("%.2fx", r) }

// latencies summarises a sample of durations.
type latencies []time.Duration

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100).
func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func (l latencies) mean() time.Duration {
	if len(l) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range l {
		sum += d
	}
	return sum / time.Duration(len(l))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// best returns the shortest duration.
func best(ds []time.Duration) time.Duration { return slices.Min(ds) }

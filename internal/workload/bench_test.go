package workload_test

// BenchmarkSustainedLoad is `make bench-scale`: RunScale on a throw-away
// PostgreSQL (internal/pgtest; DATABASE_URL points it at another server)
// with a pool made as the product makes its pools (tuning.ConfigurePool).
// It prints the per-day table and the day-last / day-1 ratios and reports
// the ratios as metrics. It runs only when asked for by name or with
// INTEL_BENCH_SCALE=1, so `make bench` does not spend minutes on it.
// The scale comes from flags after -args (make bench-scale
// SCALE_FLAGS='-agents 50000 -rows-per-day 2000000'):

import (
	"context"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/internal/workload"
	"github.com/ransomeye/intel/tuning"
)

var (
	scaleAgents     = flag.Int("agents", workload.DefaultAgents, "bench-scale: endpoint agents")
	scaleDays       = flag.Int("days", workload.DefaultDays, "bench-scale: simulated days")
	scaleRows       = flag.Int("rows-per-day", workload.DefaultRowsPerDay, "bench-scale: telemetry edges per simulated day")
	scaleIndicators = flag.Int("indicators", workload.DefaultIndicators, "bench-scale: indicators in the feed")
	scaleWriters    = flag.Int("writers", workload.DefaultWriters, "bench-scale: concurrent append callers")
	scaleQueriers   = flag.Int("queriers", workload.DefaultQueriers, "bench-scale: concurrent walkers")
	scaleKeep       = flag.Duration("keep", workload.DefaultKeep, "bench-scale: retention at each simulated midnight")
	scaleSeed       = flag.Uint64("seed", 1, "bench-scale: seed")
	scalePerDay     = flag.Bool("store-per-day", false, "bench-scale: a new Store at each simulated midnight (diagnostic)")
)

func BenchmarkSustainedLoad(b *testing.B) {
	if os.Getenv("INTEL_BENCH_SCALE") != "1" {
		b.Skip("minutes long: run it with make bench-scale (INTEL_BENCH_SCALE=1)")
	}
	ctx := context.Background()
	cfg, err := tuning.ConfigurePool(ctx, pgtest.DSN(b), tuning.WithLogger(quiet))
	if err != nil {
		b.Fatalf("configure pool: %v", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatalf("open pool: %v", err)
	}
	defer pool.Close()
	b.ResetTimer()
	rep, err := workload.RunScale(ctx, pool, workload.ScaleOptions{
		Config: workload.Config{Agents: *scaleAgents, Days: *scaleDays, RowsPerDay: *scaleRows,
			Indicators: *scaleIndicators, Seed: *scaleSeed, Start: time.Now()},
		Writers: *scaleWriters, Queriers: *scaleQueriers, Keep: *scaleKeep, Progress: os.Stderr,
		StorePerDay: *scalePerDay,
	})
	b.StopTimer()
	if rep != nil {
		if werr := rep.Write(os.Stdout); werr != nil {
			b.Fatal(werr)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	r, err := rep.Ratios()
	if err != nil {
		b.Fatal(err)
	}
	last := rep.Days[len(rep.Days)-1]
	b.ReportMetric(last.RowsPerSecond(), "rows/s-last-day")
	b.ReportMetric(r.QueryP99, "query-p99-ratio")
	b.ReportMetric(r.PeakRSS, "peak-rss-ratio")
}

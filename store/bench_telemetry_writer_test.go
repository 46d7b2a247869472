package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
	"github.com/ransomeye/intel/tuning"
)

// edgeAt is row i of the set as an agent sends it.
func (ts *telemetrySet) edgeAt(i int) graph.TelemetryEdge {
	r := ts.rows[i]
	return graph.TelemetryEdge{Src: ts.nodes[r.src], Relation: telemetryRelations[r.relation],
		Dst: ts.nodes[r.dst], AgentID: ts.agent(r), ObservedAt: r.at, Props: ts.props(r)}
}

// callerBatches cuts the rows, in time order, into batches of 100 to 500
// rows: [from, to) each.
func callerBatches(rows int) [][2]int {
	rng := rand.New(rand.NewPCG(3, 4))
	var out [][2]int
	for from := 0; from < rows; {
		to := min(rows, from+100+rng.IntN(401))
		out = append(out, [2]int{from, to})
		from = to
	}
	return out
}

// concurrentRun is what one run of a writer gave.
type concurrentRun struct {
	wall   time.Duration
	calls  latencies       // closed loop: from the call; open loop: from its scheduled time
	starts []time.Duration // of each call (open loop: its scheduled time), since the run began (same order)
	// offered is the open loop's offered rate (rows/s), 0 for a closed loop.
	offered float64
}

// poissonSchedule is when an open-loop run submits each batch, since its
// start: arrivals of a Poisson process (exponential gaps, seeded) whose
// mean rate is rowsPerSec rows a second.
func poissonSchedule(batches [][2]int, rowsPerSec float64) []time.Duration {
	rng := rand.New(rand.NewPCG(5, 6))
	perBatch := float64(batches[len(batches)-1][1]) / float64(len(batches))
	perSec := rowsPerSec / perBatch // batches a second
	out := make([]time.Duration, len(batches))
	var at float64
	for i := range out {
		out[i] = time.Duration(at * float64(time.Second))
		at += rng.ExpFloat64() / perSec
	}
	return out
}

// steady is the latencies of the calls that began after the first fifth
// of the run: without the first wave, in which every caller's first batch
// waits for the endpoint nodes of an empty database to be written.
func (r concurrentRun) steady() latencies {
	var out latencies
	for i, at := range r.starts {
		if at >= r.wall/5 {
			out = append(out, r.calls[i])
		}
	}
	return out
}

// BenchmarkTelemetryConcurrent compares one streaming caller (one
// AppendTelemetry of every row) with 32 and 128 concurrent callers, each
// appending batches of 100–500 rows of 50,000 agents through one shared
// TelemetryWriter sized by tuning (Plan.TelemetryStreams: one per core),
// and, for reference, 128 callers through a writer with twice the streams
// (the plan's rule until 2026-12-05, at most half the pool), and 128
// callers each calling AppendTelemetry on their own. These
// are closed loops: every caller always has a call out, so by Little's law
// the mean call takes callers × rows per batch ÷ rows/s, which the table
// prints beside the measured mean. The open loop is what 50,000 agents
// do: 128 callers submit the batches on a Poisson schedule whose rate is
// 0.8× the stream's in the same round, and each call is timed from when
// it was due (a caller that falls behind counts its lag); it prints the
// offered and achieved rows/s (keeping up: achieved ≈ offered).
//
// The variants alternate in each round, each into a fresh database with
// the week's day partitions made; the best round counts. It prints rows/s,
// mean, p50/p99 call latency, the p99 of the calls begun (or due) after
// the first fifth of the run (the first wave writes the endpoint nodes of
// an empty database) and the ratio to the stream (goal: 128 callers ≥
// 0.8× with p99 < 1 s).
//
//	make bench BENCH=TelemetryConcurrent
//	INTEL_BENCH_WRITER_ROWS=1000000 INTEL_BENCH_WRITER_ROUNDS=3 make bench BENCH=TelemetryConcurrent
//	INTEL_BENCH_WRITER_ONLY='128 callers, TelemetryWriter' make bench BENCH=TelemetryConcurrent
//
// INTEL_BENCH_WRITER_ROWS sets the rows per run (200,000; 1,000,000 with
// INTEL_BENCH_SIZE=full), INTEL_BENCH_WRITER_ROUNDS the rounds (2),
// INTEL_BENCH_COPY_NODES the endpoint nodes (50,000), and
// INTEL_BENCH_WRITER_ONLY (a regexp of variant names) runs only those
// variants beside the stream.
func BenchmarkTelemetryConcurrent(b *testing.B) {
	cfg := loadBenchConfig(b)
	ctx := context.Background()
	rows := envInt(b, "INTEL_BENCH_WRITER_ROWS", map[bool]int{false: 200_000, true: 1_000_000}[cfg.full])
	rounds := max(1, envInt(b, "INTEL_BENCH_WRITER_ROUNDS", 2))
	plan, err := tuning.LocalPlan()
	if err != nil {
		b.Fatalf("plan: %v", err)
	}
	ts := newTelemetrySet(rows, cfg.copyNodes, time.Now().UTC())
	batches := callerBatches(rows)

	newStore := func(pool *pgxpool.Pool) *store.Store {
		return store.NewStore(pool, store.WithLogger(quietLogger), store.WithBatchSize(plan.BatchSize),
			store.WithWriters(plan.Writers), store.WithEndpointCache(plan.EndpointCacheKeys),
			store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{Logger: quietLogger})))
	}
	edgesOf := func(i int) []graph.TelemetryEdge {
		edges := make([]graph.TelemetryEdge, 0, batches[i][1]-batches[i][0])
		for j := batches[i][0]; j < batches[i][1]; j++ {
			edges = append(edges, ts.edgeAt(j))
		}
		return edges
	}
	// callers runs n goroutines that append batches with call, timing
	// every call. Closed loop (at == nil): each takes the next batch as
	// soon as its call returns. Open loop: batch i is due at at[i] after
	// the start, caller i%n submits it then (or when its previous call
	// returns, if later), and its latency counts from at[i], so a caller
	// that falls behind counts its lag.
	callers := func(n int, at []time.Duration, call func(context.Context, []graph.TelemetryEdge) error) (concurrentRun, error) {
		var next atomic.Int64
		var mu sync.Mutex
		var run concurrentRun
		var firstErr error
		var wg sync.WaitGroup
		start := time.Now()
		for c := range n {
			wg.Go(func() {
				var mine, begun latencies
				for k := 0; ; k++ {
					i := int(next.Add(1)) - 1
					if at != nil {
						i = c + k*n
					}
					if i >= len(batches) {
						break
					}
					edges := edgesOf(i)
					t := time.Now()
					if at != nil {
						t = start.Add(at[i])
						time.Sleep(time.Until(t))
					}
					err := call(ctx, edges)
					mine, begun = append(mine, time.Since(t)), append(begun, t.Sub(start))
					if err != nil {
						mu.Lock()
						firstErr = firstError(firstErr, err)
						mu.Unlock()
						return
					}
				}
				mu.Lock()
				run.calls = append(run.calls, mine...)
				run.starts = append(run.starts, begun...)
				mu.Unlock()
			})
		}
		wg.Wait()
		run.wall = time.Since(start)
		return run, firstErr
	}
	// lastStream is the stream's rate in the current round: the open
	// loop offers openLoad of it.
	var lastStream float64
	const openLoad = 0.8
	throughWriter := func(n, streams int, open bool) func(*pgxpool.Pool) (concurrentRun, error) {
		return func(pool *pgxpool.Pool) (concurrentRun, error) {
			var at []time.Duration
			var offered float64
			if open {
				at = poissonSchedule(batches, openLoad*lastStream)
				offered = rate(rows, at[len(at)-1]) // as drawn
			}
			w := newStore(pool).NewTelemetryWriter(store.TelemetryWriterOptions{Streams: streams})
			start := time.Now()
			run, err := callers(n, at, func(ctx context.Context, edges []graph.TelemetryEdge) error {
				_, err := w.Append(ctx, edges)
				return err
			})
			if cerr := w.Close(ctx); err == nil {
				err = cerr
			}
			run.wall, run.offered = time.Since(start), offered
			return run, err
		}
	}
	twice := max(1, min(2*plan.TelemetryStreams, int(plan.MaxConns)/2)) // the plan's rule before 2026-12-05
	w32 := &writerVariant{name: "32 callers, TelemetryWriter", run: throughWriter(32, plan.TelemetryStreams, false)}
	w128 := &writerVariant{name: "128 callers, TelemetryWriter", run: throughWriter(128, plan.TelemetryStreams, false)}
	open := &writerVariant{name: fmt.Sprintf("128 callers, TelemetryWriter, open loop at %.1fx the stream", openLoad),
		run: throughWriter(128, plan.TelemetryStreams, true)}
	variants := []*writerVariant{
		{name: "1 streaming caller (one AppendTelemetry)", run: func(pool *pgxpool.Pool) (concurrentRun, error) {
			start := time.Now()
			_, err := newStore(pool).AppendTelemetry(ctx, ts.edges(nil, false))
			wall := time.Since(start)
			lastStream = rate(rows, wall)
			return concurrentRun{wall: wall}, err
		}},
		w32, w128, open,
		{name: fmt.Sprintf("128 callers, TelemetryWriter, %d streams (twice the cores)", twice),
			run: throughWriter(128, twice, false)},
		{name: fmt.Sprintf("128 callers, TelemetryWriter, %d streams (twice the cores), open loop", twice),
			run: throughWriter(128, twice, true)},
		{name: "128 callers, AppendTelemetry each", run: func(pool *pgxpool.Pool) (concurrentRun, error) {
			gs := newStore(pool)
			return callers(128, nil, func(ctx context.Context, edges []graph.TelemetryEdge) error {
				_, err := gs.AppendTelemetry(ctx, store.SliceEdges(edges))
				return err
			})
		}},
	}
	if only := os.Getenv("INTEL_BENCH_WRITER_ONLY"); only != "" {
		re, err := regexp.Compile(only)
		if err != nil {
			b.Fatalf("INTEL_BENCH_WRITER_ONLY: %v", err)
		}
		stream := variants[0] // always run: the others are measured against it
		variants = slices.DeleteFunc(variants, func(v *writerVariant) bool { return v != stream && !re.MatchString(v.name) })
	}
	var loads []string
	for b.Loop() {
		for range rounds {
			for _, v := range variants {
				_, pool := telemetryDB(b, ts)
				run, err := v.run(pool)
				if err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
				checkTelemetry(b, pool, ts, v.name)
				v.runs = append(v.runs, run)
				pool.Close()
				loads = append(loads, loadAverage())
			}
		}
	}

	bestRun := func(v *writerVariant) concurrentRun {
		r := v.runs[0]
		for _, x := range v.runs[1:] {
			if x.wall < r.wall {
				r = x
			}
		}
		return r
	}
	stream := rate(rows, bestRun(variants[0]).wall)
	perBatch := float64(rows) / float64(len(batches))
	r := newReport(fmt.Sprintf("telemetry from many callers: %d rows of 50,000 agents among %d endpoint nodes, batches of 100-500 rows (%d calls), best of %d round(s), alternating",
		rows, len(ts.nodes), len(batches), rounds))
	r.row("writer", "rows/s", "vs stream", "mean call", "Little's law", "p50 call", "p99 call", "p99 after 1st fifth", "all rounds")
	for _, v := range variants {
		br := bestRun(v)
		var all []string
		for _, x := range v.runs {
			all = append(all, fmtRate(rate(rows, x.wall)))
		}
		mean, little, p50, p99, steady := "-", "-", "-", "-", "-"
		if len(br.calls) > 0 {
			mean, p50, p99, steady = ms(br.calls.mean()), ms(br.calls.percentile(50)), ms(br.calls.percentile(99)), ms(br.steady().percentile(99))
			if br.offered == 0 { // closed loop: every caller always has a call out
				little = ms(time.Duration(float64(callersOf(v.name)) * perBatch / rate(rows, br.wall) * float64(time.Second)))
			}
		}
		r.row(v.name, fmtRate(rate(rows, br.wall)), fmtRatio(rate(rows, br.wall)/stream), mean, little, p50, p99, steady, strings.Join(all, " "))
	}
	r.flush()
	note("Little's law: in a closed loop every caller always has a call out, so the mean call takes callers x rows per batch (%.0f) / rows/s;", perBatch)
	note("  p99 < 1 s with 128 callers would need ~%.0fk rows/s. The open loop submits on a Poisson schedule at %.1fx the stream's rate of", 128*perBatch/1000, openLoad)
	note("  the same round, as 50,000 agents would, and times each call from when it was due.")
	for _, v := range variants {
		for i, x := range v.runs {
			if x.offered == 0 {
				continue
			}
			achieved := rate(rows, x.wall)
			note("%s, round %d: offered %s, achieved %s (%s of offered), p50 %s, p99 %s, p99 after 1st fifth %s",
				v.name, i+1, fmtRate(x.offered), fmtRate(achieved), fmtRatio(achieved/x.offered), ms(x.calls.percentile(50)),
				ms(x.calls.percentile(99)), ms(x.steady().percentile(99)))
		}
	}
	note("TelemetryWriter: %d streams (tuning Plan.TelemetryStreams), pool %d conns (tuning), batch size %d, writers %d",
		plan.TelemetryStreams, plan.MaxConns, plan.BatchSize, plan.Writers)
	note("load average after each run: %s", strings.Join(loads, " | "))
	b.ReportMetric(stream, "stream-rows/s")
	if len(w32.runs) > 0 {
		b.ReportMetric(rate(rows, bestRun(w32).wall), "writer32-rows/s")
	}
	if len(open.runs) > 0 {
		best := bestRun(open)
		b.ReportMetric(rate(rows, best.wall)/best.offered, "open-achieved/offered")
		b.ReportMetric(msf(best.calls.percentile(99)), "open-p99-ms")
	}
	if len(w128.runs) > 0 {
		best := bestRun(w128)
		b.ReportMetric(rate(rows, best.wall), "writer128-rows/s")
		b.ReportMetric(rate(rows, best.wall)/stream, "ratio128")
		b.ReportMetric(msf(best.calls.percentile(99)), "p99-128-ms")
		b.ReportMetric(msf(best.steady().percentile(99)), "steady-p99-128-ms")
	}
}

// writerVariant is one way of writing the rows, and its runs.
type writerVariant struct {
	name string
	run  func(*pgxpool.Pool) (concurrentRun, error)
	runs []concurrentRun
}

// callersOf is the number of callers a variant's name starts with (1 for
// the stream).
func callersOf(name string) int {
	n, err := strconv.Atoi(name[:strings.IndexByte(name, ' ')])
	if err != nil {
		return 1
	}
	return n
}

// firstError keeps the first error.
func firstError(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// loadAverage is the 1-minute load average, or "?".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

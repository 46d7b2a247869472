package main_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

// The shapes of BenchmarkIngestTelemetryCLI: the two inputs.
var telemetryShapes = []telemetryShape{
	{name: "1M lines, 50k endpoints", lines: 1_000_000, endpoints: 50_000},
	{name: "300k lines, a new process each", lines: 300_000, endpoints: 20_000, newProcesses: true},
}

// BenchmarkIngestTelemetryCLI compares `intel ingest telemetry FILE` (the
// built binary) with `psql \copy` of the same edge rows into the same
// table, on each shape of telemetryShapes generated with a fixed seed:
// every run loads into a fresh database with the seven day partitions made,
// the two alternate (psql first in odd rounds, intel first in even ones),
// and the best of the rounds is compared. The edge rows psql loads are
// those intel wrote: a first, unmeasured intel load is exported with
// `\copy telemetry_edges TO` as CSV. intel also writes the endpoint nodes,
// the implied file → hash records and its checkpoint, which \copy does
// not. INTEL_BENCH_ROUNDS sets the rounds (default 3),
// INTEL_BENCH_CLI_SCALE scales the line counts (default 1), and
// INTEL_BENCH_CLI_BASE names another intel binary (say, built from main)
// that alternates with the two as a third loader, for a before/after in
// the same run.
func BenchmarkIngestTelemetryCLI(b *testing.B) {
	rounds := int(envPositive(b, "INTEL_BENCH_ROUNDS", 3))
	scale := envPositive(b, "INTEL_BENCH_CLI_SCALE", 1)
	psql, err := exec.LookPath("psql")
	if err != nil {
		psql = "/usr/lib/postgresql/15/bin/psql"
	}
	bin := intelBinary(b)
	base := os.Getenv("INTEL_BENCH_CLI_BASE")
	now := time.Now().UTC()
	for b.Loop() {
		for _, shape := range telemetryShapes {
			shape.lines = max(int(float64(shape.lines)*scale), 1)
			shape.endpoints = max(int(float64(shape.endpoints)*scale), 10)
			benchShape(b, bin, base, psql, shape, rounds, now)
		}
	}
}

// cliRun is the outcome of one timed load.
type cliRun struct {
	wall, cpu time.Duration // cpu: the client process's user + system time
	load      string        // the load average when it ended
}

func benchShape(b *testing.B, bin, base, psql string, shape telemetryShape, rounds int, now time.Time) {
	dir := b.TempDir()
	file := filepath.Join(dir, "telemetry.ndjson")
	if err := writeTelemetryFile(file, shape, 1, now); err != nil {
		b.Fatalf("write telemetry: %v", err)
	}
	rowsFile := filepath.Join(dir, "edges.csv")
	// The first load, not measured, gives the rows \copy loads.
	dsn, pool := benchTelemetryDB(b, now)
	if _, err := runIntel(bin, dsn, file); err != nil {
		b.Fatalf("intel: %v", err)
	}
	edges := countEdges(b, pool)
	endpoints := countRows(b, pool, "SELECT count(*) FROM nodes")
	if _, err := runPsql(psql, dsn, fmt.Sprintf(`\copy (SELECT %s FROM telemetry_edges) TO '%s' WITH (FORMAT csv)`, edgeColumns, rowsFile)); err != nil {
		b.Fatalf("export the edge rows: %v", err)
	}
	pool.Close()

	loaders := []string{"psql", "intel"}
	if base != "" {
		loaders = append(loaders, "base")
	}
	runs := map[string][]cliRun{}
	for round := range rounds {
		order := slices.Clone(loaders)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, who := range order {
			dsn, pool := benchTelemetryDB(b, now)
			var r cliRun
			var err error
			switch who {
			case "intel":
				r, err = runIntel(bin, dsn, file)
			case "base":
				r, err = runIntel(base, dsn, file)
			default:
				r, err = runPsql(psql, dsn, fmt.Sprintf(`\copy telemetry_edges (%s) FROM '%s' WITH (FORMAT csv)`, edgeColumns, rowsFile))
			}
			runs[who] = append(runs[who], r)
			if err != nil {
				b.Fatalf("%s: %v", who, err)
			}
			if got := countEdges(b, pool); got != edges {
				b.Fatalf("%s stored %d edges, want %d", who, got, edges)
			}
			pool.Close()
		}
	}
	intelRuns, psqlRuns := runs["intel"], runs["psql"]
	bestIntel, bestPsql := bestRun(intelRuns), bestRun(psqlRuns)
	ratio := bestPsql.wall.Seconds() / bestIntel.wall.Seconds()
	fmt.Printf("\nintel ingest telemetry vs psql \\copy: %s (%d lines, %d edges stored, %d nodes), best of %d, alternating\n",
		shape.name, shape.lines, edges, endpoints, rounds)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "loader\tbest\trows/s\tvs psql\tclient CPU (best run)\tall runs: wall, client CPU (load average at the end)")
	for _, l := range []struct {
		name string
		runs []cliRun
	}{{`psql \copy (CSV of intel's rows)`, psqlRuns}, {"intel ingest telemetry FILE", intelRuns}, {"the same, INTEL_BENCH_CLI_BASE", runs["base"]}} {
		if len(l.runs) == 0 {
			continue
		}
		best := bestRun(l.runs)
		var all []string
		for _, r := range l.runs {
			all = append(all, fmt.Sprintf("%.2fs, CPU %.2fs (%s)", r.wall.Seconds(), r.cpu.Seconds(), r.load))
		}
		_, _ = fmt.Fprintf(tw, "%s\t%.2fs\t%.0f\t%.2fx\t%.2fs\t%s\n", l.name, best.wall.Seconds(), float64(edges)/best.wall.Seconds(),
			bestPsql.wall.Seconds()/best.wall.Seconds(), best.cpu.Seconds(), strings.Join(all, ", "))
	}
	if err := tw.Flush(); err != nil {
		b.Fatalf("print: %v", err)
	}
	b.ReportMetric(ratio, strings.ReplaceAll(shape.name, " ", "_")+"-ratio")
}

const edgeColumns = "src_id, dst_id, relation, agent_id, observed_at, props"

// benchTelemetryDB is a fresh migrated database with the day partitions of
// the seven days ending at now made.
func benchTelemetryDB(b *testing.B, now time.Time) (string, *pgxpool.Pool) {
	b.Helper()
	dsn := pgtest.DSN(b)
	pool := pgtest.PoolFor(b, dsn)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var days []time.Time
	for d := -6; d <= 0; d++ {
		days = append(days, today.AddDate(0, 0, d))
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if _, err := partman.EnsureDays(context.Background(), pool, days, partman.Options{Logger: quiet}); err != nil {
		b.Fatalf("make partitions: %v", err)
	}
	return dsn, pool
}

func runIntel(bin, dsn, file string) (cliRun, error) {
	cmd := exec.Command(bin, "ingest", "telemetry", file)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "DATABASE_URL=" + dsn}
	return timed(cmd)
}

func runPsql(psql, dsn, command string) (cliRun, error) {
	return timed(exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", command))
}

func timed(cmd *exec.Cmd) (cliRun, error) {
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := cliRun{wall: time.Since(start)}
	if cmd.ProcessState != nil {
		r.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if la, lerr := os.ReadFile("/proc/loadavg"); lerr == nil {
		r.load = strings.Join(strings.Fields(string(la))[:3], " ")
	}
	if err != nil {
		return r, fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, out)
	}
	return r, nil
}

func bestRun(runs []cliRun) cliRun {
	return slices.MinFunc(runs, func(a, b cliRun) int { return cmp.Compare(a.wall, b.wall) })
}

func countEdges(b *testing.B, pool *pgxpool.Pool) int64 {
	return countRows(b, pool, "SELECT count(*) FROM telemetry_edges")
}

func countRows(b *testing.B, pool *pgxpool.Pool, query string) int64 {
	b.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), query).Scan(&n); err != nil {
		b.Fatalf("%s: %v", query, err)
	}
	return n
}

// envPositive is the positive number in the environment variable name, or
// def when it is unset.
func envPositive(b *testing.B, name string, def float64) float64 {
	b.Helper()
	if v, ok := os.LookupEnv(name); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			b.Fatalf("%s=%q: want a positive number", name, v)
		}
		return f
	}
	return def
}

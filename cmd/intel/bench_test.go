package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

func TestBenchGenIsDeterministic(t *testing.T) {
	t.Parallel()
	gen := func(dir string) (tel, bundle, events []byte) {
		paths := []string{filepath.Join(dir, "t.ndjson"), filepath.Join(dir, "s.json"), filepath.Join(dir, "m.json")}
		runOK(t, "bench", "gen", "--agents", "50", "--days", "2", "--rows-per-day", "400", "--indicators", "30",
			"--seed", "4", "--start", "2026-11-01", "--telemetry", paths[0], "--stix", paths[1], "--misp", paths[2])
		var out [3][]byte
		for i, p := range paths {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NotEmpty(t, b)
			out[i] = b
		}
		return out[0], out[1], out[2]
	}
	t1, s1, m1 := gen(t.TempDir())
	t2, s2, m2 := gen(t.TempDir())
	require.Equal(t, t1, t2)
	require.Equal(t, s1, s2)
	require.Equal(t, m1, m2)
	require.Contains(t, string(t1), `"observed_at":"2026-11-02T`, "day 2 of the given start")

	stdout := runOK(t, "bench", "gen", "--agents", "50", "--days", "2", "--rows-per-day", "400", "--indicators", "30",
		"--seed", "4", "--start", "2026-11-01", "--telemetry", "-")
	require.Equal(t, string(t1), stdout, "- writes to standard output")
}

func TestBenchUsageErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"bench", "gen"}, "give at least one of --telemetry, --stix, --misp"},
		{[]string{"bench", "gen", "--telemetry", "-", "--agents", "0"}, "--agents 0: want 1 to 10000000"},
		{[]string{"bench", "gen", "--telemetry", "-", "--start", "yesterday"}, `--start "yesterday": want YYYY-MM-DD`},
		{[]string{"bench", "gen", "--telemetry", "-", "--min-batch", "300", "--max-batch", "200"}, "--max-batch 200 is below --min-batch 300"},
		{[]string{"bench", "scale", "--writers", "0"}, "--writers 0: want 1 to 10000"},
		{[]string{"bench", "scale", "--keep", "soon"}, `--keep "soon"`},
		{[]string{"bench", "frobnicate"}, `unknown command "frobnicate" for "intel bench"`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runCLI(t, tc.args...)
			require.Equal(t, exitUsage, code, "stdout: %s\nstderr: %s", stdout, stderr)
			require.Contains(t, stderr, tc.want)
		})
	}
}

func TestBenchScale(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	stdout := runOK(t, "--database-url="+dsn, "bench", "scale", "--agents", "20", "--days", "2", "--rows-per-day", "600",
		"--indicators", "30", "--writers", "3", "--queriers", "1", "--query-interval", "5ms", "--keep", "1d")
	require.Contains(t, stdout, "sustained load: 20 agents, 2 simulated days")
	require.Regexp(t, `(?m)^ +2 +\d{4}-\d{2}-\d{2} +\d+`, stdout, "a row for day 2")
	require.Contains(t, stdout, "day 2 / day 1: rows/s")

	// Now the database holds a graph: a second run refuses it.
	_, stderr, code := runCLI(t, "--database-url="+dsn, "bench", "scale", "--agents", "20", "--days", "1")
	require.Equal(t, exitFailure, code)
	require.Contains(t, stderr, "point --database-url at a scratch database")
	var n int64
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(context.Background(), "SELECT count(*) FROM telemetry_edges").Scan(&n))
	require.Positive(t, n)
}

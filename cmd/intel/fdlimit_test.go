package main_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestConcurrencyWithinTheOpenFileLimit: `intel ingest feeds --concurrency
// 120` of 120 feeds under `ulimit -n 40` loads every feed (exit 0), fewer
// at once than asked, with one WARN saying so. Before, each feed past the
// limit failed at once with `open feed: open …: too many open files`, and
// those failures drained the rest of the list: 96 of 120 failed, exit 1.
func TestConcurrencyWithinTheOpenFileLimit(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	const n = 120
	var list strings.Builder
	list.WriteString("feeds:\n")
	for i := range n {
		name := fmt.Sprintf("f%03d", i)
		bundle := fmt.Sprintf(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-%012d","objects":[`+
			`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-%012d",`+
			`"created":"2026-01-01T00:00:00Z","modified":"2026-01-01T00:00:00Z","name":"fdlimit %d","is_family":true}]}`, i, i, i)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".json"), []byte(bundle), 0o644))
		fmt.Fprintf(&list, "  - name: %s\n    path: %s.json\n    format: stix\n", name, name)
	}
	feeds := filepath.Join(dir, "feeds.yaml")
	require.NoError(t, os.WriteFile(feeds, []byte(list.String()), 0o644))

	// ulimit -n sets the soft and the hard limit: Go cannot raise it.
	cmd := exec.Command("sh", "-c", `ulimit -n 40 && exec "$0" "$@"`, intelBinary(t),
		"ingest", "feeds", feeds, "--concurrency", fmt.Sprint(n))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "INTEL_STATE_DIR=" + t.TempDir(), "DATABASE_URL=" + dsn}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	require.NoError(t, err, "%.300s", lines[len(lines)-1])
	require.NotContains(t, stdout.String()+stderr.String(), "too many open files")
	require.Equal(t, n, strings.Count(stdout.String(), ": ok\n"), stdout.String())
	require.Contains(t, stderr.String(), `msg="fewer feeds load at once than asked: the open-file limit would be reached (ulimit -n); raise it to load more at once" concurrency=120`)
	require.Contains(t, stderr.String(), "open_file_limit=40")

	var loaded int
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(t.Context(), `SELECT count(*) FROM feeds WHERE last_status = 'ok'`).Scan(&loaded))
	require.Equal(t, n, loaded)
}

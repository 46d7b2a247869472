package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// rerunAt is when the lines of rerunLines were observed: one instant, so
// a line written twice is the same line.
var rerunAt = time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)

// rerunLines is telemetry lines from..to-1 of agent, each its own edge
// (props.i says which).
func rerunLines(agent string, from, to int) []byte {
	at := rerunAt
	var b bytes.Buffer
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, `{"src":{"kind":"process","key":"%s-%d:4242"},"relation":"connected-to","dst":"url:http://c2.example/%d","agent_id":%q,"observed_at":%q,"props":{"i":%d}}`+"\n",
			agent, i%50, i%300, agent, at, i)
	}
	return b.Bytes()
}

// rerunCounts is how many edges are stored and how many of them are
// distinct lines (agent, props.i).
func rerunCounts(t *testing.T, dsn string) (rows, distinct int) {
	t.Helper()
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(context.Background(),
		`SELECT count(*), count(DISTINCT (agent_id, props->>'i')) FROM telemetry_edges`).Scan(&rows, &distinct))
	return rows, distinct
}

// ingestFile loads path with intel ingest telemetry and returns its JSON
// report and stderr; it must exit 0.
func ingestFile(t *testing.T, dsn, path string) (report, stderr string) {
	t.Helper()
	stdout, stderr, code := runCLI(t, "--database-url="+dsn, "ingest", "telemetry", path, "--format", "json")
	require.Equal(t, exitOK, code, "stdout: %s\nstderr: %s", stdout, stderr)
	return stdout, stderr
}

// TestTelemetryRerunOfATruncatedFile: a file loaded, then truncated to its
// first half and loaded again. Its checkpoint was the hash of the whole
// content, so the half was a new input: all its rows were stored a second
// time, exit 0, no warning. It is a prefix of what was loaded: nothing is
// stored again, and the load warns that the input shrank. Lines appended
// to it later load alone.
func TestTelemetryRerunOfATruncatedFile(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const n = 6000
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	require.NoError(t, os.WriteFile(path, rerunLines("ws", 0, n), 0o600))
	ingestFile(t, dsn, path)
	rows, _ := rerunCounts(t, dsn)
	require.Equal(t, n, rows)

	require.NoError(t, os.WriteFile(path, rerunLines("ws", 0, n/2), 0o600))
	report, stderr := ingestFile(t, dsn, path)
	rows, distinct := rerunCounts(t, dsn)
	require.Equal(t, n, rows, "the truncated half was stored again\n%s\n%s", report, stderr)
	require.Equal(t, n, distinct)
	require.Contains(t, stderr, "telemetry input shrank")
	require.Contains(t, report, `"kind": "shrunk"`)

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(rerunLines("ws", n, n+100))
	require.NoError(t, f.Close())
	require.NoError(t, err)
	report, _ = ingestFile(t, dsn, path)
	rows, distinct = rerunCounts(t, dsn)
	require.Equal(t, n+100, rows, "lines appended to the truncated file")
	require.Equal(t, n+100, distinct)
	require.Contains(t, report, `"kind": "appended"`)
}

// TestTelemetryRerunOfAnAppendedFile: a file appended to (a log shipper)
// and loaded again stored every line again; only the new lines are
// stored, and the report says the file was appended to. A third run
// stores nothing.
func TestTelemetryRerunOfAnAppendedFile(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	require.NoError(t, os.WriteFile(path, rerunLines("ws", 0, 5000), 0o600))
	ingestFile(t, dsn, path)

	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.Write(rerunLines("ws", 5000, 7000))
	require.NoError(t, f.Close())
	require.NoError(t, err)
	report, stderr := ingestFile(t, dsn, path)
	rows, distinct := rerunCounts(t, dsn)
	require.Equal(t, 7000, rows, "the appended file was stored again")
	require.Equal(t, 7000, distinct)
	require.Contains(t, report, `"kind": "appended"`)
	require.Contains(t, report, `"edges": 2000`)
	require.Contains(t, stderr, "telemetry file appended to")

	report, _ = ingestFile(t, dsn, path)
	rows, _ = rerunCounts(t, dsn)
	require.Equal(t, 7000, rows)
	require.Contains(t, report, `"kind": "resume"`)

	// One copy of the line hashes per input, the last content's, not one
	// per load of a file that grows.
	var rowsKept, withHashes int
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(context.Background(),
		`SELECT count(*), count(line_hashes) FROM telemetry_checkpoints`).Scan(&rowsKept, &withHashes))
	require.Equal(t, 2, rowsKept)
	require.Equal(t, 1, withHashes)
}

// TestTelemetryRerunOfARewrittenFile: a file rewritten with other content
// under the same path loads as new content (no false skip), and says so;
// one rewritten from some line on keeps the lines before it (stored
// already) and loads the rest.
func TestTelemetryRerunOfARewrittenFile(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	require.NoError(t, os.WriteFile(path, rerunLines("ws", 0, 3000), 0o600))
	ingestFile(t, dsn, path)

	require.NoError(t, os.WriteFile(path, rerunLines("other", 0, 2000), 0o600))
	report, stderr := ingestFile(t, dsn, path)
	rows, distinct := rerunCounts(t, dsn)
	require.Equal(t, 5000, rows, "the rewritten file was not stored")
	require.Equal(t, 5000, distinct)
	require.Contains(t, report, `"kind": "changed"`)
	require.Contains(t, stderr, "telemetry file rewritten")

	// The same first 1,000 lines, then others.
	require.NoError(t, os.WriteFile(path, append(rerunLines("other", 0, 1000), rerunLines("third", 0, 1500)...), 0o600))
	ingestFile(t, dsn, path)
	rows, distinct = rerunCounts(t, dsn)
	require.Equal(t, 6500, rows)
	require.Equal(t, 6500, distinct)
}

// TestTelemetryRerunOfAFileCutMidLine: truncated inside a line, the file
// shares its whole lines with what was loaded: those are not stored again;
// the cut line, now other content (here not JSON), is read as new.
func TestTelemetryRerunOfAFileCutMidLine(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	content := rerunLines("ws", 0, 1000)
	require.NoError(t, os.WriteFile(path, content, 0o600))
	ingestFile(t, dsn, path)
	require.NoError(t, os.WriteFile(path, content[:len(content)/2], 0o600))
	stdout, stderr, code := runCLI(t, "--database-url="+dsn, "ingest", "telemetry", path, "--format", "json")
	rows, distinct := rerunCounts(t, dsn)
	require.Equal(t, 1000, rows, "stdout: %s\nstderr: %s (exit %d)", stdout, stderr, code)
	require.Equal(t, 1000, distinct)
}

// TestTelemetryRerunOfAFileReadBeforeItsLastLineEnded: a file loaded
// while its writer had written its last line but not yet the line's end
// ("\n", or "\r\n" in a file of CRLF lines, of which it may have written
// the "\r"), then the line's end and more lines written and the file
// loaded again: every line is stored once. Before, the ended line hashed
// otherwise than the line loaded, so the rerun took the file for
// rewritten from that line on (WARN "telemetry file rewritten") and
// stored its edge a second time: 1,101 rows of 1,100 lines.
func TestTelemetryRerunOfAFileReadBeforeItsLastLineEnded(t *testing.T) {
	t.Parallel()
	crlf := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }
	for _, tc := range []struct {
		name      string
		lines     func([]byte) []byte
		unwritten int // bytes of the last line's end not yet written
	}{
		{"LF", func(b []byte) []byte { return b }, 1},
		{"CRLF", crlf, 2},
		{"CRLF, CR written", crlf, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.DSN(t)
			path := filepath.Join(t.TempDir(), "edr.ndjson")
			content := tc.lines(rerunLines("ws", 0, 1000))
			require.NoError(t, os.WriteFile(path, content[:len(content)-tc.unwritten], 0o600))
			ingestFile(t, dsn, path)
			rows, _ := rerunCounts(t, dsn)
			require.Equal(t, 1000, rows, "a complete last line without its end loads")

			require.NoError(t, os.WriteFile(path, append(content, tc.lines(rerunLines("ws", 1000, 1100))...), 0o600))
			report, stderr := ingestFile(t, dsn, path)
			rows, distinct := rerunCounts(t, dsn)
			require.Equal(t, 1100, distinct)
			require.Equal(t, 1100, rows, "stderr: %s", stderr)
			require.Contains(t, report, `"kind": "appended"`)
			require.NotContains(t, stderr, "rewritten", stderr)
		})
	}
}

// TestTelemetryRerunSaysLinesAlreadyLoadedNotStored: a file of which an
// earlier load stored some lines and dropped others (observed before the
// recorded retention: before-retention) is skipped whole by its rerun,
// which says so of every line the earlier load read, stored or dropped:
// "already loaded 30", not "already stored 30" as it said, which claimed
// the 10 dropped lines were stored.
func TestTelemetryRerunSaysLinesAlreadyLoadedNotStored(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	runOK(t, db, "partitions", "prune", "--keep", "720h")
	lines := rerunLines("rr", 0, 20)
	for i := 20; i < 30; i++ { // ten lines of 1990, long before the retention
		lines = fmt.Appendf(lines, `{"src":{"kind":"process","key":"old-%d:1"},"relation":"connected-to","dst":"url:http://c2.example/old","agent_id":"rr","observed_at":"1990-01-01T00:00:00Z","props":{"i":%d}}`+"\n", i, i)
	}
	path := filepath.Join(t.TempDir(), "retention.ndjson")
	require.NoError(t, os.WriteFile(path, lines, 0o600))
	first := runOK(t, db, "ingest", "telemetry", path)
	require.Contains(t, first, "before-retention")
	rows, _ := rerunCounts(t, dsn)
	require.Equal(t, 20, rows)

	again := runOK(t, db, "ingest", "telemetry", path)
	require.Regexp(t, `already loaded\s+30 \(`, again)
	require.NotContains(t, again, "already stored", again)
	rows, _ = rerunCounts(t, dsn)
	require.Equal(t, 20, rows, "the rerun writes nothing")
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestIngestTelemetryFromAFIFO: a FIFO (or a pipe such as <(zcat f.gz))
// can be read once. The checkpoint's hash used to read it first, so the
// load read nothing and exited 0 (a pipe), or blocked for ever in a second
// open that SIGTERM did not end (a FIFO). It loads like standard input.
func TestIngestTelemetryFromAFIFO(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	fifo := filepath.Join(t.TempDir(), "edr.fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	var lines strings.Builder
	for i := range 5 {
		fmt.Fprintf(&lines, `{"src":"process:fifo-host:%d","relation":"connected-to","dst":"ipv4-addr:10.0.0.%d","agent_id":"fifo-host","observed_at":%q}`+"\n",
			i, i+1, time.Now().UTC().Format(time.RFC3339))
	}
	written := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(lines.String())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		written <- err
	}()
	done := make(chan string, 1)
	go func() {
		done <- runOK(t, "--database-url="+dsn, "ingest", "telemetry", fifo, "--format", "json")
	}()
	select {
	case out := <-done:
		require.Contains(t, out, `"records_read": 5`)
	case <-time.After(time.Minute):
		t.Fatal("intel ingest telemetry of a FIFO did not return (blocked opening it a second time?)")
	}
	require.NoError(t, <-written)
	var n int
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(context.Background(),
		"SELECT count(*) FROM telemetry_edges WHERE agent_id = 'fifo-host'").Scan(&n))
	require.Equal(t, 5, n)
}

// TestIngestTelemetryOfTheWrongInputFails: lines read and not one of them
// an edge (a gzip file, a STIX bundle given as telemetry) is the wrong
// input, as a STIX file loaded as MISP is: exit 1 and an error that says
// so, with the report still printed. It exited 0 with every line counted
// invalid-json. An empty input is a quiet interval and succeeds.
func TestIngestTelemetryOfTheWrongInputFails(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	stix := filepath.Join(dir, "bundle.json")
	require.NoError(t, os.WriteFile(stix, []byte("{\n \"type\": \"bundle\",\n \"objects\": []\n}\n"), 0o600))
	stdout, stderr, code := runCLI(t, "--database-url="+dsn, "ingest", "telemetry", stix)
	require.Equal(t, exitFailure, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Contains(t, stderr, "none of the 4 lines read is a telemetry edge")
	require.Regexp(t, `(?m)^lines +4$`, stdout, "the report is printed")

	empty := filepath.Join(dir, "empty.ndjson")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	runOK(t, "--database-url="+dsn, "ingest", "telemetry", empty)

	// A character device is no input: /dev/zero was read for ever (each
	// 4 MiB "line" a too-large drop) until a signal stopped it.
	stdout, stderr, code = runCLI(t, "--database-url="+dsn, "ingest", "telemetry", "/dev/zero")
	require.Equal(t, exitFailure, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Contains(t, stderr, "/dev/zero is a character device")
}

// TestTelemetryDirectoryIsRefusedAtOnce: ingest telemetry DIR logged that
// it would load the directory "like standard input", failed reading it
// ("read DIR: is a directory") and printed an empty report on stdout; now
// it is refused before any database is reached, saying what to do.
func TestTelemetryDirectoryIsRefusedAtOnce(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	stdout, stderr, code := runCLI(t, noServer, "ingest", "telemetry", dir)
	require.Equal(t, exitFailure, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Empty(t, stdout)
	require.Equal(t, "intel: open telemetry: "+dir+" is a directory: ingest telemetry reads one NDJSON file or - "+
		"(to load several: cat "+dir+"/*.ndjson | intel ingest telemetry -, or list them in intel ingest feeds)\n", stderr)
}

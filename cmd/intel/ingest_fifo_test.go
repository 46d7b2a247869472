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

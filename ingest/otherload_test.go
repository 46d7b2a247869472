package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// syncBuffer is a bytes.Buffer that a logger and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoadWaitsForAnotherProcessLoadingTheFeed: two `intel ingest feeds`
// of the same list at once (a cron run overlapping the last, two
// operators). Before, the second took the feed over from the running
// load, loaded it beside it, and the last to finish overwrote the other's
// report with its own (measured: two processes loading the Unit 42
// HelloKitty bundle at once, the stored report said "inserted 0,
// unchanged 28", the load that wrote the 28 nodes lost). Now a load of a
// feed that another live process is loading waits for that load to end,
// then judges the feed again: the same content is skipped, and the other
// process's bookkeeping is never taken over while it runs.
func TestLoadWaitsForAnotherProcessLoadingTheFeed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	feed := ingest.Feed{Name: "hellokitty", Path: "../testdata/demo/hellokitty-ransomware.json"}
	first := ingest.LoadFeed(ctx, st, feed, ingest.Options{})
	require.Equal(t, ingest.StatusOK, first.Status, first.Error)

	// Another host's process starts loading it again (--force), alive:
	// its heartbeat is fresh.
	_, err := pool.Exec(ctx, `UPDATE feeds SET last_status = 'running', running_host = 'other-host', running_pid = 4242,
		running_pid_start = NULL, started_at = now(), heartbeat_at = now() WHERE name = $1`, feed.Name)
	require.NoError(t, err)

	var logs syncBuffer
	done := make(chan ingest.Result, 1)
	go func() {
		done <- ingest.LoadFeed(ctx, st, feed, ingest.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	}()
	for !strings.Contains(logs.String(), "feed is being loaded by another process") {
		select {
		case r := <-done:
			t.Fatalf("the load did not wait for the other process's: status %s, %v; logs:\n%s", r.Status, r.Error, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	require.Contains(t, logs.String(), "by=\"pid 4242 on other-host\"")
	var host string
	require.NoError(t, pool.QueryRow(ctx, `SELECT running_host FROM feeds WHERE name = $1`, feed.Name).Scan(&host))
	require.Equal(t, "other-host", host, "the running load is not taken over")

	// The other process ends its load.
	_, err = pool.Exec(ctx, `UPDATE feeds SET last_status = 'ok', updated_at = now() WHERE name = $1`, feed.Name)
	require.NoError(t, err)
	r := <-done
	require.Equal(t, ingest.StatusSkipped, r.Status, "the same content, loaded by the other process: %s", r.Error)

	self, err := os.Hostname()
	require.NoError(t, err)
	// A load of a process that is gone (this host, a pid that does not
	// run) is taken over at once, as a rerun after a crash does.
	_, err = pool.Exec(ctx, `UPDATE feeds SET last_status = 'running', running_host = $2, running_pid = 2147483646,
		running_pid_start = 1, started_at = now(), heartbeat_at = now() WHERE name = $1`, feed.Name, self)
	require.NoError(t, err)
	again := ingest.LoadFeed(ctx, st, feed, ingest.Options{})
	require.Equal(t, ingest.StatusOK, again.Status, again.Error)
}

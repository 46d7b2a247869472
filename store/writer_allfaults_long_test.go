package store_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/store"
)

// TestLongTelemetryWriterUnderEveryFault: the faults a service's shared
// TelemetryWriter meets, at once, on a dedicated cluster: 12 callers
// appending in a loop, a third of them cancelled 0-10 ms in (while they
// wait for room, before a stream takes their edges, or while their group
// is written), connections terminated every 40 ms (25 rounds), the server
// stopped (fast: 57P01 to every session) and started 0.7 s later in the
// middle of groups, more kills, then a Close that gives up after 300 ms
// racing a second Close and the callers' next Appends. Every Append
// returns (a caller still waiting after 3 minutes fails the test with the
// writer's state and every goroutine's stack), and each was told the
// truth: nil means all of its edges stored, once; ErrTelemetryWriterClosed,
// a cancellation or a failed write means exactly the pieces its stats
// count are stored; ErrOutcomeUnknown only when a COMMIT's answer was lost.
// It needs INTEL_LONG=1 (it makes a cluster of its own).
func TestLongTelemetryWriterUnderEveryFault(t *testing.T) {
	if os.Getenv("INTEL_LONG") == "" {
		t.Skip("INTEL_LONG=1 runs it")
	}
	ctx := context.Background()
	c, pool := migratedCluster(t, 8)
	var logs lockedBuffer
	st := store.NewStore(pool, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))),
		store.WithRetryPolicy(store.RetryPolicy{Attempts: 30, Base: 5 * time.Millisecond, Max: 500 * time.Millisecond}))
	w := st.NewTelemetryWriter(store.TelemetryWriterOptions{Streams: 3, GroupRows: 40, Linger: time.Millisecond, WriteTimeout: 20 * time.Second})
	_, err := w.Append(ctx, store.WriterBatch("warm", 1))
	require.NoError(t, err)

	results := make(chan callerOutcome, 100000)
	var wg sync.WaitGroup
	stopCallers := make(chan struct{})
	for ci := range 12 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stopCallers:
					return
				default:
				}
				r := cancelledAppend(ctx, w, ci, i, 40)
				results <- r
				if errors.Is(r.err, store.ErrTelemetryWriterClosed) {
					return
				}
			}
		})
	}
	// Kills, then a restart, then kills again, then Close racing the callers.
	stop, _ := terminator(t, pool, 40*time.Millisecond, 25)
	time.Sleep(1500 * time.Millisecond)
	stop()
	require.NoError(t, c.StopChild())
	time.Sleep(700 * time.Millisecond)
	require.NoError(t, c.StartChild(ctx))
	time.Sleep(1500 * time.Millisecond)
	stop, _ = terminator(t, pool, 40*time.Millisecond, 15)
	time.Sleep(500 * time.Millisecond)
	cctx, ccancel := context.WithTimeout(ctx, 300*time.Millisecond)
	closeErr := make(chan error, 2)
	go func() { closeErr <- w.Close(cctx) }()
	go func() { time.Sleep(50 * time.Millisecond); closeErr <- w.Close(ctx) }()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		var stacks strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&stacks, 2)
		t.Fatalf("callers still waiting\nwriter: %s\n%s\nlogs:\n%s", store.WriterState(w), stacks.String(), logs.String())
	}
	close(stopCallers)
	e1, e2 := <-closeErr, <-closeErr
	ccancel()
	stop()
	pool.Reset()
	t.Logf("close: %v / %v", e1, e2)
	close(results)
	kinds := map[string]int{}
	for r := range results {
		stored := store.AgentRows(t, pool, r.agent)
		switch {
		case r.err == nil:
			kinds["nil"]++
			require.Equal(t, r.n, stored, r.agent)
			require.EqualValues(t, r.n, r.st.Edges, r.agent)
		case errors.Is(r.err, store.ErrOutcomeUnknown):
			kinds["unknown"]++
		default:
			k := r.err.Error()
			if errors.Is(r.err, context.Canceled) {
				k = "canceled"
			} else {
				t.Logf("%s: %v", r.agent, r.err)
			}
			kinds[k]++
			require.EqualValues(t, r.st.Edges, stored, "%s: %v", r.agent, r.err)
		}
	}
	t.Logf("outcomes: %v", kinds)
	require.Contains(t, logs.String(), "SQLSTATE 57P01", "the kills and the restart reached the writes")
	require.Positive(t, kinds["nil"])
}

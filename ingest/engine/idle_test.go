package engine_test

import (
	"context"
	"errors"
	"iter"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/store"
)

// pausing is a Source that emits first records, then waits for resume (a
// producer that pauses), then emits then more.
type pausing struct {
	first, then int
	resume      chan struct{}
	read        int64
}

func (s *pausing) Read(ctx context.Context, emit func(engine.Record[int]) error) error {
	for i := range s.first + s.then {
		if i == s.first {
			select {
			case <-s.resume:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		raw := []byte(strconv.Itoa(i))
		if err := emit(engine.Record[int]{Index: int64(i), Offset: s.read, Raw: raw}); err != nil {
			return err
		}
		s.read += int64(len(raw)) + 1
	}
	return nil
}

func (s *pausing) Bytes() int64 { return s.read }

// flushWriter is a TelemetryWriter that records the edges it reads and,
// at each store.ErrFlush, how many it had read; the first flush closes
// flushed.
type flushWriter struct {
	edges   []string
	flushes []int
	flushed chan struct{}
}

func (w *flushWriter) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	for e, err := range edges {
		if errors.Is(err, store.ErrFlush) {
			if len(w.flushes) == 0 {
				close(w.flushed)
			}
			w.flushes = append(w.flushes, len(w.edges))
			continue
		}
		if err != nil {
			return store.TelemetryStats{}, err
		}
		w.edges = append(w.edges, e.AgentID)
	}
	return store.TelemetryStats{Edges: int64(len(w.edges))}, nil
}

// edgeOf maps a record to one valid edge whose agent is the record's text.
func edgeOf(rec engine.Record[int]) engine.Result {
	return engine.Result{Read: 1, Mapped: 1, Edges: []graph.TelemetryEdge{{
		Src: graph.ValueNode(graph.KindIPv4Addr, "192.0.2.1"), Relation: "connected",
		Dst: graph.ValueNode(graph.KindDomainName, "idle.example"), AgentID: string(rec.Raw), ObservedAt: time.Now()}}}
}

// TestIdleFlushWritesWhatAPausedSourceSent: with Options.IdleFlush, the
// edges a source emitted before it paused reach the writer, followed by
// store.ErrFlush, while the source is still paused (before, they waited
// for a full chunk or the end of the input); the edges keep their order
// and none is doubled. Without IdleFlush the writer sees no flush.
func TestIdleFlushWritesWhatAPausedSourceSent(t *testing.T) {
	t.Parallel()
	src := &pausing{first: 3, then: 2, resume: make(chan struct{})}
	w := &flushWriter{flushed: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		done <- engine.RunTelemetry(context.Background(), src, edgeOf, w,
			engine.Options{Feed: "t", Workers: 2, IdleFlush: 20 * time.Millisecond}, &engine.Report{})
	}()
	select {
	case <-w.flushed:
	case <-time.After(20 * time.Second):
		t.Fatal("no flush while the source was paused")
	}
	close(src.resume)
	require.NoError(t, <-done)
	require.Equal(t, []string{"0", "1", "2", "3", "4"}, w.edges)
	require.Equal(t, 3, w.flushes[0], "the edges before the pause, then the flush")

	src = &pausing{first: 3, then: 2, resume: make(chan struct{})}
	close(src.resume)
	w = &flushWriter{flushed: make(chan struct{})}
	require.NoError(t, engine.RunTelemetry(context.Background(), src, edgeOf, w, engine.Options{Feed: "t"}, &engine.Report{}))
	require.Empty(t, w.flushes)
	require.Len(t, w.edges, 5)
}

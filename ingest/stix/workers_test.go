package stix

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// batchSink keeps every batch written, as written.
type batchSink struct {
	dry     engine.DrySink
	mu      sync.Mutex
	batches []graph.Batch
}

func (s *batchSink) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, b)
	return s.dry.Write(ctx, b)
}

// TestBatchesDoNotDependOnWorkers: the same feed gives the same batches
// with 1, 2 and 8 workers.
func TestBatchesDoNotDependOnWorkers(t *testing.T) {
	t.Parallel()
	feed, err := io.ReadAll(newGenerator(3000, 0))
	require.NoError(t, err)
	var want []graph.Batch
	for _, workers := range []int{1, 2, 8} {
		sink := &batchSink{}
		_, err := Load(context.Background(), bytes.NewReader(feed), sink, Options{Feed: "workers", Workers: workers, BatchSize: 97, Logger: quietLogger})
		require.NoError(t, err)
		require.NotEmpty(t, sink.batches)
		if want == nil {
			want = sink.batches
			continue
		}
		require.Equal(t, want, sink.batches, "%d workers", workers)
	}
}

package stix

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/sinktest"
)

// TestBatchesDoNotDependOnWorkers: the same feed gives the same batches
// with 1, 2 and 8 workers.
func TestBatchesDoNotDependOnWorkers(t *testing.T) {
	t.Parallel()
	feed, err := io.ReadAll(newGenerator(3000, 0))
	require.NoError(t, err)
	var want []graph.Batch
	for _, workers := range []int{1, 2, 8} {
		sink := &sinktest.Recorder{}
		_, err := Load(context.Background(), bytes.NewReader(feed), sink, Options{Feed: "workers", Workers: workers, BatchSize: 97, Logger: quietLogger})
		require.NoError(t, err)
		require.NotEmpty(t, sink.Batches)
		if want == nil {
			want = sink.Batches
			continue
		}
		require.Equal(t, want, sink.Batches, "%d workers", workers)
	}
}

// Package sinktest gives loader tests a graph.Sink that keeps every batch
// written, as written, so a test can compare what two runs wrote.
package sinktest

import (
	"context"
	"sync"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// Recorder keeps every batch written and counts them as engine.DrySink
// does. It is safe for concurrent use; read Batches once the load has
// returned.
type Recorder struct {
	// Fail, when set, is returned by every Write, which keeps nothing.
	Fail error
	// Batches are the batches written, in the order Write was called.
	Batches []graph.Batch

	mu sync.Mutex
}

// Write records b.
func (r *Recorder) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return graph.WriteStats{}, r.Fail
	}
	r.Batches = append(r.Batches, b)
	return engine.DrySink{}.Write(ctx, b)
}

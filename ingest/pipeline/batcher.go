package pipeline

import (
	"context"
	"fmt"
	"sync"

	"github.com/ransomeye/intel/graph"
)

// Batcher gathers graph records into batches of at most Size records and
// writes each full batch to a Sink. It is safe for concurrent use by parser
// workers; writes happen one at a time, in the caller's goroutine that
// filled the batch. Call Flush at the end.
type Batcher struct {
	sink   graph.Sink
	size   int
	report *Report

	mu      sync.Mutex
	pending graph.Batch
	writeMu sync.Mutex
}

// NewBatcher returns a Batcher writing batches of size records to sink and
// counting them in report.
func NewBatcher(sink graph.Sink, size int, report *Report) *Batcher {
	if size < 1 {
		size = 500
	}
	return &Batcher{sink: sink, size: size, report: report}
}

// Add queues the records of b and writes a batch when Size is reached.
func (bt *Batcher) Add(ctx context.Context, b graph.Batch) error {
	bt.mu.Lock()
	bt.pending.Nodes = append(bt.pending.Nodes, b.Nodes...)
	bt.pending.Relations = append(bt.pending.Relations, b.Relations...)
	if bt.pending.Len() < bt.size {
		bt.mu.Unlock()
		return nil
	}
	full := bt.pending
	bt.pending = graph.Batch{}
	bt.mu.Unlock()
	return bt.write(ctx, full)
}

// Flush writes what is queued.
func (bt *Batcher) Flush(ctx context.Context) error {
	bt.mu.Lock()
	rest := bt.pending
	bt.pending = graph.Batch{}
	bt.mu.Unlock()
	if rest.Len() == 0 {
		return nil
	}
	return bt.write(ctx, rest)
}

func (bt *Batcher) write(ctx context.Context, b graph.Batch) error {
	bt.writeMu.Lock()
	defer bt.writeMu.Unlock()
	ws, err := bt.sink.Write(ctx, b)
	if err != nil {
		return fmt.Errorf("write batch of %d nodes and %d relations: %w", len(b.Nodes), len(b.Relations), err)
	}
	if bt.report != nil {
		bt.report.addBatch(b, ws)
	}
	return nil
}

// DrySink validates and counts batches without a database, for --dry-run.
// It keeps no state, so a dry run of a feed of any size runs in constant
// memory: every valid node counts as inserted and every valid relation as
// inserted (whether its endpoints would resolve is for the database to say).
type DrySink struct{}

// Write validates b and reports what a Store would be asked to write.
func (DrySink) Write(_ context.Context, b graph.Batch) (graph.WriteStats, error) {
	var ws graph.WriteStats
	for _, n := range b.Nodes {
		if err := n.Validate(); err != nil {
			return ws, err
		}
		ws.NodesInserted++
		ws.AliasesWritten += int64(len(n.Aliases))
	}
	for _, r := range b.Relations {
		if err := r.Validate(); err != nil {
			return ws, err
		}
		ws.RelationsInserted++
	}
	return ws, nil
}

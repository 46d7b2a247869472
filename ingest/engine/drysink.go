package engine

import (
	"context"

	"github.com/ransomeye/intel/graph"
)

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

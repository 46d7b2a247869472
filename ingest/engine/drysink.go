package engine

import (
	"context"
	"fmt"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// DrySink validates and counts batches without a database, for --dry-run.
// It keeps no state, so a dry run of a feed of any size runs in constant
// memory: every valid node counts as inserted and every valid relation as
// inserted (whether its endpoints would resolve is for the database to say).
type DrySink struct{}

// Write validates b and reports what a Store would be asked to write.
func (DrySink) Write(_ context.Context, b graph.Batch) (graph.WriteStats, error) {
	var ws graph.WriteStats
	for i, n := range b.Nodes {
		if reason, err := store.CheckNode(&b.Nodes[i]); reason != "" {
			return ws, fmt.Errorf("%s: %w", reason, err)
		}
		ws.NodesInserted++
		ws.AliasesWritten += int64(len(n.Aliases))
	}
	for i := range b.Relations {
		if reason, err := store.CheckRelation(&b.Relations[i]); reason != "" {
			return ws, fmt.Errorf("%s: %w", reason, err)
		}
		ws.RelationsInserted++
	}
	return ws, nil
}

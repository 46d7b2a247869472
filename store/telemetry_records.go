package store

import (
	"context"
	"fmt"

	"github.com/ransomeye/intel/graph"
)

// writeChunkRecords writes, in one transaction (one more for each turn it
// waited for other appends), the endpoint nodes and implied records of the
// chunk that this Store has not written yet, and remembers them once
// committed. Records another append of this Store is
// writing at the same moment (a stream of the TelemetryWriter, a chunk of
// AppendTelemetry) are not written twice: the append waits for that write
// instead (see endpointCache.claim), and writes them itself only if it
// failed; an implied relation whose endpoint another append is writing is
// written once that node has committed. So concurrent appends write
// disjoint sets of new records side by side and never wait on each other's
// uncommitted rows. When the database refused some records (and Write
// dropped them), it returns the chunk without the edges that need them,
// each logged at WARN and counted in stats.Dropped.
func (s *Store) writeChunkRecords(ctx context.Context, chunk []graph.TelemetryEdge, stats *TelemetryStats) ([]graph.TelemetryEdge, error) {
	var dropped droppedSet
	for {
		b, mine, waits := s.endpoints.claim(chunk, &dropped)
		if b.Len() > 0 {
			ws, d, err := s.writeChunkBatch(ctx, b)
			stats.Nodes.Add(ws)
			s.endpoints.finish(mine, b, d, err == nil)
			if err != nil {
				return chunk, fmt.Errorf("upsert telemetry endpoint nodes and implied records (%d nodes, %d relations): %w",
					len(b.Nodes), len(b.Relations), err)
			}
			dropped.add(d)
		}
		if len(waits) == 0 {
			break
		}
		// What the other appends wrote is cached now; what they failed
		// to write is claimed and written on the next turn.
		if err := waitClaims(ctx, waits); err != nil {
			return chunk, fmt.Errorf("wait for telemetry endpoint nodes another append is writing: %w", err)
		}
	}
	if s.endpoints.flushDue() {
		ws, err := s.flushSeen(ctx)
		stats.Nodes.Add(ws)
		if err != nil {
			return chunk, err
		}
	}
	if dropped.empty() {
		return chunk, nil
	}
	out := make([]graph.TelemetryEdge, 0, len(chunk)) // not in place: the chunk's COPY may be reading it
	for i := range chunk {
		e := &chunk[i]
		if reason := dropped.reasonFor(e); reason != "" {
			stats.Dropped[reason]++
			s.log.WarnContext(ctx, "dropping telemetry edge: the database refused a record it needs",
				"agent_id", clip(e.AgentID), "reason", string(reason))
			continue
		}
		out = append(out, *e)
	}
	return out, nil
}

// writeChunkBatch writes the records of a chunk that the endpoint cache
// does not know, and names those the database refused. A few go in one
// transaction (writeChecked). When the nodes are more than a batch and the
// Store has several writers — the first chunks of a stream, or a stream of
// new processes — the nodes go first through UpsertNodes (disjoint id
// ranges written side by side, the pending relations they complete
// released once all have committed), then the relations in one
// transaction: a relation's endpoints are committed before it, as in one
// transaction, and none of the chunk's edges is COPYed before both. If the
// database refused a node there (UpsertNodes counts it but does not name
// it), the whole batch is written again with writeChecked — upserts are
// idempotent — to name what it refused; the stats are then that write's.
func (s *Store) writeChunkBatch(ctx context.Context, b graph.Batch) (graph.WriteStats, droppedSet, error) {
	if len(b.Nodes) <= s.batchSize || s.writers <= 1 {
		return s.writeChecked(ctx, b, true)
	}
	ws, err := s.UpsertNodes(ctx, b.Nodes)
	if err != nil {
		return ws, droppedSet{}, err
	}
	if len(ws.Dropped) > 0 {
		return s.writeChecked(ctx, b, true)
	}
	rs, dropped, err := s.writeChecked(ctx, graph.Batch{Relations: b.Relations}, true)
	ws.Add(rs)
	return ws, dropped, err
}

// reasonFor returns why edge e cannot be stored without a record that was
// dropped, or "".
func (d *droppedSet) reasonFor(e *graph.TelemetryEdge) graph.DropReason {
	switch {
	case d.nodes[e.Src.ID]:
		return graph.ReasonInvalidSrc
	case d.nodes[e.Dst.ID]:
		return graph.ReasonInvalidDst
	}
	for _, n := range e.Implied.Nodes {
		if d.nodes[n.ID] {
			return graph.ReasonInvalidImplied
		}
	}
	for _, r := range e.Implied.Relations {
		if d.rels[keyOf(r)] {
			return graph.ReasonInvalidImplied
		}
	}
	return ""
}

package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// Node records (node_records, migration 00042; README, "Merging"). A node
// that has had a versioned record (graph.RecordSource: one source object
// in one version) keeps one record per source object at its newest version
// and one '' record of everything else written to it, and its name, props,
// labels, confidence and TLP are the merge of those records: a newer
// version of an object replaces the object's record, an older one changes
// nothing. A node that never had a versioned record (telemetry endpoints,
// observables, MISP attributes without a timestamp read outside an event) has no records and
// is written by NodeUpsertMany alone, as before.
//
// A transaction writes its nodes first (NodeUpsertMany, every row locked
// in id order: a row with a versioned record merges there only its kind,
// key, times and sources unless it is inserted), then, for the nodes with
// a versioned record and the recorded nodes an unversioned row merged
// into, their records: NodeRecordSeed makes a node's first '' record from
// its row, NodeRecordUpsertMany writes the batch's records, and
// NodeRemergeRecords merges again from their records the nodes one of
// whose records was written. Records are written only under their node's
// row lock, so two writers of one node take turns at the node.

// nodeRecords merges the records of a batch per node and source object
// (graph.RecordSource: its newest version's; "" for a record with no
// version): of one object it keeps the newest version's name, props,
// labels, confidence and TLP, an older version in the same batch giving
// only what graph.Node.WithoutContent keeps. It returns them sorted by (node id,
// source object); a node may come several times.
func nodeRecords(in []graph.Node) []graph.Node {
	type key struct {
		id  uuid.UUID
		src string
	}
	newest := map[key]time.Time{}
	for _, n := range in {
		src, v := graph.RecordSource(n)
		k := key{n.ID, src}
		if cur, ok := newest[k]; !ok || v.After(cur) {
			newest[k] = v
		}
	}
	byKey := make(map[key]int, len(newest))
	out := make([]graph.Node, 0, len(newest))
	srcs := make([]string, 0, len(newest))
	for _, n := range in {
		src, v := graph.RecordSource(n)
		k := key{n.ID, src}
		if src != "" && v.Before(newest[k]) {
			n = n.WithoutContent()
		}
		if i, ok := byKey[k]; ok {
			out[i] = graph.MergeNode(out[i], n)
			continue
		}
		byKey[k] = len(out)
		out = append(out, n)
		srcs = append(srcs, src)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		if c := bytes.Compare(out[a].ID[:], out[b].ID[:]); c != 0 {
			return c
		}
		return strings.Compare(srcs[a], srcs[b])
	})
	sorted := make([]graph.Node, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted
}

// recordRuns cuts records (sorted by node id) into runs of about size
// records that share no node, so that runs written side by side never
// write one node.
func recordRuns(records []graph.Node, size int) [][]graph.Node {
	size = max(size, 1)
	var runs [][]graph.Node
	for start := 0; start < len(records); {
		end := min(start+size, len(records))
		for end < len(records) && records[end].ID == records[end-1].ID {
			end++
		}
		runs = append(runs, records[start:end])
		start = end
	}
	return runs
}

// versionedNodes returns the ids of the nodes among records that have a
// versioned record (graph.RecordSource).
func versionedNodes(records []graph.Node) map[uuid.UUID]bool {
	var out map[uuid.UUID]bool
	for _, n := range records {
		if src, _ := graph.RecordSource(n); src != "" {
			if out == nil {
				out = map[uuid.UUID]bool{}
			}
			out[n.ID] = true
		}
	}
	return out
}

// writeNodeRecords writes, after NodeUpsertMany, the records of the nodes
// with a versioned record in the batch (versioned) and of the recorded
// nodes an unversioned row merged into (recorded), and merges again from
// their records the nodes whose content NodeUpsertMany did not write
// (versioned, not inserted). inserted are the versioned nodes
// NodeUpsertMany inserted: their row is already the merge of their
// records. It adds to stats the nodes the merge changed that
// NodeUpsertMany had not.
func writeNodeRecords(ctx context.Context, q *gen.Queries, records []graph.Node, versioned map[uuid.UUID]bool,
	recorded, inserted []uuid.UUID, size int, stats *graph.WriteStats) error {
	if len(versioned) == 0 && len(recorded) == 0 {
		return nil
	}
	fresh := make(map[uuid.UUID]bool, len(inserted))
	for _, id := range inserted {
		fresh[id] = true
	}
	merged := make(map[uuid.UUID]bool, len(recorded))
	for _, id := range recorded {
		merged[id] = true
	}
	// Records sorted by node id: the seed in the order NodeUpsertMany
	// locked the rows.
	var seed []uuid.UUID
	var write []graph.Node
	for i, n := range records {
		if versioned[n.ID] && !fresh[n.ID] && (i == 0 || records[i-1].ID != n.ID) {
			seed = append(seed, n.ID)
		}
		if versioned[n.ID] || merged[n.ID] {
			write = append(write, n)
		}
	}
	if len(seed) > 0 {
		if _, err := q.NodeRecordSeed(ctx, seed); err != nil {
			return fmt.Errorf("record %d nodes: %w", len(seed), err)
		}
	}
	var remerge []uuid.UUID
	for chunk := range slices.Chunk(write, max(size, 1)) {
		k := len(chunk)
		p := gen.NodeRecordUpsertManyParams{
			NodeIDs: make([]uuid.UUID, 0, k), SourceIDs: make([]string, 0, k), Versions: make([]time.Time, 0, k),
			Names: make([]string, 0, k), NameRanks: make([]string, 0, k), Props: make([]json.RawMessage, 0, k),
			PropsRanks: make([]string, 0, k), PropsKeyRanks: make([]json.RawMessage, 0, k), Labels: make([]string, 0, k),
			Confidences: make([]int16, 0, k), TLPs: make([]string, 0, k),
		}
		for _, n := range chunk {
			src, v := graph.RecordSource(n)
			p.NodeIDs = append(p.NodeIDs, n.ID)
			p.SourceIDs = append(p.SourceIDs, src)
			// PostgreSQL keeps microseconds, as source_versions.
			p.Versions = append(p.Versions, v.Truncate(time.Microsecond).UTC())
			p.Names = append(p.Names, n.Name)
			props, digest := marshalProps(n.Props)
			p.Props = append(p.Props, props)
			ranks := n.RanksWithProps(digest)
			p.NameRanks = append(p.NameRanks, ranks.Name)
			p.PropsRanks = append(p.PropsRanks, ranks.Props)
			p.PropsKeyRanks = append(p.PropsKeyRanks, jsonStrings(ranks.Keys))
			p.Labels = append(p.Labels, textArrayLiteral(n.Labels))
			p.Confidences = append(p.Confidences, confidenceParam(n.Confidence))
			p.TLPs = append(p.TLPs, string(n.TLP.Normalize()))
		}
		rows, err := q.NodeRecordUpsertMany(ctx, p)
		if err != nil {
			return fmt.Errorf("upsert %d node records: %w", len(chunk), err)
		}
		for _, r := range rows {
			// An unversioned row merged into a recorded node already
			// merged into the node; an inserted node is its records.
			if versioned[r.NodeID] && !fresh[r.NodeID] {
				remerge = append(remerge, r.NodeID)
			}
		}
	}
	if len(remerge) == 0 {
		return nil
	}
	slices.SortFunc(remerge, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	remerge = slices.Compact(remerge)
	rows, err := q.NodeRemergeRecords(ctx, remerge)
	if err != nil {
		return fmt.Errorf("merge %d nodes again from their records: %w", len(remerge), err)
	}
	for _, r := range rows {
		if r.NewlyChanged {
			stats.NodesMerged++
			stats.NodesUnchanged--
		}
	}
	return nil
}

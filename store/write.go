package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// UpsertNodes writes nodes (and their aliases), merging them into existing
// ones by Write's rules. Up to BatchSize nodes are one Write: one
// transaction. More are merged with each other, sorted by id and cut into
// batches of BatchSize, and up to Writers batches are written at once, each
// in a transaction of its own; the batches hold disjoint id ranges, so they
// never wait for each other. If one fails, UpsertNodes stops and returns its
// error; batches already committed stay, and since upserts are idempotent,
// calling again with the same nodes is safe. Nodes PostgreSQL would reject
// are dropped alone and counted, as in Write. The pending relations that the
// nodes complete are released after every batch has committed, so two
// batches committing at the same moment cannot each miss the other's
// endpoint.
func (s *Store) UpsertNodes(ctx context.Context, nodes []graph.Node) (graph.WriteStats, error) {
	if len(nodes) <= s.batchSize || s.writers <= 1 {
		return s.Write(ctx, graph.Batch{Nodes: nodes})
	}
	var (
		mu      sync.Mutex
		stats   graph.WriteStats
		dropped droppedSet
	)
	nodes = s.checkBatch(ctx, graph.Batch{Nodes: nodes}, &stats, &dropped).Nodes
	// Per node and source object (node_records), runs cut between nodes.
	nodes = nodeRecords(nodes)
	nodes = keepWinningAliases(nodes)
	now := s.now().UTC()
	ws, _, err := spreadWrites(ctx, s.writers, recordRuns(nodes, s.batchSize), 1,
		func(ctx context.Context, runs [][]graph.Node) (graph.WriteStats, droppedSet, error) {
			var ws graph.WriteStats
			var d droppedSet
			err := s.writeIsolating(ctx, runs[0], nil, false, now, &ws, &d)
			return ws, d, err
		})
	stats.Add(ws)
	if err != nil {
		return stats, err
	}
	// One statement per releaseChunk refs, Writers at once: a pending
	// relation named by refs in two chunks is released by whichever
	// statement locks it first; the other finds it gone.
	// One ref per node: records are sorted by node id.
	refs := releaseRefs(slices.CompactFunc(slices.Clone(nodes), func(a, b graph.Node) bool { return a.ID == b.ID }), aliasRows(nodes))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.writers)
	for chunk := range slices.Chunk(refs, releaseChunk*s.batchSize) {
		s.goRelease(gctx, g, chunk, now, &mu, &stats)
	}
	err = g.Wait()
	return stats, err
}

// spreadWrites writes items in runs of size, up to writers runs at once,
// each through write (a transaction of its own), and sums what they wrote
// and refused. The runs must name no row in common (items sorted by key
// and cut into contiguous runs), so they neither wait for nor deadlock
// with each other. On error the runs that committed stay written.
func spreadWrites[T any](ctx context.Context, writers int, items []T, size int,
	write func(context.Context, []T) (graph.WriteStats, droppedSet, error)) (graph.WriteStats, droppedSet, error) {
	var (
		mu      sync.Mutex
		stats   graph.WriteStats
		dropped droppedSet
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(writers, 1))
	for run := range slices.Chunk(items, max(size, 1)) {
		g.Go(func() error {
			ws, d, err := write(gctx, run)
			mu.Lock()
			stats.Add(ws)
			dropped.add(d)
			mu.Unlock()
			return err
		})
	}
	err := g.Wait()
	return stats, dropped, err
}

// keepWinningAliases drops from each node the aliases that Write would
// give to another node of the same input (see aliasRows: the smallest node
// id naming a source id wins), so that batches written side by side never
// write the same alias, and the winner is the same as in one Write.
func keepWinningAliases(nodes []graph.Node) []graph.Node {
	winner := map[string]uuid.UUID{}
	for _, a := range aliasRows(nodes) {
		winner[a.sourceID] = a.nodeID
	}
	for i := range nodes {
		var keep []string
		for _, a := range nodes[i].Aliases {
			if a != "" && winner[a] == nodes[i].ID && !slices.Contains(keep, a) {
				keep = append(keep, a)
			}
		}
		nodes[i].Aliases = keep
	}
	return nodes
}

// release releases, in a transaction of its own, the pending relations
// that mention refs and whose endpoints both resolve.
func (s *Store) release(ctx context.Context, refs []string, now time.Time) (graph.WriteStats, error) {
	var ws graph.WriteStats
	err := s.withRetry(ctx, func(tx pgx.Tx) error {
		ws = graph.WriteStats{}
		q := s.q.WithTx(tx)
		if err := s.upsertRelations(ctx, q, nil, nil, refs, now, &ws); err != nil {
			return err
		}
		return refreshIdentity(ctx, q, identityChange{revoked: revokedMayChange(nil, nil, ws)}, &ws)
	})
	if err != nil {
		return graph.WriteStats{}, fmt.Errorf("release pending relations: %w", err)
	}
	return ws, nil
}

// goRelease releases, on g, the pending relations that mention refs (see
// release) and adds what it did to stats under mu.
func (s *Store) goRelease(ctx context.Context, g *errgroup.Group, refs []string, now time.Time, mu *sync.Mutex, stats *graph.WriteStats) {
	g.Go(func() error {
		ws, err := s.release(ctx, refs, now)
		if err != nil {
			return err
		}
		mu.Lock()
		stats.Add(ws)
		mu.Unlock()
		return nil
	})
}

// releaseChunk is how many batches' worth of refs UpsertNodes releases
// pending relations for in one statement: each ref is one index probe, so
// the statement stays short while the round trips drop.
const releaseChunk = 4

// ReleasePending sweeps pending_relations page by page (BatchSize rows) and
// releases into relations every pending relationship whose endpoints both
// resolve now; then it re-keys the relation records whose source ids moved
// to another node while they were written (see rekey). Writes release what
// they complete as they go; what they can miss is a relationship parked by
// one transaction while another, not yet committed, was writing its missing
// endpoint (neither sees the other's rows), or a relationship resolved
// through a source id that another transaction was moving to a smaller node
// id. A loader that writes from several transactions at once, like the
// feed manager, calls ReleasePending when they are all done. Up to Writers
// pages are released at once, each in a transaction of its own, while the
// next page is read (as UpsertNodes releases: a pending relation named by
// refs of two pages is released by whichever statement locks it first, and
// a release parks nothing, so the pages read later are unchanged but for
// the rows already released). It returns the counts of the relationships
// released.
func (s *Store) ReleasePending(ctx context.Context) (graph.WriteStats, error) {
	var (
		mu    sync.Mutex
		stats graph.WriteStats
	)
	after := gen.PendingRelationPageParams{MaxRows: int32(s.batchSize)}
	now := s.now().UTC()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.writers)
	for {
		var page []gen.PendingRelationPageRow
		err := s.retry(gctx, "list pending relations", func(ctx context.Context) error {
			var err error
			page, err = s.q.PendingRelationPage(ctx, after)
			return err
		})
		if err != nil {
			if werr := g.Wait(); werr != nil { // a failed release ended gctx
				return stats, werr
			}
			return stats, fmt.Errorf("list pending relations: %w", err)
		}
		if len(page) == 0 {
			break
		}
		// The page's source refs name every row of it, and (pages being
		// cut in key order) few rows of the pages released beside it: a
		// row named by the refs of two releases running at once is locked
		// by one and waited for by the other. With both ends' refs, every
		// hub a page points at (an identity, a tactic) named the rows of
		// the other pages too, and the releases ran one after the other.
		refs := make([]string, 0, len(page)) // repeats are harmless: refs feed = ANY(...)
		for _, p := range page {
			refs = append(refs, p.SrcRef)
		}
		s.goRelease(gctx, g, refs, now, &mu, &stats)
		last := page[len(page)-1]
		after.AfterSrcRef, after.AfterRelation, after.AfterDstRef = last.SrcRef, last.Relation, last.DstRef
		if len(page) < int(after.MaxRows) {
			break
		}
	}
	if err := g.Wait(); err != nil {
		return stats, err
	}
	return stats, s.rekeyAll(ctx, &stats)
}

// rekeyAll re-keys every relation record whose source ids moved to other
// nodes while it was being written (by a transaction that did not see the
// move yet), links the pending relationships that name a relationship id
// now known (expandRelationRefs) and refreshes the identity tables
// whole (refreshIdentityWhole), in one transaction.
func (s *Store) rekeyAll(ctx context.Context, stats *graph.WriteStats) error {
	var ws graph.WriteStats
	err := s.withRetry(ctx, func(tx pgx.Tx) error {
		ws = graph.WriteStats{}
		q := s.q.WithTx(tx)
		if err := rekey(ctx, q, nil, true); err != nil {
			return err
		}
		if err := s.expandRelationRefs(ctx, q, nil, true, &ws); err != nil {
			return err
		}
		return refreshIdentityWhole(ctx, q, &ws)
	})
	stats.Add(ws)
	return err
}

// AddRelations writes relations; those whose endpoints are not known yet
// are kept pending. See Write.
func (s *Store) AddRelations(ctx context.Context, rels []graph.Relation) (graph.WriteStats, error) {
	return s.Write(ctx, graph.Batch{Relations: rels})
}

// AddSightings writes sightings as sighting nodes and their relations.
func (s *Store) AddSightings(ctx context.Context, sightings []graph.Sighting) (graph.WriteStats, error) {
	var b graph.Batch
	for _, sg := range sightings {
		b.AddSighting(sg)
	}
	return s.Write(ctx, b)
}

// Write stores a batch in one transaction: its nodes are merged first
// (duplicates inside the batch are combined, then rows are upserted in id
// order, BatchSize rows per statement), then their aliases, then the
// relations. A relation whose endpoints do not resolve yet is kept pending;
// pending relations that the batch's nodes complete are released into
// relations in the same statement.
//
// Merging is graph.MergeNode and graph.MergeRelation, in Go for the batch
// and in SQL for the stored rows: the earliest first-seen, the latest
// last-seen, the union of sources and labels, the highest confidence and the
// strictest TLP; the name and each props key from the highest-ranked record
// that has them (graph.RecordRank: confidence, then the record's own
// last-seen, then content), so a lower-confidence source never overwrites a
// higher one's and the result does not depend on load order. A node or
// relation without times gets the load time when inserted, leaves the
// stored times alone when merged, and gives way to the first record with
// times. A source id belongs to the smallest node id naming it; when a
// batch moves one, the relations resolved through it are re-keyed in the
// same transaction. Writing the same batch twice changes nothing the second
// time, whenever it is written.
//
// A record PostgreSQL would reject (CheckNode, CheckRelation) is not
// written: it is logged at WARN and counted in WriteStats.Dropped by
// reason, and the rest of the batch is written. A batch the server still
// refuses with a data error is split until the refused records are alone
// (see writeIsolating). Transient failures are retried (see Transient and
// RetryPolicy).
func (s *Store) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	return s.write(ctx, b, true)
}

// write is Write; release false leaves the pending relations that the
// batch's nodes complete for the caller to release.
func (s *Store) write(ctx context.Context, b graph.Batch, release bool) (graph.WriteStats, error) {
	ws, _, err := s.writeChecked(ctx, b, release)
	return ws, err
}

// droppedSet names the records a write dropped, so AppendTelemetry can drop
// the edges that needed them.
type droppedSet struct {
	nodes map[uuid.UUID]bool
	rels  map[relationKey]bool
}

func (d *droppedSet) addNode(id uuid.UUID) {
	if d.nodes == nil {
		d.nodes = map[uuid.UUID]bool{}
	}
	d.nodes[id] = true
}

func (d *droppedSet) addRel(r graph.Relation) {
	if d.rels == nil {
		d.rels = map[relationKey]bool{}
	}
	d.rels[keyOf(r)] = true
}

func (d *droppedSet) empty() bool { return len(d.nodes) == 0 && len(d.rels) == 0 }

// add adds the records of o.
func (d *droppedSet) add(o droppedSet) {
	for id := range o.nodes {
		d.addNode(id)
	}
	for k := range o.rels {
		if d.rels == nil {
			d.rels = map[relationKey]bool{}
		}
		d.rels[k] = true
	}
}

// drop counts a dropped record in ws and logs it at WARN.
func (s *Store) drop(ctx context.Context, ws *graph.WriteStats, reason graph.DropReason, err error, attrs ...any) {
	if ws.Dropped == nil {
		ws.Dropped = map[graph.DropReason]int64{}
	}
	ws.Dropped[reason]++
	args := append([]any{"reason", string(reason), "err", err}, attrs...)
	s.log.WarnContext(ctx, "record dropped", args...)
}

// checkBatch returns b without the records CheckNode or CheckRelation
// refuse, each counted in ws and named in dropped.
func (s *Store) checkBatch(ctx context.Context, b graph.Batch, ws *graph.WriteStats, dropped *droppedSet) graph.Batch {
	var bad bool
	for i := range b.Nodes {
		if r, _ := CheckNode(&b.Nodes[i]); r != "" {
			bad = true
			break
		}
	}
	for i := range b.Relations {
		if r, _ := CheckRelation(&b.Relations[i]); r != "" || bad {
			bad = true
			break
		}
	}
	if !bad {
		return b
	}
	var out graph.Batch
	var refused []uuid.UUID
	for i := range b.Nodes {
		n := &b.Nodes[i]
		if reason, err := CheckNode(n); reason != "" {
			s.drop(ctx, ws, reason, err, "kind", string(n.Kind), "key", clip(n.Key))
			ws.NodesRefused++
			refused = append(refused, n.ID)
			continue
		}
		out.Nodes = append(out.Nodes, *n)
	}
	// A node is dropped (its edges and relations with it) only when none
	// of its records is left: the others are written, and the node with
	// them. Before, one refused record named its node dropped while its
	// good records wrote it.
	for _, id := range refused {
		if !slices.ContainsFunc(out.Nodes, func(n graph.Node) bool { return n.ID == id }) {
			dropped.addNode(id)
		}
	}
	for i := range b.Relations {
		r := &b.Relations[i]
		if reason, err := CheckRelation(r); reason != "" {
			s.drop(ctx, ws, reason, err, "src", clip(string(r.Src)), "relation", clip(r.Type), "dst", clip(string(r.Dst)))
			ws.RelationsRefused++
			dropped.addRel(*r)
			continue
		}
		out.Relations = append(out.Relations, *r)
	}
	return out
}

// writeChecked is write, which also names the records it dropped: those
// CheckNode or CheckRelation refuse, and those the database refused with a
// data error (see writeIsolating).
func (s *Store) writeChecked(ctx context.Context, b graph.Batch, release bool) (graph.WriteStats, droppedSet, error) {
	var stats graph.WriteStats
	var dropped droppedSet
	b = s.checkBatch(ctx, b, &stats, &dropped)
	now := s.now().UTC()
	nodes := nodeRecords(b.Nodes)
	rels := keepRelationIDs(b.Relations, graph.MergeRelations(b.Relations))
	err := s.writeIsolating(ctx, nodes, rels, release, now, &stats, &dropped)
	return stats, dropped, err
}

// writeIsolating writes node records (sorted by node id, as nodeRecords
// gives them) and merged relations in one transaction. When the database
// refuses it with a data error (DataError: a record validation did not
// catch), it splits the nodes and relations in two halves and writes each
// the same way, so the records refused are found and dropped alone — each
// logged at WARN, counted under ReasonRejected and named in dropped — and
// the rest is written. It splits between nodes, never between the records
// of one node: a node is written, counted and refused once (split between
// its records, a node was inserted by one half and merged by the other).
// Upserts are idempotent and a refused transaction leaves nothing, so the
// halves write exactly what the whole would have, less the refused records.
func (s *Store) writeIsolating(ctx context.Context, nodes []graph.Node, rels []graph.Relation, release bool, now time.Time,
	stats *graph.WriteStats, dropped *droppedSet) error {
	if len(nodes)+len(rels) == 0 {
		return nil
	}
	ws, err := s.writeMerged(ctx, nodes, rels, release, now)
	if err == nil {
		stats.Add(ws)
		return nil
	}
	if !DataError(err) {
		return err
	}
	// starts[i] is where the i-th node's records begin.
	var starts []int
	for i := range nodes {
		if i == 0 || nodes[i].ID != nodes[i-1].ID {
			starts = append(starts, i)
		}
	}
	switch n := len(starts) + len(rels); {
	case n == 0:
		return err
	case n == 1 && len(starts) == 1:
		return s.refuseNodeRecords(ctx, nodes, release, now, err, stats, dropped)
	case n == 1:
		r := rels[0]
		s.drop(ctx, stats, ReasonRejected, err, "src", clip(string(r.Src)), "relation", clip(r.Type), "dst", clip(string(r.Dst)), "sqlstate", Code(err))
		stats.RelationsRefused++
		dropped.addRel(r)
		return nil
	default:
		half := n / 2
		hn := min(half, len(starts))
		hr := half - hn
		cut := len(nodes)
		if hn < len(starts) {
			cut = starts[hn]
		}
		if err := s.writeIsolating(ctx, nodes[:cut], rels[:hr], release, now, stats, dropped); err != nil {
			return err
		}
		return s.writeIsolating(ctx, nodes[cut:], rels[hr:], release, now, stats, dropped)
	}
}

// refuseNodeRecords is writeIsolating's end for one node the server
// refused (err): its records, one per source object (node_records), are
// tried alone in transactions that roll back, and when some are taken the
// node is written with those, the others dropped. Each record refused is
// dropped, logged and counted (NodesRefused, Dropped) alone: a record is
// what the load report's nodes count, one per source object's statement
// of the node. Only a node none of whose records is written is named in
// dropped. Before, the node was dropped whole, its good records with it
// (a source version refused made the node vanish), counted as one.
func (s *Store) refuseNodeRecords(ctx context.Context, records []graph.Node, release bool, now time.Time, err error,
	stats *graph.WriteStats, dropped *droppedSet) error {
	refused := records
	reasons := make([]error, len(records))
	for i := range reasons {
		reasons[i] = err
	}
	if len(records) > 1 {
		var good, bad []graph.Node
		var badErrs []error
		for _, r := range records {
			terr := s.tryMerged(ctx, []graph.Node{r}, now)
			switch {
			case terr == nil:
				good = append(good, r)
			case DataError(terr):
				bad = append(bad, r)
				badErrs = append(badErrs, terr)
			default:
				return terr
			}
		}
		if len(good) > 0 && len(bad) > 0 {
			ws, werr := s.writeMerged(ctx, good, nil, release, now)
			switch {
			case werr == nil:
				stats.Add(ws)
				refused, reasons = bad, badErrs
			case !DataError(werr):
				return werr
			}
		}
	}
	for i, r := range refused {
		s.drop(ctx, stats, ReasonRejected, reasons[i], "kind", string(r.Kind), "key", clip(r.Key), "source_objects", clip(strings.Join(slices.Sorted(maps.Keys(r.Versions)), ",")), "sqlstate", Code(reasons[i]))
		stats.NodesRefused++
	}
	if len(refused) == len(records) {
		dropped.addNode(records[0].ID)
	}
	return nil
}

// writeMerged writes node records (nodeRecords: merged per node and source
// object, sorted), the nodes they merge into (and their aliases) and
// relations in one transaction, retried after transient failures: Write's
// transaction. The nodes with a versioned record, and the recorded ones,
// also get their node_records (writeNodeRecords).
func (s *Store) writeMerged(ctx context.Context, records []graph.Node, rels []graph.Relation, release bool, now time.Time) (graph.WriteStats, error) {
	return s.writeMergedOrTry(ctx, records, rels, release, now, false)
}

// errTrial rolls back a trial write (tryMerged) that the server took.
var errTrial = errors.New("trial write: rolled back")

// tryMerged runs writeMerged's transaction and rolls it back: nil when the
// server takes the records, the server's refusal otherwise.
func (s *Store) tryMerged(ctx context.Context, records []graph.Node, now time.Time) error {
	_, err := s.writeMergedOrTry(ctx, records, nil, false, now, true)
	if errors.Is(err, errTrial) {
		return nil
	}
	return err
}

func (s *Store) writeMergedOrTry(ctx context.Context, records []graph.Node, rels []graph.Relation, release bool, now time.Time, trial bool) (graph.WriteStats, error) {
	var stats graph.WriteStats
	nodes := graph.MergeNodes(records)
	versioned := versionedNodes(records)
	aliases := aliasRows(nodes)
	var resolve []string
	if release {
		resolve = releaseRefs(nodes, aliases)
	}
	versions := sourceVersions(nodes, rels)
	err := s.withRetry(ctx, func(tx pgx.Tx) error {
		stats = graph.WriteStats{}
		q := s.q.WithTx(tx)
		var moved []string // source ids taken over by a smaller node id
		// In id order (MergeNodes sorts), timed or not, as every writer
		// takes the rows' locks.
		var recorded, inserted []uuid.UUID
		for chunk := range slices.Chunk(nodes, s.batchSize) {
			row, err := q.NodeUpsertMany(ctx, nodeParams(chunk, versioned, now))
			if err != nil {
				return fmt.Errorf("upsert %d nodes: %w", len(chunk), err)
			}
			stats.NodesInserted += row.Inserted
			stats.NodesMerged += row.Merged
			stats.NodesUnchanged += int64(len(chunk)) - row.Inserted - row.Merged
			recorded = append(recorded, row.Recorded...)
			inserted = append(inserted, row.InsertedRecorded...)
		}
		if err := writeNodeRecords(ctx, q, records, versioned, recorded, inserted, s.batchSize, &stats); err != nil {
			return err
		}
		for chunk := range slices.Chunk(aliases, s.batchSize) {
			p := gen.NodeAliasUpsertManyParams{}
			for _, a := range chunk {
				p.SourceIDs = append(p.SourceIDs, a.sourceID)
				p.NodeIDs = append(p.NodeIDs, a.nodeID)
				p.Sources = append(p.Sources, a.source)
			}
			rows, err := q.NodeAliasUpsertMany(ctx, p)
			if err != nil {
				return fmt.Errorf("upsert %d aliases: %w", len(chunk), err)
			}
			stats.AliasesWritten += int64(len(rows))
			for _, r := range rows {
				if r.Moved {
					moved = append(moved, r.SourceID)
				}
			}
		}
		if len(moved) > 0 {
			if err := rekey(ctx, q, moved, false); err != nil {
				return err
			}
		}
		identity, err := s.writeClaims(ctx, q, nodes)
		if err != nil {
			return err
		}
		resolved, err := resolveVersionNodes(ctx, q, versions)
		if err != nil {
			return err
		}
		raised, newest, err := raiseVersions(ctx, q, resolved)
		if err != nil {
			return err
		}
		changed, err := s.writeRelationIDs(ctx, q, rels)
		if err != nil {
			return err
		}
		// The links that named a relationship whose ends changed leave the
		// old ends and wait (pending) for expandRelationRefs below, as the
		// ids rels give are among its refs.
		if err := followRelationIDs(ctx, q, changed, &stats); err != nil {
			return err
		}
		// Written with the relationships naming known relationship ids
		// expanded; the ids rels give and name still expand what waits.
		written, err := expandKnownRelationRefs(ctx, q, rels, newest, now, &stats)
		if err != nil {
			return err
		}
		if err := s.writeRelationGroups(ctx, q, written, newest, resolve, now, &stats); err != nil {
			return err
		}
		if refs := relationshipRefs(rels); len(refs) > 0 {
			if err := s.expandRelationRefs(ctx, q, refs, false, &stats); err != nil {
				return err
			}
		}
		if err := supersede(ctx, q, raised, nil, &stats); err != nil {
			return err
		}
		identity.revoked = revokedMayChange(rels, moved, stats)
		if err := refreshIdentity(ctx, q, identity, &stats); err != nil {
			return err
		}
		if trial {
			return errTrial
		}
		return nil
	})
	return stats, err
}

// writeRelationGroups writes rels, timed ones first, in batches, releasing
// the pending relations that resolve names in the first statement (or in
// one of its own when there are no relations).
func (s *Store) writeRelationGroups(ctx context.Context, q *gen.Queries, rels []graph.Relation, newest map[string]time.Time, resolve []string, now time.Time, stats *graph.WriteStats) error {
	if len(rels) == 0 && len(resolve) == 0 {
		return nil
	}
	// In key order (MergeRelations sorts), timed or not, as every writer
	// takes the rows' locks.
	first := true
	for chunk := range slices.Chunk(rels, s.batchSize) {
		if err := s.upsertRelations(ctx, q, chunk, newest, resolveIf(first, resolve), now, stats); err != nil {
			return err
		}
		first = false
	}
	if first { // no relations: still release the pending ones the nodes complete
		return s.upsertRelations(ctx, q, nil, nil, resolve, now, stats)
	}
	return nil
}

// rekey re-resolves the relation records that name refs (all of them with
// all) and now resolve to other nodes, and rebuilds the relations they fed
// (RelationRekey, RelationRebuild), so a relation goes where its source ids
// point now, whenever it was resolved.
func rekey(ctx context.Context, q *gen.Queries, refs []string, all bool) error {
	if refs == nil {
		refs = []string{}
	}
	keys, err := q.RelationRekey(ctx, gen.RelationRekeyParams{AllRefs: all, Refs: refs})
	if err != nil {
		return fmt.Errorf("re-key relation records: %w", err)
	}
	if len(keys.SrcIDs) == 0 {
		return nil
	}
	if _, err := q.RelationRebuild(ctx, gen.RelationRebuildParams{SrcIDs: keys.SrcIDs, Relations: keys.Relations, DstIDs: keys.DstIDs}); err != nil {
		return fmt.Errorf("rebuild %d relations: %w", len(keys.SrcIDs), err)
	}
	return nil
}

// releaseRefs lists the references by which pending relations may name
// the nodes: their aliases' source ids and their node--<uuid> refs.
func releaseRefs(nodes []graph.Node, aliases []aliasRow) []string {
	refs := make([]string, 0, len(aliases)+len(nodes))
	for _, a := range aliases {
		refs = append(refs, a.sourceID)
	}
	for _, n := range nodes {
		refs = append(refs, string(n.Ref()))
	}
	return refs
}

func resolveIf(first bool, refs []string) []string {
	if first {
		return refs
	}
	return []string{}
}

func (s *Store) upsertRelations(ctx context.Context, q *gen.Queries, rels []graph.Relation, newest map[string]time.Time, resolve []string, now time.Time, stats *graph.WriteStats) error {
	var c gen.RelationIDRefUpsertManyParams
	superseded := []int16{}
	for _, r := range rels {
		addRelationColumns(&c, r, now)
		superseded = append(superseded, int16(boolInt(stale(r.StatedBy, newest))))
	}
	if c.SrcRefs == nil {
		c.SrcRefs, c.Relations, c.DstRefs = []string{}, []string{}, []string{}
		c.Confidences, c.FirstSeens, c.LastSeens = []int16{}, []time.Time{}, []time.Time{}
		c.Sources, c.Props = []string{}, []json.RawMessage{}
		c.PropsRanks, c.PropsKeyRanks = []string{}, []json.RawMessage{}
		c.Stated, c.Untimed = []json.RawMessage{}, []bool{}
	}
	p := gen.RelationUpsertManyParams{
		SrcRefs: c.SrcRefs, Relations: c.Relations, DstRefs: c.DstRefs, Confidences: c.Confidences,
		FirstSeens: c.FirstSeens, LastSeens: c.LastSeens, Sources: c.Sources, Props: c.Props,
		PropsRanks: c.PropsRanks, PropsKeyRanks: c.PropsKeyRanks, Stated: c.Stated, Untimed: c.Untimed,
		Superseded: superseded, ResolveRefs: resolve,
	}
	return relationUpsert(ctx, q, p, stats)
}

// addRelationColumns appends relation record r to the parallel arrays of
// the batched relation statements (RelationUpsertMany's, which adds
// Superseded, and RelationIDRefUpsertMany's): the one place a
// graph.Relation becomes a record's columns (times without their own
// seen at now, the merge ranks, the stated map).
func addRelationColumns(c *gen.RelationIDRefUpsertManyParams, r graph.Relation, now time.Time) {
	first, last := graph.Seen(r.FirstSeen, r.LastSeen, now)
	c.Untimed = append(c.Untimed, r.FirstSeen.IsZero() && r.LastSeen.IsZero())
	c.SrcRefs = append(c.SrcRefs, string(r.Src))
	c.Relations = append(c.Relations, strings.ToLower(r.Type))
	c.DstRefs = append(c.DstRefs, string(r.Dst))
	c.Confidences = append(c.Confidences, confidenceParam(r.Confidence))
	c.FirstSeens = append(c.FirstSeens, first)
	c.LastSeens = append(c.LastSeens, last)
	c.Sources = append(c.Sources, textArrayLiteral(r.Sources))
	props, digest := marshalProps(r.Props)
	c.Props = append(c.Props, props)
	ranks := r.RanksWithProps(digest)
	c.PropsRanks = append(c.PropsRanks, ranks.Props)
	c.PropsKeyRanks = append(c.PropsKeyRanks, jsonStrings(ranks.Keys))
	c.Stated = append(c.Stated, statedJSON(r.StatedBy))
}

// relationUpsert runs RelationUpsertMany and counts what it did in stats.
func relationUpsert(ctx context.Context, q *gen.Queries, p gen.RelationUpsertManyParams, stats *graph.WriteStats) error {
	row, err := q.RelationUpsertMany(ctx, p)
	if err != nil {
		return fmt.Errorf("upsert %d relations: %w", len(p.SrcRefs), err)
	}
	stats.RelationsInserted += row.Inserted
	stats.RelationsMerged += row.Merged
	stats.RelationsPending += row.Pending
	stats.RelationsReleased += row.Released
	stats.RelationsStale += row.Stale
	// Records released from pending that objects state were judged live or
	// superseded from this statement's snapshot: a version raised by a
	// transaction that committed while this one waited for the pending
	// rows (PendingLockStated) is seen by the next statement.
	return supersede(ctx, q, nil, row.ReleasedStated, stats)
}

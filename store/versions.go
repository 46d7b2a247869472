package store

import (
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

// sourceVersion is a version of one source object a batch writes, and the
// nodes it comes with or states relations from.
type sourceVersion struct {
	id      string
	version time.Time
	nodes   []uuid.UUID
	// refs are the sources of relations the object states that name
	// their node by a source id (a STIX relationship's source_ref), not
	// by node: resolveVersionNodes adds the nodes they resolve to.
	refs []string
}

// sourceVersions lists the versions of objects a batch writes: those its
// nodes carry and those its relations are stated in, one per object id
// (the latest), sorted by id. Recording them (raiseVersions) locks each
// object's row for the transaction.
func sourceVersions(nodes []graph.Node, rels []graph.Relation) []sourceVersion {
	byID := map[string]*sourceVersion{}
	add := func(m map[string]time.Time, node uuid.UUID, known bool, ref graph.Ref) {
		for id, v := range m {
			if id == "" || v.IsZero() {
				continue
			}
			sv := byID[id]
			if sv == nil {
				sv = &sourceVersion{id: id}
				byID[id] = sv
			}
			// PostgreSQL keeps microseconds: a version compared with a
			// stored one must be rounded as it would be.
			sv.version = latestTime(sv.version, v.Truncate(time.Microsecond))
			if known && !slices.Contains(sv.nodes, node) {
				sv.nodes = append(sv.nodes, node)
			}
			if !known && ref != "" && !slices.Contains(sv.refs, string(ref)) {
				sv.refs = append(sv.refs, string(ref))
			}
		}
	}
	for _, n := range nodes {
		add(n.Versions, n.ID, true, "")
	}
	for _, r := range rels {
		if len(r.StatedBy) > 0 {
			id, ok := graph.ParseNodeRef(r.Src)
			add(r.StatedBy, id, ok, r.Src)
		}
	}
	out := make([]sourceVersion, 0, len(byID))
	for _, sv := range byID {
		out = append(out, *sv)
	}
	slices.SortFunc(out, func(a, b sourceVersion) int { return strings.Compare(a.id, b.id) })
	return out
}

// resolveVersionNodes returns versions with the nodes their refs resolve
// to now (in the transaction, after the batch's aliases are written) added
// to their nodes; versions is not modified (a retried transaction resolves
// again). A version with refs (a STIX relationship) also gets the node of
// the source its id names in relation_ids (the newest version written
// before this batch): a record of an older version that waited pending
// and was released since, from a source this batch's version no longer
// names, was written when its source came, not by a version (nothing
// added that node). A ref that resolves to no node yet (its relation waits
// pending) adds none: the record, once released, is judged by the
// object's newest version then (RelationSupersede by its src_ref).
func resolveVersionNodes(ctx context.Context, q *gen.Queries, versions []sourceVersion) ([]sourceVersion, error) {
	var ids []string
	for _, v := range versions {
		if len(v.refs) > 0 {
			ids = append(ids, v.id)
		}
	}
	if len(ids) == 0 {
		return versions, nil
	}
	ends, err := q.RelationIDEnds(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("read the references of %d relationship ids: %w", len(ids), err)
	}
	prior := make(map[string]string, len(ends))
	var refs []string
	for _, e := range ends {
		prior[e.SourceID] = e.SrcRef
		refs = append(refs, e.SrcRef)
	}
	for _, v := range versions {
		refs = append(refs, v.refs...)
	}
	slices.Sort(refs)
	refs = slices.Compact(refs)
	rows, err := q.NodeAliasResolve(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("resolve %d references of versioned objects: %w", len(refs), err)
	}
	byRef := make(map[string]uuid.UUID, len(rows))
	for _, r := range rows {
		byRef[r.SourceID] = r.NodeID
	}
	out := slices.Clone(versions)
	for i := range out {
		if len(out[i].refs) == 0 {
			continue
		}
		nodes := slices.Clone(out[i].nodes)
		for _, ref := range append(slices.Clone(out[i].refs), prior[out[i].id]) {
			if n, ok := byRef[ref]; ok && !slices.Contains(nodes, n) {
				nodes = append(nodes, n)
			}
		}
		out[i].nodes = nodes
	}
	return out, nil
}

// raiseVersions records the versions of objects the batch writes before
// its relations are written: objects seen for the first time are inserted
// (SourceVersionInsert; the insert keeps their rows locked), the others'
// rows are key-share locked until the transaction ends
// (SourceVersionLock), and versions that rose or nodes new to an object
// are written under an exclusive lock (SourceVersionUpdate). It returns
// the ids whose version rose over one stored before (or, rarely, that only
// gained a node: the sweep then finds nothing to supersede), and the
// newest version of every object the batch names, by which its relation
// records are written live or superseded (stale).
func raiseVersions(ctx context.Context, q *gen.Queries, versions []sourceVersion) ([]string, map[string]time.Time, error) {
	if len(versions) == 0 {
		return nil, nil, nil
	}
	newest := make(map[string]time.Time, len(versions))
	ins := gen.SourceVersionInsertParams{}
	for _, v := range versions {
		newest[v.id] = v.version
		ins.IDs, ins.Versions, ins.Nodes = append(ins.IDs, v.id), append(ins.Versions, v.version), append(ins.Nodes, uuidsLiteral(v.nodes))
	}
	inserted, err := q.SourceVersionInsert(ctx, ins)
	if err != nil {
		return nil, nil, fmt.Errorf("record %d object versions: %w", len(versions), err)
	}
	slices.Sort(inserted)
	var others []string
	for _, v := range versions {
		if _, ok := slices.BinarySearch(inserted, v.id); !ok {
			others = append(others, v.id)
		}
	}
	if len(others) == 0 {
		return nil, newest, nil
	}
	rows, err := q.SourceVersionLock(ctx, others)
	if err != nil {
		return nil, nil, fmt.Errorf("lock %d object versions: %w", len(others), err)
	}
	upd := gen.SourceVersionUpdateParams{}
	for _, row := range rows {
		i, ok := slices.BinarySearchFunc(versions, row.SourceID, func(v sourceVersion, id string) int { return strings.Compare(v.id, id) })
		if !ok {
			continue
		}
		v := versions[i]
		newest[v.id] = latestTime(v.version, row.Version)
		var add []uuid.UUID
		for _, n := range v.nodes {
			if !slices.Contains(row.Nodes, n) {
				add = append(add, n)
			}
		}
		if v.version.After(row.Version) || len(add) > 0 {
			upd.IDs, upd.Versions, upd.Nodes = append(upd.IDs, v.id), append(upd.Versions, v.version), append(upd.Nodes, uuidsLiteral(add))
		}
	}
	if len(upd.IDs) == 0 {
		return nil, newest, nil
	}
	raised, err := q.SourceVersionUpdate(ctx, upd)
	if err != nil {
		return nil, nil, fmt.Errorf("raise %d object versions: %w", len(upd.IDs), err)
	}
	return raised, newest, nil
}

// stale reports whether a relation record is stated only by versions
// older than the newest of their objects: written superseded.
func stale(statedBy, newest map[string]time.Time) bool {
	if len(statedBy) == 0 {
		return false
	}
	for id, v := range statedBy {
		if n, ok := newest[statedObject(id)]; !ok || !n.After(v.Truncate(time.Microsecond)) {
			return false
		}
	}
	return true
}

// uuidsLiteral is a PostgreSQL array literal of the ids, sorted.
func uuidsLiteral(ns []uuid.UUID) string {
	ss := make([]string, len(ns))
	for i, n := range ns {
		ss[i] = n.String()
	}
	slices.Sort(ss)
	return textArrayLiteral(ss)
}

// supersede, after the batch's relations are written, supersedes the
// records stored before that only older versions of the raised objects
// state (RelationSupersede; the upsert never turns a live record
// superseded) and rebuilds the relations those fed from the records left
// (RelationRebuild). It first locks the pending records those objects
// state (PendingLockStated), so that a concurrent batch releasing one has
// committed its record before RelationSupersede looks for it, or releases
// nothing.
func supersede(ctx context.Context, q *gen.Queries, raised, released []string, stats *graph.WriteStats) error {
	if len(raised)+len(released) == 0 {
		return nil
	}
	if raised == nil {
		raised = []string{}
	}
	if released == nil {
		released = []string{}
	}
	if len(raised) > 0 {
		if _, err := q.PendingLockStated(ctx, raised); err != nil {
			return fmt.Errorf("lock the pending relations of %d objects: %w", len(raised), err)
		}
	}
	keys, err := q.RelationSupersede(ctx, gen.RelationSupersedeParams{IDs: raised, SrcRefs: released})
	if err != nil {
		return fmt.Errorf("supersede relations of %d objects: %w", len(raised), err)
	}
	stats.RelationsSuperseded += keys.Superseded
	if len(keys.SrcIDs) == 0 {
		return nil
	}
	if _, err := q.RelationRebuild(ctx, gen.RelationRebuildParams{SrcIDs: keys.SrcIDs, Relations: keys.Relations, DstIDs: keys.DstIDs}); err != nil {
		return fmt.Errorf("rebuild %d superseded relations: %w", len(keys.SrcIDs), err)
	}
	return nil
}

func latestTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// statedJSON is the stated map of a relation record as RelationUpsertMany
// takes it: {"<id>": "<time>"} with times in one fixed UTC format whose
// text order is their time order (stated_merge compares them as text), or
// standsAlone when the relation stands on its own. A key "<object> via
// <relationship id>" is left out when the map states the object directly
// at a time at least its own (migration 00043, stated_union): it decides
// nothing (stated_superseded, stated_names and RelationIDRefsForget read
// the object of a via key, and the direct entry stays), and a collection
// or report naming a relationship and its ends gave each end's record a
// key per relationship.
func statedJSON(m map[string]time.Time) json.RawMessage {
	if len(m) == 0 {
		return json.RawMessage(standsAlone)
	}
	out := make(map[string]string, len(m))
	for id, t := range m {
		if statedObject(id) == graph.StandsAlone {
			out[id] = "infinity"
			continue
		}
		out[id] = t.UTC().Format(statedTimeFormat)
	}
	for id, v := range out {
		if obj := statedObject(id); obj != id {
			if direct, ok := out[obj]; ok && direct >= v { // text order, as stated_union compares
				delete(out, id)
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil { // strings only: cannot happen
		return json.RawMessage("{}")
	}
	return b
}

// standsAlone is the stated map of a record that stands on its own
// (telemetry, an object's copy without a version; its entry is
// graph.StandsAlone, as a record merged from one is): an entry no
// object's version ever outdates (no source_versions row has the empty id,
// and "infinity" is the latest time), so stated_merge keeps it through
// every merge and stated_superseded is false for the record, whatever
// versioned objects state it too. (NULL, as records written before
// migration 00030 have, merges as nothing: they take the first versions
// stated for them.)
const standsAlone = `{"": "infinity"}`

// statedTimeFormat writes every time in one width (microseconds, as
// PostgreSQL keeps them).
const statedTimeFormat = "2006-01-02T15:04:05.000000Z"

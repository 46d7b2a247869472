package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/stixid"
)

// identityChange is what a write changed among the facts the identity
// tables (node_entities, ambiguous_aliases) are computed from: what
// IdentityRefreshKeys recomputes from.
type identityChange struct {
	claimed   []string    // aliases of the alias claims added
	touched   []uuid.UUID // nodes that may stand for another entity than before
	revoked   bool        // revoked-by relations may have changed
	versioned []uuid.UUID // nodes whose source ids were written (graph.VersionIDs)
}

// needed reports whether the change may change the identity tables.
func (c identityChange) needed() bool {
	return len(c.claimed) > 0 || len(c.touched) > 0 || c.revoked || len(c.versioned) > 0
}

// identityProps are the props keys whose stored values decide whether a
// node keyed by its name may stand for an entity: those graph.Lifecycle
// (node_withdrawn in SQL) reads, and graph.PropAmbiguousATTACKIDs. Merging never
// drops a props key, so their stored values change only when a record
// carrying one of them is written.
var identityProps = []string{graph.PropLifecycle, "revoked", "x_mitre_deprecated", graph.PropAmbiguousATTACKIDs}

// writeClaims records the name aliases the nodes claim (alias_claims:
// only entities keyed by an external id of their own carry name aliases,
// graph.IsNameAlias) and those that nodes keyed by their name give
// (name_uses, graph.NameUses), and returns the change for
// refreshIdentity: the aliases claimed anew, and as touched the nodes
// that gave new name uses or whose records carry identityProps. Two nodes
// claiming one alias are two distinct entities sharing a name: the alias
// is ambiguous, recorded, never merged.
func (s *Store) writeClaims(ctx context.Context, q *gen.Queries, nodes []graph.Node) (identityChange, error) {
	var ch identityChange
	var claims, uses, versions gen.AliasClaimAddManyParams
	for _, n := range nodes {
		if ids := graph.VersionIDs(n); len(ids) > 0 {
			for _, id := range ids {
				versions.Aliases = append(versions.Aliases, id)
				versions.NodeIDs = append(versions.NodeIDs, n.ID)
			}
			ch.versioned = append(ch.versioned, n.ID)
		}
		for _, a := range n.Aliases {
			if graph.IsNameAlias(a) {
				claims.Aliases = append(claims.Aliases, a)
				claims.NodeIDs = append(claims.NodeIDs, n.ID)
			}
		}
		for _, a := range graph.NameUses(n) {
			uses.Aliases = append(uses.Aliases, a)
			uses.NodeIDs = append(uses.NodeIDs, n.ID)
		}
		if slices.ContainsFunc(identityProps, func(k string) bool { _, ok := n.Props[k]; return ok }) {
			ch.touched = append(ch.touched, n.ID)
		}
	}
	for _, w := range []struct {
		what  string
		p     gen.AliasClaimAddManyParams
		write func(context.Context, gen.AliasClaimAddManyParams) error
	}{
		{"alias claims", claims, func(ctx context.Context, p gen.AliasClaimAddManyParams) error {
			added, err := q.AliasClaimAddMany(ctx, p)
			ch.claimed = append(ch.claimed, added...)
			return err
		}},
		{"name uses", uses, func(ctx context.Context, p gen.AliasClaimAddManyParams) error {
			added, err := q.NameUseAddMany(ctx, gen.NameUseAddManyParams(p))
			ch.touched = append(ch.touched, added...)
			return err
		}},
		{"source ids of named objects", versions, func(ctx context.Context, p gen.AliasClaimAddManyParams) error {
			return q.SourceIDNodeAddMany(ctx, gen.SourceIDNodeAddManyParams{SourceIDs: p.Aliases, NodeIDs: p.NodeIDs})
		}},
	} {
		for start := 0; start < len(w.p.Aliases); start += s.batchSize {
			end := min(start+s.batchSize, len(w.p.Aliases))
			if err := w.write(ctx, gen.AliasClaimAddManyParams{Aliases: w.p.Aliases[start:end], NodeIDs: w.p.NodeIDs[start:end]}); err != nil {
				return identityChange{}, fmt.Errorf("record %d %s: %w", end-start, w.what, err)
			}
		}
	}
	return ch, nil
}

// refreshIdentity brings node_entities (the entity each revoked or
// name-keyed node stands for) and ambiguous_aliases up to date with what
// the transaction changed (IdentityRefreshKeys: only the rows ch can
// change, one refresh at a time across transactions, each seeing what
// those before it committed) and counts in stats the aliases that became
// ambiguous. It does nothing when ch changed nothing they read.
func refreshIdentity(ctx context.Context, q *gen.Queries, ch identityChange, stats *graph.WriteStats) error {
	if !ch.needed() {
		return nil
	}
	if ch.claimed == nil {
		ch.claimed = []string{}
	}
	if ch.touched == nil {
		ch.touched = []uuid.UUID{}
	}
	if ch.versioned == nil {
		ch.versioned = []uuid.UUID{}
	}
	made, err := q.IdentityRefreshKeys(ctx, gen.IdentityRefreshKeysParams{
		Claimed: ch.claimed, Touched: ch.touched, Revoked: ch.revoked, Versioned: ch.versioned})
	if err != nil {
		return fmt.Errorf("refresh entity resolution: %w", err)
	}
	stats.AliasesAmbiguous += made
	return nil
}

// refreshIdentityWhole recomputes the identity tables whole
// (IdentityRefresh) and counts in stats the aliases that became ambiguous.
func refreshIdentityWhole(ctx context.Context, q *gen.Queries, stats *graph.WriteStats) error {
	made, err := q.IdentityRefresh(ctx)
	if err != nil {
		return fmt.Errorf("refresh entity resolution: %w", err)
	}
	stats.AliasesAmbiguous += made
	return nil
}

// revokedMayChange reports whether a write may have changed a revoked-by
// relation: it wrote one, or relations moved or were released (either may
// be a revoked-by).
func revokedMayChange(rels []graph.Relation, moved []string, stats graph.WriteStats) bool {
	if len(moved) > 0 || stats.RelationsReleased > 0 {
		return true
	}
	return slices.ContainsFunc(rels, func(r graph.Relation) bool { return strings.EqualFold(r.Type, graph.RelRevokedBy) })
}

// keepRelationIDs gives each merged relation the ids of the records merged
// into it (graph.MergeRelations keeps one record's), sorted, each once.
func keepRelationIDs(in, merged []graph.Relation) []graph.Relation {
	ids := map[graph.RelationKey][]string{}
	for _, r := range in {
		if len(r.IDs) > 0 {
			k := r.Key()
			ids[k] = append(ids[k], r.IDs...)
		}
	}
	if len(ids) == 0 {
		return merged
	}
	for i := range merged {
		if l := ids[merged[i].Key()]; len(l) > 0 {
			slices.Sort(l)
			merged[i].IDs = slices.Compact(l)
		}
	}
	return merged
}

// relationIDRow is a relationship id with the references it names.
type relationIDRow struct{ id, src, rel, dst, source string }

// before reports whether r sorts before o as RelationIDUpsertMany orders
// rows of one id: relation, src, dst, then a non-empty source before an
// empty one, then source.
func (r relationIDRow) before(o relationIDRow) bool {
	if (r.source == "") != (o.source == "") && r.rel == o.rel && r.src == o.src && r.dst == o.dst {
		return r.source != ""
	}
	return cmp.Or(strings.Compare(r.rel, o.rel), strings.Compare(r.src, o.src), strings.Compare(r.dst, o.dst),
		strings.Compare(r.source, o.source)) < 0
}

// writeRelationIDs records the relationship ids of rels with the
// references they name (relation_ids), so a relationship id resolves
// (Store.ResolveRelation). Of the copies of one id (in the batch, and
// across batches by RelationIDUpsertMany's rule) the row names the newest
// version's (a STIX relationship's modified, its entry in the relation's
// StatedBy), a copy with a version before one without (a MISP object
// reference, a STIX relationship without modified), then the first by
// relationIDRow.before: one row whatever the order of the loads.
//
// It returns the ids whose row named other ends before: the links that
// named them were expanded to those ends (followRelationIDs).
func (s *Store) writeRelationIDs(ctx context.Context, q *gen.Queries, rels []graph.Relation) ([]gen.RelationIDUpsertManyRow, error) {
	type versioned struct {
		row relationIDRow
		at  time.Time
	}
	best := map[string]versioned{}
	for _, r := range rels {
		source := ""
		if len(r.Sources) > 0 {
			source = r.Sources[0]
		}
		for _, id := range r.IDs {
			c := versioned{relationIDRow{id, string(r.Src), r.Type, string(r.Dst), source}, r.StatedBy[id].Truncate(time.Microsecond)}
			o, ok := best[id]
			if !ok || c.at.After(o.at) || c.at.Equal(o.at) && c.row.before(o.row) {
				best[id] = c
			}
		}
	}
	if len(best) == 0 {
		return nil, nil
	}
	var p gen.RelationIDUpsertManyParams
	for _, id := range slices.Sorted(maps.Keys(best)) {
		b := best[id]
		r := b.row
		p.SourceIDs = append(p.SourceIDs, r.id)
		p.SrcRefs = append(p.SrcRefs, r.src)
		p.Relations = append(p.Relations, r.rel)
		p.DstRefs = append(p.DstRefs, r.dst)
		p.Sources = append(p.Sources, r.source)
		p.Versioned = append(p.Versioned, !b.at.IsZero())
		p.Versions = append(p.Versions, b.at)
	}
	changed, err := q.RelationIDUpsertMany(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("record %d relationship ids: %w", len(p.SourceIDs), err)
	}
	return changed, nil
}

// followRelationIDs moves the links that named the relationship ids
// changed (a newer version of each names other ends in relation_ids) to
// the new ends: it takes the statements that came through them out of the
// records at the old ends (RelationIDRefsForget: a record left stating
// nothing is deleted) and rebuilds the relations those fed, then parks the
// links again (RelationIDRefsRepark), for expandRelationRefs to expand to
// the ends relation_ids names now. So a report naming a relationship links
// to the ends of its newest version whatever the order of the loads.
func followRelationIDs(ctx context.Context, q *gen.Queries, changed []gen.RelationIDUpsertManyRow, stats *graph.WriteStats) error {
	if len(changed) == 0 {
		return nil
	}
	ids := make([]string, 0, len(changed))
	for _, c := range changed { // rare: one statement per id
		ids = append(ids, c.SourceID)
		var gone []string
		for _, end := range []string{c.OldSrcRef, c.OldDstRef} {
			if end != c.SrcRef && end != c.DstRef {
				gone = append(gone, end)
			}
		}
		if len(gone) == 0 { // the same ends (swapped): the links stand
			continue
		}
		keys, err := q.RelationIDRefsForget(ctx, gen.RelationIDRefsForgetParams{IDs: []string{c.SourceID}, Gone: gone})
		if err != nil {
			return fmt.Errorf("take the links through %s from its old ends: %w", c.SourceID, err)
		}
		stats.RelationsUnlinked += keys.Unlinked
		if len(keys.SrcIDs) > 0 {
			if _, err := q.RelationRebuild(ctx, gen.RelationRebuildParams{SrcIDs: keys.SrcIDs, Relations: keys.Relations, DstIDs: keys.DstIDs}); err != nil {
				return fmt.Errorf("rebuild %d relations: %w", len(keys.SrcIDs), err)
			}
		}
	}
	if _, err := q.RelationIDRefsRepark(ctx, ids); err != nil {
		return fmt.Errorf("park the links naming %d changed relationships: %w", len(ids), err)
	}
	return nil
}

// RelationByID returns the relationship a feed named id (a STIX
// relationship id, misp--<uuid> of a MISP object reference) with its
// endpoints resolved to nodes where they are known. It returns an error
// wrapping ErrNotFound for an id no feed gave. The id's UUID may be in
// either case (stixid.CanonicalID; an id a database loaded before kept as
// written is tried first).
func (s *Store) RelationByID(ctx context.Context, id string) (graph.RelationRecord, error) {
	id = strings.TrimSpace(id)
	r, err := s.q.RelationIDGet(ctx, gen.RelationIDGetParams{SourceID: id, Unknown: uuid.Nil})
	if c, _ := stixid.CanonicalID(id); errors.Is(err, pgx.ErrNoRows) && c != id {
		r, err = s.q.RelationIDGet(ctx, gen.RelationIDGetParams{SourceID: c, Unknown: uuid.Nil})
	}
	if err != nil {
		return graph.RelationRecord{}, Interpret(fmt.Sprintf("relationship %q", id), err)
	}
	rec := graph.RelationRecord{ID: r.SourceID, Src: graph.Ref(r.SrcRef), Relation: r.Relation, Dst: graph.Ref(r.DstRef), Feed: r.Source}
	for _, e := range []struct {
		id  uuid.UUID
		out **graph.NodeBrief
	}{{r.SrcID, &rec.SrcNode}, {r.DstID, &rec.DstNode}} {
		if e.id == uuid.Nil {
			continue
		}
		n, err := s.GetNode(ctx, e.id)
		if err != nil {
			return rec, err
		}
		b := n.Brief()
		*e.out = &b
	}
	return rec, nil
}

// isRelationshipRef reports whether ref names a STIX relationship by its
// id (relationship--…), which relation_ids may know the ends of.
func isRelationshipRef(ref graph.Ref) bool { return strings.HasPrefix(string(ref), "relationship--") }

// relationshipRefs lists the relationship ids rels give (IDs) or name as
// an endpoint (a report's or sighting's reference to relationship--…),
// each once.
func relationshipRefs(rels []graph.Relation) []string {
	var out []string
	for _, r := range rels {
		out = append(out, r.IDs...)
		for _, ref := range []graph.Ref{r.Src, r.Dst} {
			if isRelationshipRef(ref) {
				out = append(out, string(ref))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// expandRelationRefs takes the pending relationships that name one of refs
// (any known relationship id with all) as an endpoint and writes them as
// relationships to both its ends (PendingRelationExpand), each with the
// record it had, through the one relation upsert: released where both ends
// are known, pending again where not. An end that is itself a relationship
// id (OpenCTI's indicator "indicates" a relationship, named by a sighting
// or report) is expanded in turn, each relationship id once, so no pending
// relation is left naming a known relationship id (and reloading the feed
// does not take it out and park it again).
func (s *Store) expandRelationRefs(ctx context.Context, q *gen.Queries, refs []string, all bool, stats *graph.WriteStats) error {
	if refs == nil {
		refs = []string{}
	}
	// The relationship ids expanded in a later round, each once (a
	// relationship naming itself or a cycle of them ends).
	expanded := map[string]bool{}
	for {
		rows, err := q.PendingRelationExpand(ctx, gen.PendingRelationExpandParams{Refs: refs, AllRefs: all})
		if err != nil {
			return fmt.Errorf("link relationships named by their ids: %w", err)
		}
		if len(rows) > 0 {
			stats.RelationsExpanded += rows[0].Taken
		}
		// A row with no src_ref only carries the count (the taken rows
		// expanded to nothing).
		rows = slices.DeleteFunc(rows, func(r gen.PendingRelationExpandRow) bool { return r.SrcRef == "" })
		stats.RelationsExpandedInto += int64(len(rows))
		if err := writeExpanded(ctx, q, rows, stats); err != nil {
			return err
		}
		var next []string
		for _, r := range rows {
			for _, ref := range []string{r.SrcRef, r.DstRef} {
				if isRelationshipRef(graph.Ref(ref)) && !expanded[ref] {
					expanded[ref] = true
					next = append(next, ref)
				}
			}
		}
		if len(next) == 0 {
			return nil
		}
		refs, all = next, false
	}
}

// expandKnownRelationRefs returns rels with each relationship that names,
// as an endpoint, a relationship id already kept in relation_ids (and no
// node) written as relationships to both ends of the relationship that id
// names, each with the record it had: what parking it and
// PendingRelationExpand would write, without the detour through
// pending_relations (a collection or report naming the relationships
// loaded before it). It counts them as that detour does: the relationship
// parked and expanded, the relationships written to its ends expanded
// into (one per key). A relationship it leaves as it is goes the usual
// way: one that only older versions state (stale: parked or kept as
// such), one naming an id not known yet, or one whose expansion would name
// a relationship id again (expanded in rounds, each id once, by
// expandRelationRefs).
func expandKnownRelationRefs(ctx context.Context, q *gen.Queries, rels []graph.Relation, newest map[string]time.Time, now time.Time, stats *graph.WriteStats) ([]graph.Relation, error) {
	var refs []string
	for _, r := range rels {
		for _, ref := range []graph.Ref{r.Src, r.Dst} {
			if isRelationshipRef(ref) {
				refs = append(refs, string(ref))
			}
		}
	}
	if len(refs) == 0 {
		return rels, nil
	}
	slices.Sort(refs)
	rows, err := q.RelationIDEnds(ctx, slices.Compact(refs))
	if err != nil {
		return nil, fmt.Errorf("look up relationship ids: %w", err)
	}
	ends := make(map[graph.Ref][]graph.Ref, len(rows))
	for _, row := range rows {
		ends[graph.Ref(row.SourceID)] = []graph.Ref{graph.Ref(row.SrcRef), graph.Ref(row.DstRef)}
	}
	endsOf := func(ref graph.Ref) ([]graph.Ref, bool) {
		if !isRelationshipRef(ref) {
			return []graph.Ref{ref}, true
		}
		e, ok := ends[ref]
		if !ok || isRelationshipRef(e[0]) || isRelationshipRef(e[1]) {
			return nil, false
		}
		return e, true
	}
	out := make([]graph.Relation, 0, len(rels))
	into := map[graph.RelationKey]bool{}
	var kept []graph.Relation
	for _, r := range rels {
		srcs, sok := endsOf(r.Src)
		dsts, dok := endsOf(r.Dst)
		if !sok || !dok || (!isRelationshipRef(r.Src) && !isRelationshipRef(r.Dst)) || stale(r.StatedBy, newest) {
			out = append(out, r)
			continue
		}
		stats.RelationsPending++
		stats.RelationsExpanded++
		kept = append(kept, r)
		// stated through the relationship ids, as PendingRelationExpand
		// writes it (stated_via)
		stated := r.StatedBy
		for _, ref := range []graph.Ref{r.Src, r.Dst} {
			if isRelationshipRef(ref) {
				stated = statedVia(stated, string(ref))
			}
		}
		for _, src := range srcs {
			for _, dst := range dsts {
				if src == dst {
					continue
				}
				e := r
				e.Src, e.Dst, e.IDs, e.StatedBy = src, dst, nil, stated
				into[e.Key()] = true
				out = append(out, e)
			}
		}
	}
	if len(into) == 0 && len(out) == len(rels) {
		return rels, nil
	}
	if err := keepRelationIDRefs(ctx, q, kept, now); err != nil {
		return nil, err
	}
	stats.RelationsExpandedInto += int64(len(into))
	return keepRelationIDs(out, graph.MergeRelations(out)), nil
}

// viaSeparator joins, in a stated key, the object that stated a link
// naming a relationship id and that id: "<object> via <relationship id>"
// states the links to the relationship's ends the link was expanded to
// (migration 00041).
const viaSeparator = " via "

// statedVia is the stated map of the links a link stated by m is expanded
// to through the relationship id via: each key (the StandsAlone entry for
// a link standing alone) suffixed " via <id>".
func statedVia(m map[string]time.Time, via string) map[string]time.Time {
	if len(m) == 0 {
		m = map[string]time.Time{graph.StandsAlone: {}}
	}
	out := make(map[string]time.Time, len(m))
	for id, v := range m {
		out[id+viaSeparator+via] = v
	}
	return out
}

// statedObject is the object a stated key names: the key itself, or the
// object before " via " in a key of a link expanded through a
// relationship.
func statedObject(key string) string {
	obj, _, _ := strings.Cut(key, viaSeparator)
	return obj
}

// keepRelationIDRefs keeps the links expandKnownRelationRefs expands, as
// written (RelationIDRefUpsertMany), for followRelationIDs to expand again
// when a relationship they name changes its ends.
func keepRelationIDRefs(ctx context.Context, q *gen.Queries, rels []graph.Relation, now time.Time) error {
	if len(rels) == 0 {
		return nil
	}
	rels = keepRelationIDs(rels, graph.MergeRelations(rels))
	var p gen.RelationIDRefUpsertManyParams
	for _, r := range rels {
		addRelationColumns(&p, r, now)
	}
	if err := q.RelationIDRefUpsertMany(ctx, p); err != nil {
		return fmt.Errorf("keep %d links naming relationships: %w", len(p.SrcRefs), err)
	}
	return nil
}

// writeExpanded writes the rows PendingRelationExpand returned (in key
// order) through the one relation upsert.
func writeExpanded(ctx context.Context, q *gen.Queries, rows []gen.PendingRelationExpandRow, stats *graph.WriteStats) error {
	if len(rows) == 0 {
		return nil
	}
	p := gen.RelationUpsertManyParams{ResolveRefs: []string{}}
	for _, r := range rows {
		p.SrcRefs, p.Relations, p.DstRefs = append(p.SrcRefs, r.SrcRef), append(p.Relations, r.Relation), append(p.DstRefs, r.DstRef)
		p.Confidences, p.FirstSeens, p.LastSeens = append(p.Confidences, r.Confidence), append(p.FirstSeens, r.FirstSeen), append(p.LastSeens, r.LastSeen)
		p.Sources, p.Props = append(p.Sources, textArrayLiteral(r.Sources)), append(p.Props, r.Props)
		p.PropsRanks, p.PropsKeyRanks = append(p.PropsRanks, r.PropsRank), append(p.PropsKeyRanks, r.PropsKeyRanks)
		p.Stated = append(p.Stated, r.Stated)
		p.Superseded = append(p.Superseded, -1) // stated_superseded decides
		p.Untimed = append(p.Untimed, !r.Timed)
	}
	return relationUpsert(ctx, q, p, stats)
}

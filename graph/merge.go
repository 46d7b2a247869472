package graph

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// This file is the merge contract of the README ("Merging"), written once.
// The store's batch de-duplication, the MISP and STIX mappers and the
// telemetry writer all merge through it, and the SQL upserts
// (db/queries/nodes.sql, relations.sql) implement the same rules in the
// database; a property test in package store holds the two together.

// MergeNode merges b into a: earliest first-seen, latest last-seen, union
// of labels, sources and aliases, highest confidence, strictest TLP; name
// and props values from the record with the higher (confidence,
// last-seen), the other only adding missing props keys.
func MergeNode(a, b Node) Node {
	if wins(b.Confidence, b.LastSeen, a.Confidence, a.LastSeen) {
		if b.Name != "" {
			a.Name = b.Name
		}
		a.Props = mergeProps(a.Props, b.Props)
	} else {
		if a.Name == "" {
			a.Name = b.Name
		}
		a.Props = mergeProps(b.Props, a.Props)
	}
	if confidenceOf(b.Confidence) > confidenceOf(a.Confidence) {
		a.Confidence = b.Confidence
	}
	a.TLP = a.TLP.Stricter(b.TLP)
	a.FirstSeen = earliest(a.FirstSeen, b.FirstSeen)
	a.LastSeen = latest(a.LastSeen, b.LastSeen)
	a.Labels = Union(a.Labels, b.Labels)
	a.Sources = Union(a.Sources, b.Sources)
	a.Aliases = Union(a.Aliases, b.Aliases)
	return a
}

// MergeRelation merges b into a, two records of the same (src, type, dst):
// earliest first-seen, latest last-seen, union of sources, highest
// confidence, props values from the record with the higher (confidence,
// last-seen).
func MergeRelation(a, b Relation) Relation {
	if wins(b.Confidence, b.LastSeen, a.Confidence, a.LastSeen) {
		a.Props = mergeProps(a.Props, b.Props)
	} else {
		a.Props = mergeProps(b.Props, a.Props)
	}
	if confidenceOf(b.Confidence) > confidenceOf(a.Confidence) {
		a.Confidence = b.Confidence
	}
	a.FirstSeen = earliest(a.FirstSeen, b.FirstSeen)
	a.LastSeen = latest(a.LastSeen, b.LastSeen)
	a.Sources = Union(a.Sources, b.Sources)
	return a
}

// MergeNodes combines nodes with the same id by MergeNode and returns them
// sorted by id (the order the store writes rows in).
func MergeNodes(in []Node) []Node {
	byID := make(map[uuid.UUID]int, len(in))
	out := make([]Node, 0, len(in))
	for _, n := range in {
		if i, ok := byID[n.ID]; ok {
			out[i] = MergeNode(out[i], n)
			continue
		}
		byID[n.ID] = len(out)
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Node) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return out
}

// RelationKey identifies a relation: one row per (src, type, dst).
type RelationKey struct {
	Src  Ref
	Type string
	Dst  Ref
}

// Key returns the relation's key, its type lower-cased.
func (r Relation) Key() RelationKey {
	return RelationKey{r.Src, strings.ToLower(r.Type), r.Dst}
}

// MergeRelations combines relations with the same key by MergeRelation and
// returns them sorted by key, their types lower-cased.
func MergeRelations(in []Relation) []Relation {
	byKey := make(map[RelationKey]int, len(in))
	out := make([]Relation, 0, len(in))
	for _, r := range in {
		r.Type = strings.ToLower(r.Type)
		k := r.Key()
		if i, ok := byKey[k]; ok {
			out[i] = MergeRelation(out[i], r)
			continue
		}
		byKey[k] = len(out)
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Relation) int {
		return cmp.Or(strings.Compare(string(a.Src), string(b.Src)), strings.Compare(a.Type, b.Type), strings.Compare(string(a.Dst), string(b.Dst)))
	})
	return out
}

// Seen fills missing first/last-seen times: a single one stands for both,
// none means now, and a pair given the wrong way round is swapped.
func Seen(first, last, now time.Time) (time.Time, time.Time) {
	switch {
	case first.IsZero() && last.IsZero():
		return now, now
	case first.IsZero():
		return last, last
	case last.IsZero():
		return first, first
	case last.Before(first):
		return last, first
	}
	return first, last
}

// wins reports whether a record with confidence c1 last seen at t1 beats
// one with c2 at t2 for name and props values: higher confidence, then later.
func wins(c1 *int, t1 time.Time, c2 *int, t2 time.Time) bool {
	if confidenceOf(c1) != confidenceOf(c2) {
		return confidenceOf(c1) > confidenceOf(c2)
	}
	return t1.After(t2)
}

// ConfidenceOf returns c, or -1 (the database's "unknown") when c is nil.
func ConfidenceOf(c *int) int { return confidenceOf(c) }

func confidenceOf(c *int) int {
	if c == nil {
		return -1
	}
	return *c
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Union returns the sorted (byte order), duplicate-free union of two
// string sets (labels, sources, aliases), so a merge gives the same slice
// whichever record came first; neither input is modified.
func Union(a, b []string) []string {
	if len(a) == 0 && len(b) == 0 {
		return a
	}
	out := make([]string, 0, len(a)+len(b))
	out = append(append(out, a...), b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// mergeProps returns base with over's keys written on top.
func mergeProps(base, over map[string]any) map[string]any {
	if len(over) == 0 {
		return base
	}
	out := make(map[string]any, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

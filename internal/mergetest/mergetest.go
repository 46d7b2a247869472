// Package mergetest makes random records for the merge property tests of
// packages graph (MergeNode against itself: commutative, associative,
// idempotent) and store (MergeNode against the SQL upserts), and renders
// merged records in a normal form that both can compare.
package mergetest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
)

// Base is the earliest time a random record is seen.
var Base = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// pick returns one of xs at random.
func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

// confidence returns nil or one of few values, so that ties are common.
func confidence(r *rand.Rand) *int {
	if r.IntN(4) == 0 {
		return nil
	}
	c := pick(r, 10, 50, 50, 90)
	return &c
}

// seen returns no times, one of them or both, from a small set of days.
func seen(r *rand.Rand) (time.Time, time.Time) {
	day := func() time.Time { return Base.AddDate(0, 0, r.IntN(3)) }
	switch r.IntN(4) {
	case 0:
		return time.Time{}, time.Time{}
	case 1:
		return day(), time.Time{}
	}
	a, b := day(), day()
	if b.Before(a) {
		a, b = b, a
	}
	return a, b
}

// props returns a few keys from a small set with values from a small set.
func props(r *rand.Rand) map[string]any {
	m := map[string]any{}
	for _, k := range []string{"description", "x_score", "x_kill_chain", "pattern"} {
		if r.IntN(2) == 0 {
			m[k] = pick[any](r, "a", "b", float64(1), float64(2), []any{"x", "y"}, map[string]any{"n": "m"})
		}
	}
	return m
}

func strings(r *rand.Rand, pool ...string) []string {
	var out []string
	for _, s := range pool {
		if r.IntN(3) == 0 {
			out = append(out, s)
		}
	}
	return out
}

// Node returns a random record of the node with the given id.
func Node(r *rand.Rand, id uuid.UUID) graph.Node {
	n := graph.Node{ID: id, Kind: graph.KindMalware, Key: "key-" + id.String(),
		Name:       pick(r, "", "Conti", "conti", "Conti v3"),
		Props:      props(r),
		Labels:     strings(r, "ransomware", "crimeware", "x"),
		Confidence: confidence(r),
		TLP:        pick[graph.TLP](r, "", "clear", "green", "amber", "red"),
		Sources:    strings(r, "feed-a", "feed-b", "feed-c"),
	}
	n.FirstSeen, n.LastSeen = seen(r)
	return n
}

// Relation returns a random record of a relation between the given refs.
func Relation(r *rand.Rand, src, dst graph.Ref) graph.Relation {
	rel := graph.Relation{Src: src, Type: "uses", Dst: dst,
		Confidence: confidence(r), Props: props(r), Sources: strings(r, "feed-a", "feed-b", "feed-c")}
	rel.FirstSeen, rel.LastSeen = seen(r)
	return rel
}

// View is a merged record in normal form: times filled as the store fills
// them (now when there are none), empty collections as nil, props as JSON.
type View struct {
	Name, Props, TLP, NameRank, PropsRank, KeyRanks string
	Labels, Sources                                 []string
	Confidence                                      int
	FirstSeen, LastSeen                             time.Time
}

// NodeView returns the normal form of n, whose missing times stand for now.
func NodeView(n graph.Node, now time.Time) View {
	v := view(n.Ranks(), n.Props, n.Confidence, n.FirstSeen, n.LastSeen, n.Sources, now)
	v.Name, v.TLP, v.NameRank, v.Labels = n.Name, string(n.TLP.Normalize()), n.Ranks().Name, nilIfEmpty(n.Labels)
	return v
}

// RelationView returns the normal form of rel, whose missing times stand
// for now.
func RelationView(rel graph.Relation, now time.Time) View {
	return view(rel.Ranks(), rel.Props, rel.Confidence, rel.FirstSeen, rel.LastSeen, rel.Sources, now)
}

func view(ranks graph.Ranks, props map[string]any, conf *int, first, last time.Time, sources []string, now time.Time) View {
	first, last = graph.Seen(first, last, now)
	return View{Props: JSON(props), PropsRank: ranks.Props, KeyRanks: JSON(ranks.Keys), Sources: nilIfEmpty(sources),
		Confidence: graph.ConfidenceOf(conf), FirstSeen: first.UTC().Truncate(time.Microsecond), LastSeen: last.UTC().Truncate(time.Microsecond)}
}

// JSON returns m as JSON with sorted keys, "{}" when empty.
func JSON[V any](m map[string]V) string {
	if len(m) == 0 {
		return "{}"
	}
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Sprint(err)
	}
	return string(b)
}

func nilIfEmpty(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	return slices.Clone(ss)
}

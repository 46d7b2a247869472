package misp

import (
	"sort"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
)

// mergeNodes folds nodes with the same id into one, so that a batch never
// asks the sink to write two versions of a node (a file object's hash and
// the hash attribute inside it are one node): aliases, labels and sources
// are united, props merged (later wins), the most restrictive TLP kept and
// first/last seen widened. Order of first appearance is kept.
func mergeNodes(nodes []graph.Node) []graph.Node {
	if len(nodes) < 2 {
		return nodes
	}
	at := make(map[uuid.UUID]int, len(nodes))
	out := nodes[:0:0]
	for _, n := range nodes {
		i, ok := at[n.ID]
		if !ok {
			at[n.ID] = len(out)
			out = append(out, n)
			continue
		}
		out[i] = mergeNode(out[i], n)
	}
	return out
}

func mergeNode(a, b graph.Node) graph.Node {
	if a.Name == "" {
		a.Name = b.Name
	}
	if len(b.Props) > 0 {
		props := make(map[string]any, len(a.Props)+len(b.Props))
		for k, v := range a.Props {
			props[k] = v
		}
		for k, v := range b.Props {
			props[k] = v
		}
		a.Props = props
	}
	a.Labels = union(a.Labels, b.Labels)
	a.Sources = union(a.Sources, b.Sources)
	a.Aliases = union(a.Aliases, b.Aliases)
	if tlpRank[b.TLP] > tlpRank[a.TLP] {
		a.TLP = b.TLP
	}
	if a.Confidence == nil {
		a.Confidence = b.Confidence
	}
	if !b.FirstSeen.IsZero() && (a.FirstSeen.IsZero() || b.FirstSeen.Before(a.FirstSeen)) {
		a.FirstSeen = b.FirstSeen
	}
	if b.LastSeen.After(a.LastSeen) {
		a.LastSeen = b.LastSeen
	}
	a.FirstSeen, a.LastSeen = seen(a.FirstSeen, a.LastSeen)
	return a
}

// union returns the sorted union of two string sets.
func union(a, b []string) []string {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	set := make(map[string]bool, len(a)+len(b))
	out := make([]string, 0, len(a)+len(b))
	for _, s := range append(append([]string{}, a...), b...) {
		if !set[s] {
			set[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

package store

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestGenMapIsBoundedAndKeepsKeysInUse: a genMap holds at most two
// generations; a key met again moves to the current one and stays, a key
// not met for two generations is forgotten.
func TestGenMapIsBoundedAndKeepsKeysInUse(t *testing.T) {
	t.Parallel()
	g := newGenMap[int, struct{}](4)
	g.put(-1, struct{}{}) // the key in use
	for i := range 100 {
		g.put(i, struct{}{})
		require.True(t, g.has(-1), "a key in use stays (after %d puts)", i+1)
		require.LessOrEqual(t, len(g.cur)+len(g.old), 2*4, "two generations at the most")
	}
	require.True(t, g.has(99))
	require.False(t, g.has(0), "a key not met for two generations is forgotten")
	require.False(t, g.has(1000), "never put")
}

// TestGenMapIsBoundedAndKeepsValues: genMap is genSet with values; a key
// moved from the old generation keeps its value, and putting a key again
// replaces it without starting a generation.
func TestGenMapIsBoundedAndKeepsValues(t *testing.T) {
	t.Parallel()
	g := newGenMap[int, string](4)
	g.put(-1, "in use")
	for i := range 100 {
		g.put(i, "x")
		v, ok := g.get(-1)
		require.True(t, ok, "a key in use stays (after %d puts)", i+1)
		require.Equal(t, "in use", v)
		require.LessOrEqual(t, len(g.cur)+len(g.old), 2*4, "two generations at the most")
	}
	g.put(-1, "again")
	v, _ := g.get(-1)
	require.Equal(t, "again", v)
	require.False(t, g.has(0), "a key not met for two generations is forgotten")
}

// TestSeenRangeChange: an occurrence inside the written range needs
// nothing, one outside it (by minutes or by days) is pending, and an
// untimed range takes any timed occurrence at once.
func TestSeenRangeChange(t *testing.T) {
	t.Parallel()
	at := func(h float64) time.Time {
		return time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(h * float64(time.Hour)))
	}
	r := seenRange{first: at(8), last: at(12)}
	for _, c := range []struct {
		first, last float64
		want        seenChange
	}{
		{8, 12, seenWithin}, {9, 10, seenWithin}, {12.5, 12.5, seenNear}, {7.5, 7.5, seenNear},
		{7.5, 12.9, seenNear}, {13.5, 13.5, seenNear}, {6, 6, seenNear}, {7.5, 14, seenNear}, {-200, 900, seenNear},
	} {
		require.Equal(t, c.want, r.change(seenRange{first: at(c.first), last: at(c.last)}), "%v..%v", c.first, c.last)
	}
	require.Equal(t, seenWithin, r.change(seenRange{}), "an untimed occurrence changes nothing")
	require.Equal(t, seenFar, seenRange{}.change(r), "a timed occurrence replaces the load time")
	// Occurrences of the same content: the later one, spanning both.
	n := graph.Node{FirstSeen: at(10), LastSeen: at(10), Name: "p.exe"}
	mergeSeen(&n, &graph.Node{FirstSeen: at(9), LastSeen: at(11), Name: "p.exe"})
	require.Equal(t, graph.Node{FirstSeen: at(9), LastSeen: at(11), Name: "p.exe"}, n, "the record with the later last seen, spanning both")
	require.False(t, n.Merged(), "no rank computed")
	// Of other content: the rule itself (graph.MergeNode), whatever the
	// order: the name of the highest-ranked occurrence naming the node,
	// which one that names none never takes.
	occ := []graph.Node{
		{FirstSeen: at(10), LastSeen: at(10), Name: "earlier"},
		{FirstSeen: at(9), LastSeen: at(11), Name: "later"},
		{FirstSeen: at(7), LastSeen: at(7), Name: "earliest"},
		{FirstSeen: at(12), LastSeen: at(12)},
	}
	want := graph.MergeNodes(occ)[0]
	for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {1, 3, 0, 2}} {
		n := occ[order[0]]
		for _, i := range order[1:] {
			mergeSeen(&n, &occ[i])
		}
		require.Equal(t, "later", n.Name, "order %v", order)
		require.Equal(t, seenRange{first: at(7), last: at(12)}, seenOf(&n), "order %v", order)
		require.Equal(t, want.Ranks(), n.Ranks(), "order %v", order)
	}
}

// TestMergeSeenRelations: relations merge by the nodes' rule, the record
// with the later last seen spanning both; one without times changes
// nothing, and one with times replaces one without.
func TestMergeSeenRelations(t *testing.T) {
	t.Parallel()
	at := func(h float64) time.Time {
		return time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC).Add(time.Duration(h * float64(time.Hour)))
	}
	r := graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(12), LastSeen: at(12)}
	mergeSeen(&r, &graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(8), LastSeen: at(8)})
	mergeSeen(&r, &graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(20), LastSeen: at(20), Sources: []string{"later"}})
	require.Equal(t, graph.MergeRelation(graph.MergeRelation(
		graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(12), LastSeen: at(12)},
		graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(8), LastSeen: at(8)}),
		graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(20), LastSeen: at(20), Sources: []string{"later"}}), r,
		"an occurrence that says more (a source) merges by the rule")
	require.Equal(t, []string{"later"}, r.Sources)
	same := graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(12), LastSeen: at(12)}
	mergeSeen(&same, &graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(8), LastSeen: at(8)})
	require.Equal(t, graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b", FirstSeen: at(8), LastSeen: at(12)}, same,
		"one that says the same: the later, spanning both, no rank computed")
	mergeSeen(&r, &graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b"})
	require.Equal(t, seenRange{first: at(8), last: at(20)}, seenOf(&r), "an untimed record changes nothing")
	untimed := graph.Relation{Src: "a", Type: graph.RelHasHash, Dst: "b"}
	mergeSeen(&untimed, &r)
	require.Equal(t, r, untimed, "a timed record replaces an untimed one")
}

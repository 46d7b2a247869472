package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// walkGraph is a small graph with every relation class:
//
//	indicator -indicates-> malware <-object- report
//	malware -created-by-> eset <-created-by- other (a malware)
//	report -created-by-> eset
//	malware -duplicate-of-> replacement (lifecycle; revoked-by is tested on its own: it makes the two one entity)
//	malware -uses-> technique
func walkGraph(t *testing.T, b *testBundle) map[string]graph.Node {
	t.Helper()
	n := map[string]graph.Node{
		"indicator":   graph.SourceNode(graph.KindIndicator, "indicator--00000000-0000-4000-8000-000000000001"),
		"malware":     graph.NamedNode(graph.KindMalware, "walk-malware"),
		"report":      graph.SourceNode(graph.KindReport, "report--00000000-0000-4000-8000-000000000002"),
		"eset":        graph.SourceNode(graph.KindIdentity, "identity--00000000-0000-4000-8000-000000000003"),
		"other":       graph.NamedNode(graph.KindMalware, "unrelated-malware"),
		"replacement": graph.NamedNode(graph.KindMalware, "walk-malware-v2"),
		"technique":   graph.NamedNode(graph.KindAttackPattern, "walk-technique"),
	}
	rels := []graph.Relation{
		{Src: n["indicator"].Ref(), Type: graph.RelIndicates, Dst: n["malware"].Ref()},
		{Src: n["report"].Ref(), Type: "object", Dst: n["malware"].Ref()},
		{Src: n["malware"].Ref(), Type: "created-by", Dst: n["eset"].Ref()},
		{Src: n["other"].Ref(), Type: "created-by", Dst: n["eset"].Ref()},
		{Src: n["report"].Ref(), Type: "created-by", Dst: n["eset"].Ref()},
		{Src: n["malware"].Ref(), Type: "duplicate-of", Dst: n["replacement"].Ref()},
		{Src: n["malware"].Ref(), Type: "uses", Dst: n["technique"].Ref()},
	}
	var nodes []graph.Node
	for _, v := range n {
		nodes = append(nodes, v)
	}
	_, err := b.store.Write(context.Background(), graph.Batch{Nodes: nodes, Relations: rels})
	require.NoError(t, err)
	return n
}

// reachedNames returns the names (or keys) of the nodes a walk reached,
// the start included, keyed for lookup.
func reachedNames(nb *graph.Neighbourhood, n map[string]graph.Node) map[string]bool {
	byID := map[uuid.UUID]string{}
	for name, node := range n {
		byID[node.ID] = name
	}
	out := map[string]bool{}
	for _, rn := range nb.Nodes {
		out[byID[rn.ID]] = true
	}
	return out
}

func TestFindRelatedWalkSemantics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	n := walkGraph(t, b)
	walk := func(opts graph.RelatedOptions) (map[string]bool, *graph.Neighbourhood) {
		t.Helper()
		opts.Depth = 4
		nb, err := b.store.FindRelated(ctx, n["indicator"].ID, opts)
		require.NoError(t, err)
		return reachedNames(nb, n), nb
	}
	set := func(names ...string) map[string]bool {
		m := map[string]bool{}
		for _, s := range names {
			m[s] = true
		}
		return m
	}

	t.Run("default follows intelligence and containment, never provenance or lifecycle", func(t *testing.T) {
		got, nb := walk(graph.RelatedOptions{})
		require.Equal(t, set("indicator", "malware", "report", "technique"), got)
		for _, e := range nb.Edges {
			require.NotEqual(t, "created-by", e.Relation, "no provenance edge among the returned edges")
			require.NotEqual(t, "duplicate-of", e.Relation)
		}
		require.Len(t, nb.Edges, 3)
	})
	t.Run("include provenance walks created-by", func(t *testing.T) {
		got, nb := walk(graph.RelatedOptions{IncludeProvenance: true})
		require.Equal(t, set("indicator", "malware", "report", "technique", "eset", "other"), got)
		other, ok := nb.Node(n["other"].ID)
		require.True(t, ok)
		require.Equal(t, "created-by", other.Via.Relation)
		require.Equal(t, n["eset"].ID, other.Via.From)
	})
	t.Run("relations: only these, whatever their class", func(t *testing.T) {
		got, _ := walk(graph.RelatedOptions{Relations: []string{graph.RelIndicates}})
		require.Equal(t, set("indicator", "malware"), got)
		got, nb := walk(graph.RelatedOptions{Relations: []string{graph.RelIndicates, "duplicate-of"}})
		require.Equal(t, set("indicator", "malware", "replacement"), got)
		require.Len(t, nb.Edges, 2)
	})
	t.Run("exclude relations", func(t *testing.T) {
		got, _ := walk(graph.RelatedOptions{ExcludeRelations: []string{"object"}})
		require.Equal(t, set("indicator", "malware", "technique"), got)
		got, _ = walk(graph.RelatedOptions{ExcludeRelations: []string{"uses"}, IncludeProvenance: true})
		require.Equal(t, set("indicator", "malware", "report", "eset", "other"), got)
	})
	t.Run("kinds: only reach nodes of these kinds", func(t *testing.T) {
		got, _ := walk(graph.RelatedOptions{Kinds: []graph.Kind{graph.KindMalware}})
		require.Equal(t, set("indicator", "malware"), got)
		got, _ = walk(graph.RelatedOptions{Kinds: []graph.Kind{graph.KindMalware, graph.KindAttackPattern}})
		require.Equal(t, set("indicator", "malware", "technique"), got)
		got, _ = walk(graph.RelatedOptions{Kinds: []graph.Kind{graph.KindReport}})
		require.Equal(t, set("indicator"), got, "the report is reached only through a malware")
	})
}

func TestFindRelatedTruncationIsHonest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	// A hub malware used by 5 intrusion sets (intelligence) and held by 5
	// reports (containment), plus one created-by (provenance, not walked).
	hub := graph.NamedNode(graph.KindMalware, "hub-malware")
	nodes := []graph.Node{hub}
	var rels []graph.Relation
	intel, reports := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
	for i := range 5 {
		set := graph.NamedNode(graph.KindIntrusionSet, fmt.Sprintf("set-%d", i))
		rep := graph.SourceNode(graph.KindReport, fmt.Sprintf("report--00000000-0000-4000-8000-00000000010%d", i))
		nodes = append(nodes, set, rep)
		intel[set.ID], reports[rep.ID] = true, true
		rels = append(rels,
			graph.Relation{Src: set.Ref(), Type: "uses", Dst: hub.Ref()},
			graph.Relation{Src: rep.Ref(), Type: "object", Dst: hub.Ref()})
	}
	eset := graph.SourceNode(graph.KindIdentity, "identity--00000000-0000-4000-8000-000000000199")
	nodes = append(nodes, eset)
	rels = append(rels, graph.Relation{Src: hub.Ref(), Type: "created-by", Dst: eset.Ref()})
	_, err := b.store.Write(ctx, graph.Batch{Nodes: nodes, Relations: rels})
	require.NoError(t, err)

	count := func(nb *graph.Neighbourhood) (sets, reps int) {
		for _, rn := range nb.Nodes {
			sets += map[bool]int{true: 1}[intel[rn.ID]]
			reps += map[bool]int{true: 1}[reports[rn.ID]]
		}
		return sets, reps
	}
	for _, tc := range []struct {
		fanout, sets, reports, cut int
	}{{4, 4, 0, 6}, {7, 5, 2, 3}, {10, 5, 5, 0}} {
		nb, err := b.store.FindRelated(ctx, hub.ID, graph.RelatedOptions{Depth: 1, Fanout: tc.fanout})
		require.NoError(t, err)
		sets, reps := count(nb)
		require.Equal(t, tc.sets, sets, "fanout %d: intelligence edges come first", tc.fanout)
		require.Equal(t, tc.reports, reps, "fanout %d", tc.fanout)
		start, _ := nb.Node(hub.ID)
		require.Equal(t, tc.cut > 0, nb.Truncated, "fanout %d", tc.fanout)
		if tc.cut > 0 {
			require.Equal(t, 10, start.Degree, "fanout %d: the true degree counts the walkable edges (not created-by)", tc.fanout)
		} else {
			require.Zero(t, start.Degree, "fanout %d: an uncut node reports no cut", tc.fanout)
		}
		require.Equal(t, tc.cut, start.EdgesCut, "fanout %d", tc.fanout)
		again, err := b.store.FindRelated(ctx, hub.ID, graph.RelatedOptions{Depth: 1, Fanout: tc.fanout})
		require.NoError(t, err)
		require.Equal(t, nb.Nodes, again.Nodes, "the walk is deterministic")
	}
	// With provenance walked, created-by counts in the degree and comes last.
	nb, err := b.store.FindRelated(ctx, hub.ID, graph.RelatedOptions{Depth: 1, Fanout: 10, IncludeProvenance: true})
	require.NoError(t, err)
	start, _ := nb.Node(hub.ID)
	require.Equal(t, 11, start.Degree)
	require.Equal(t, 1, start.EdgesCut)
	_, ok := nb.Node(eset.ID)
	require.False(t, ok, "provenance is cut before containment")
	// Cut nodes below the start report theirs too.
	first := graph.NamedNode(graph.KindIntrusionSet, "set-0")
	nb, err = b.store.FindRelated(ctx, first.ID, graph.RelatedOptions{Depth: 2, Fanout: 3})
	require.NoError(t, err)
	h, ok := nb.Node(hub.ID)
	require.True(t, ok)
	require.Equal(t, 10, h.Degree)
	require.Equal(t, 7, h.EdgesCut)
}

// TestWalkEdgesRoundTrip checks that the walks return each edge among the
// reached nodes exactly as stored, through the parallel arrays both
// engines return them in: sources that need quoting in an array literal
// (commas, quotes, braces, backslashes, spaces, the word NULL, the empty
// string), none at all, a confidence of 0 against none, and each node's
// edges in (relation, peer) order. On Citus only the level engine runs.
func TestWalkEdgesRoundTrip(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	hub := graph.NamedNode(graph.KindMalware, "round-trip-hub")
	zero := 0
	awkward := []string{`a,b`, `say "hi"`, `{braces}`, `back\slash`, `two words`, `NULL`, ``, `ünïcode`}
	nodes := []graph.Node{hub}
	var want []graph.Relation
	peers := map[graph.Ref]uuid.UUID{}
	for i := range 6 {
		peer := graph.NamedNode(graph.KindTool, fmt.Sprintf("round-trip-peer-%d", i))
		nodes = append(nodes, peer)
		peers[peer.Ref()] = peer.ID
		rel := graph.Relation{Src: hub.Ref(), Type: []string{"uses", "related-to", "uses"}[i%3], Dst: peer.Ref()}
		switch i {
		case 0:
			rel.Sources = awkward
		case 1:
			rel.Confidence = &zero
			rel.Sources = []string{"feed-b", "feed-a"}
		case 2:
			rel.Sources = nil
		default:
			rel.Sources = []string{"feed-a"}
		}
		want = append(want, rel)
	}
	_, err := b.store.Write(ctx, graph.Batch{Nodes: nodes, Relations: want})
	require.NoError(t, err)

	walks := map[string]func(context.Context, uuid.UUID, graph.RelatedOptions) (*graph.Neighbourhood, error){
		"FindRelated": b.store.FindRelated, "FindRelatedLevels": b.store.FindRelatedLevels,
	}
	if pgtest.CitusMode() {
		delete(walks, "FindRelated") // the recursive walk does not run on Citus
	}
	for name, walk := range walks {
		nb, err := walk(ctx, hub.ID, graph.RelatedOptions{Depth: 1})
		require.NoError(t, err, name)
		var got []graph.Edge
		for _, e := range nb.Edges {
			if e.Src == hub.ID {
				got = append(got, e)
			}
		}
		require.Len(t, got, len(want), name)
		for i := 1; i < len(got); i++ {
			prev, cur := got[i-1], got[i]
			require.True(t, prev.Relation < cur.Relation || (prev.Relation == cur.Relation && prev.Dst.String() < cur.Dst.String()),
				"%s: edges out of (relation, peer) order: %v before %v", name, prev, cur)
		}
		byDst := map[uuid.UUID]graph.Edge{}
		for _, e := range got {
			byDst[e.Dst] = e
		}
		for _, r := range want {
			e, ok := byDst[peers[r.Dst]]
			require.True(t, ok, "%s: no edge to %v", name, r.Dst)
			require.Equal(t, r.Type, e.Relation, name)
			wantSources := r.Sources
			if wantSources == nil {
				wantSources = []string{}
			}
			require.ElementsMatch(t, wantSources, e.Sources, "%s: sources of the edge to %v", name, r.Dst)
			require.Equal(t, r.Confidence, e.Confidence, "%s: confidence of the edge to %v", name, r.Dst)
			require.False(t, e.Telemetry, name)
		}
	}
}

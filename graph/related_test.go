package graph_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestKeepPathsTo cuts a walk's tree to the branches that end at an actor:
// two actors sharing the start of their path, a threat actor kept for
// intrusion-set, a side branch and its edges left out.
func TestKeepPathsTo(t *testing.T) {
	t.Parallel()
	node := func(kind graph.Kind, name string, from *graph.RelatedNode, depth int) graph.RelatedNode {
		n := graph.RelatedNode{Node: graph.NamedNode(kind, name), Depth: depth}
		if from != nil {
			n.Via = &graph.Step{From: from.ID, Relation: "r", Direction: "out"}
		}
		return n
	}
	file := node(graph.KindFile, "f", nil, 0)
	ind := node(graph.KindIndicator, "i", &file, 1)
	side := node(graph.KindReport, "side", &file, 1)
	mal := node(graph.KindMalware, "m", &ind, 2)
	set := node(graph.KindIntrusionSet, "s", &mal, 3)
	actor := node(graph.KindThreatActor, "a", &ind, 2)
	leaf := node(graph.KindTool, "t", &set, 4)
	edge := func(a, b graph.RelatedNode) graph.Edge { return graph.Edge{Src: a.ID, Relation: "r", Dst: b.ID} }
	nb := &graph.Neighbourhood{
		Start: file.ID, Nodes: []graph.RelatedNode{file, ind, side, mal, actor, set, leaf},
		Edges:     []graph.Edge{edge(file, ind), edge(file, side), edge(ind, mal), edge(mal, set), edge(ind, actor), edge(set, leaf), edge(side, mal)},
		Truncated: true,
	}
	got := nb.KeepPathsTo([]graph.Kind{graph.KindIntrusionSet})
	ids := func(ns []graph.RelatedNode) (out []uuid.UUID) {
		for _, n := range ns {
			out = append(out, n.ID)
		}
		return out
	}
	require.Equal(t, ids([]graph.RelatedNode{file, ind, mal, actor, set}), ids(got.Nodes))
	require.Equal(t, []graph.Edge{edge(file, ind), edge(ind, mal), edge(mal, set), edge(ind, actor)}, got.Edges)
	require.Equal(t, []graph.Kind{graph.KindIntrusionSet}, got.PathsTo)
	require.True(t, got.Truncated)
	require.Len(t, nb.Nodes, 7, "the walk's own answer is left as it was")

	none := nb.KeepPathsTo([]graph.Kind{graph.KindCampaign})
	require.Equal(t, ids([]graph.RelatedNode{file}), ids(none.Nodes))
	require.Empty(t, none.Edges)
}

package store_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestEntityHasOneEdgePerPeer: two revoked copies of one technique that a
// report and a mitigation both link to give the live replacement one edge
// from each, not two: a repeat neither takes a fan-out slot nor counts in
// the degree, and the answer is the same in both engines (which would not
// hold if the repeats came back in whatever order a plan chose).
func TestEntityHasOneEdgePerPeer(t *testing.T) {
	t.Parallel()
	live := attackNode(graph.KindAttackPattern, "PowerShell", "T1059.001")
	var olds []graph.Node
	for _, id := range []string{"T1086", "T1064"} {
		n := graph.NamedNode(graph.KindAttackPattern, "PowerShell "+id, id)
		n.Props = map[string]any{"revoked": true}
		olds = append(olds, n)
	}
	event := graph.SourceNode(graph.KindReport, "misp--00000000-0000-4000-8000-000000000087")
	mitigation := graph.NamedNode(graph.KindCourseOfAction, "Code Signing", "M1045")
	group := attackNode(graph.KindIntrusionSet, "APT28", "G0007")
	batch := graph.Batch{Nodes: append([]graph.Node{live, event, mitigation, group}, olds...)}
	for _, old := range olds {
		batch.Relations = append(batch.Relations,
			graph.Relation{Src: event.Ref(), Type: "object", Dst: old.Ref()},
			graph.Relation{Src: mitigation.Ref(), Type: "mitigates", Dst: old.Ref()},
			graph.Relation{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()})
	}
	batch.Relations = append(batch.Relations, graph.Relation{Src: group.Ref(), Type: "uses", Dst: live.Ref()})
	b := writeBatches(t, []graph.Batch{batch})

	count := func(nb *graph.Neighbourhood, src, dst graph.Node, rel string) int {
		n := 0
		for _, e := range nb.Edges {
			if e.Src == src.ID && e.Dst == dst.ID && e.Relation == rel {
				n++
			}
		}
		return n
	}
	nb := walkBoth(t, b, live.ID, graph.RelatedOptions{Depth: 1})
	require.Len(t, nb.Nodes, 4, "the replacement, the report, the mitigation and the group")
	require.Equal(t, 1, count(nb, event, live, "object"), "one object edge, not one per revoked copy")
	require.Equal(t, 1, count(nb, mitigation, live, "mitigates"))

	// Three edges can be followed from the replacement (object and
	// mitigates in, uses in); with a fan-out of 2 one is cut, and the
	// degree says 3, not 5.
	cut := walkBoth(t, b, live.ID, graph.RelatedOptions{Depth: 1, Fanout: 2})
	require.True(t, cut.Truncated)
	require.Equal(t, live.ID, cut.Nodes[0].ID)
	require.Equal(t, 3, cut.Nodes[0].Degree, "repeats do not count in the degree")
	require.Equal(t, 1, cut.Nodes[0].EdgesCut)
}

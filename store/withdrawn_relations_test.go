package store_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestWithdrawnRelationIsNotWalked: a relationship a source revoked or
// deprecated (a newer version of it with revoked or x_mitre_deprecated, the
// mappers' lifecycle mark) is not followed by either walk engine, counts in
// no degree, is not returned among the reached nodes' edges, and is
// followed with IncludeWithdrawn; the ends stay live. It holds on every
// path of FindRelated: nodes read as stored (no entity, no withdrawn node),
// the entity path (a node standing for another), a hub read in walk order
// from the indexes, and the live version written before or after the
// withdrawn one. NodeDetails counts it as withdrawn.
func TestWithdrawnRelationIsNotWalked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		entity  bool // a revoked node standing for another: the entity path
		hub     bool // the actor has more relations than the fan-out
		reverse bool // the withdrawn version written first
	}{
		{name: "plain"}, {name: "plain reverse", reverse: true}, {name: "entity", entity: true},
		{name: "hub", hub: true}, {name: "hub entity", hub: true, entity: true}, {name: "hub reverse", hub: true, reverse: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			actor := graph.NamedNode(graph.KindIntrusionSet, "WR Actor")
			malware := graph.NamedNode(graph.KindMalware, "WR Malware")
			tool := graph.NamedNode(graph.KindTool, "WR Tool")
			report := graph.NamedNode(graph.KindReport, "WR Report")
			nodes := []graph.Node{actor, malware, tool, report}
			// The live version as ATT&CK writes it (its flags false), and
			// a newer version that deprecates the relationship.
			live := graph.Relation{Src: actor.Ref(), Type: "uses", Dst: malware.Ref(), Sources: []string{"v1"},
				Props: map[string]any{"revoked": false, "x_mitre_deprecated": false}}
			dead := graph.Relation{Src: actor.Ref(), Type: "uses", Dst: malware.Ref(), Sources: []string{"v2"},
				Props: map[string]any{"revoked": false, "x_mitre_deprecated": true, graph.PropLifecycle: graph.LifecycleDeprecated}}
			rels := []graph.Relation{
				{Src: actor.Ref(), Type: "uses", Dst: tool.Ref()},
				// the malware is reached another way: the withdrawn edge
				// between two reached nodes is not returned either
				{Src: report.Ref(), Type: "object", Dst: malware.Ref()},
				{Src: report.Ref(), Type: "object", Dst: actor.Ref()},
			}
			if tc.entity {
				old := graph.NamedNode(graph.KindTool, "WR Old Tool")
				old.Props = map[string]any{"revoked": true}
				nodes = append(nodes, old)
				rels = append(rels, graph.Relation{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: tool.Ref()})
			}
			fanout := 0
			if tc.hub {
				fanout = 5
				for i := range 8 {
					n := graph.NamedNode(graph.KindCampaign, fmt.Sprintf("WR Campaign %d", i))
					nodes = append(nodes, n)
					rels = append(rels, graph.Relation{Src: n.Ref(), Type: "attributed-to", Dst: actor.Ref()})
				}
			}
			versions := []graph.Batch{{Nodes: nodes, Relations: append(rels, live)}, {Relations: []graph.Relation{dead}}}
			if tc.reverse {
				slices.Reverse(versions)
			}
			b := writeBatches(t, versions)

			opts := graph.RelatedOptions{Depth: 1, Fanout: fanout, MaxNodes: 100}
			nb := walkBoth(t, b, actor.ID, opts)
			got := reached(nb)
			require.True(t, got[tool.ID], "the live relation is walked")
			require.False(t, got[malware.ID], "the deprecated relation is not walked")
			if tc.hub {
				// out: uses the tool; in: the report's object, 8 attributed-to
				require.Equal(t, 10, nb.Nodes[0].Degree, "the withdrawn relation counts in no degree")
			}

			nb = walkBoth(t, b, report.ID, graph.RelatedOptions{Depth: 1})
			got = reached(nb)
			require.True(t, got[actor.ID] && got[malware.ID])
			for _, e := range nb.Edges {
				require.False(t, e.Src == actor.ID && e.Dst == malware.ID, "no withdrawn edge among the reached nodes: %+v", e)
			}

			raw := walkBoth(t, b, actor.ID, graph.RelatedOptions{Depth: 1, Fanout: 100, IncludeWithdrawn: true})
			require.True(t, reached(raw)[malware.ID], "IncludeWithdrawn follows it")
			require.True(t, slices.ContainsFunc(raw.Edges, func(e graph.Edge) bool {
				return e.Src == actor.ID && e.Relation == "uses" && e.Dst == malware.ID
			}))

			d, err := b.store.NodeDetails(ctx, actor.ID)
			require.NoError(t, err)
			i := slices.IndexFunc(d.Relations, func(r graph.RelationDegree) bool { return r.Relation == "uses" && r.Direction == "out" })
			require.GreaterOrEqual(t, i, 0)
			require.Equal(t, graph.RelationDegree{Relation: "uses", Class: graph.ClassIntelligence, Direction: "out", Edges: 2, Withdrawn: 1}, d.Relations[i])
		})
	}
}

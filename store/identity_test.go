package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// attackNode is a live ATT&CK-keyed node claiming the name aliases of
// names, as the mappers build it.
func attackNode(kind graph.Kind, name, id string, names ...string) graph.Node {
	n := graph.NamedNode(kind, name, id)
	for _, s := range append([]string{name}, names...) {
		n.Aliases = append(n.Aliases, graph.NameAlias(kind, s))
	}
	n.Aliases = append(n.Aliases, graph.ExternalIDAlias(id))
	return n
}

func TestResolveFollowsReplacements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	// T1086 -> T1059.001 -> T9999 (a chain), and a cycle T0001 <-> T0002.
	ps := graph.NamedNode(graph.KindAttackPattern, "PowerShell", "T1086")
	ps.Props = map[string]any{"revoked": true}
	mid := graph.NamedNode(graph.KindAttackPattern, "PowerShell", "T1059.001")
	mid.Props = map[string]any{"revoked": true}
	live := attackNode(graph.KindAttackPattern, "PowerShell v2", "T1059.002")
	c1 := graph.NamedNode(graph.KindAttackPattern, "One", "T0001")
	c2 := graph.NamedNode(graph.KindAttackPattern, "Two", "T0002")
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{ps, mid, live, c1, c2}, Relations: []graph.Relation{
		{Src: ps.Ref(), Type: graph.RelRevokedBy, Dst: mid.Ref()},
		{Src: mid.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()},
		{Src: c1.Ref(), Type: graph.RelRevokedBy, Dst: c2.Ref()},
		{Src: c2.Ref(), Type: graph.RelRevokedBy, Dst: c1.Ref()},
	}})
	require.NoError(t, err)

	for _, ref := range []string{"attack-pattern:T1086", "T1086", ps.ID.String(), "attack-pattern:t1059.001", live.ID.String()} {
		r, err := b.store.Resolve(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, live.ID, r.Node.ID, ref)
		n, err := b.store.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, live.ID, n.ID, "ResolveNode follows replacements too: %s", ref)
	}
	r, err := b.store.Resolve(ctx, "T1086")
	require.NoError(t, err)
	require.Equal(t, "T1086 revoked by T1059.001; T1059.001 revoked by T1059.002", r.Note())
	require.Equal(t, []uuid.UUID{ps.ID, mid.ID}, briefIDs(r.Replaced))

	r, err = b.store.Resolve(ctx, "attack-pattern:T1059.002")
	require.NoError(t, err)
	require.Empty(t, r.Note(), "a live node resolves to itself, without a note")

	r, err = b.store.Resolve(ctx, "attack-pattern:T0001")
	require.NoError(t, err, "a revoked-by cycle ends, it does not loop")
	require.True(t, r.Cycle)
	require.Equal(t, c2.ID, r.Node.ID)
	require.Contains(t, r.Note(), "cycle")
}

func briefIDs(bs []graph.NodeBrief) []uuid.UUID {
	out := []uuid.UUID{}
	for _, b := range bs {
		out = append(out, b.ID)
	}
	return out
}

// TestAmbiguousAliasRecordedNotMerged: an alias two entities with ATT&CK
// ids of their own claim is recorded in either load order, counted once,
// refused by a lookup with both candidates and listed by NodeDetails; the
// two stay two nodes.
func TestAmbiguousAliasRecordedNotMerged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := attackNode(graph.KindIntrusionSet, "Dragonfly", "G0035", "Berserk Bear", "Energetic Bear")
	c := attackNode(graph.KindIntrusionSet, "Temp.Veles", "G0088", "Berserk Bear")
	other := attackNode(graph.KindIntrusionSet, "APT28", "G0007", "Sofacy")
	for _, order := range [][]graph.Node{{a, other, c}, {c, other, a}} {
		b := setup(t)
		var made int64
		for _, n := range order {
			ws, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{n}})
			require.NoError(t, err)
			made += ws.AliasesAmbiguous
		}
		ws, err := b.store.Write(ctx, graph.Batch{Nodes: order})
		require.NoError(t, err)
		require.Zero(t, ws.AliasesAmbiguous, "writing again finds nothing new")
		require.Equal(t, int64(1), made, "one alias became ambiguous")

		_, err = b.store.ResolveNode(ctx, "intrusion-set:berserk bear")
		require.ErrorIs(t, err, store.ErrAmbiguous)
		require.ErrorContains(t, err, "G0035")
		require.ErrorContains(t, err, "G0088")
		n, err := b.store.ResolveNode(ctx, "intrusion-set:Energetic Bear")
		require.NoError(t, err, "an alias one entity claims resolves")
		require.Equal(t, a.ID, n.ID)

		d, err := b.store.NodeDetails(ctx, a.ID)
		require.NoError(t, err)
		require.Len(t, d.Ambiguous, 1)
		require.Equal(t, "intrusion-set:berserk bear", d.Ambiguous[0].Alias)
		require.Equal(t, []uuid.UUID{c.ID}, briefIDs(d.Ambiguous[0].Others))
		d, err = b.store.NodeDetails(ctx, other.ID)
		require.NoError(t, err)
		require.Empty(t, d.Ambiguous)

		var nodes int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM nodes`).Scan(&nodes))
		require.Equal(t, 3, nodes, "never merged")
	}
}

func TestRelationIDsKept(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	m := graph.NamedNode(graph.KindMalware, "Bad Rabbit", "S0606")
	m.Aliases = []string{"malware--a8a1e9c8-7b41-4cb7-a1d0-4b2fbb1e0a6e"}
	rel := graph.Relation{Src: "intrusion-set--11111111-1111-4111-8111-111111111111", Type: "uses",
		Dst: "malware--a8a1e9c8-7b41-4cb7-a1d0-4b2fbb1e0a6e", Sources: []string{"feed-a"},
		IDs: []string{"relationship--22222222-2222-4222-8222-222222222222"}}
	same := rel
	same.IDs = []string{"relationship--33333333-3333-4333-8333-333333333333"}
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{m}, Relations: []graph.Relation{rel, same}})
	require.NoError(t, err)

	for _, id := range []string{rel.IDs[0], same.IDs[0]} {
		got, err := b.store.RelationByID(ctx, id)
		require.NoError(t, err, "both ids of the relation merged in the batch are kept")
		require.Equal(t, "uses", got.Relation)
		require.Equal(t, rel.Src, got.Src)
		require.Nil(t, got.SrcNode, "the group is not loaded: pending")
		require.NotNil(t, got.DstNode)
		require.Equal(t, m.ID, got.DstNode.ID)
		require.Equal(t, "feed-a", got.Feed)
	}
	_, err = b.store.RelationByID(ctx, "relationship--44444444-4444-4444-8444-444444444444")
	require.ErrorIs(t, err, store.ErrNotFound)

	// The same id restated with other endpoints keeps the smallest, in
	// either order.
	alt := rel
	alt.Type = "attributed-to"
	_, err = b.store.Write(ctx, graph.Batch{Relations: []graph.Relation{alt}})
	require.NoError(t, err)
	got, err := b.store.RelationByID(ctx, rel.IDs[0])
	require.NoError(t, err)
	require.Equal(t, "attributed-to", got.Relation)
	_, err = b.store.Write(ctx, graph.Batch{Relations: []graph.Relation{rel}})
	require.NoError(t, err)
	got, err = b.store.RelationByID(ctx, rel.IDs[0])
	require.NoError(t, err)
	require.Equal(t, "attributed-to", got.Relation)
}

// dragonflies are ATT&CK's Dragonfly (G0035) and Dragonfly 2.0 (G0074),
// which it revoked, both claiming "Berserk Bear".
func dragonflies() (live, old graph.Node) {
	return attackNode(graph.KindIntrusionSet, "Dragonfly", "G0035", "Berserk Bear"),
		attackNode(graph.KindIntrusionSet, "Dragonfly 2.0", "G0074", "Berserk Bear")
}

// TestClaimsOfAReplacedEntityAreNotAmbiguous: MISP's galaxy keeps ATT&CK's
// revoked "Dragonfly 2.0 - G0074" with the alias "Berserk Bear" that the
// live Dragonfly (G0035, its replacement) claims: one entity, so the alias
// resolves to the replacement and show lists no ambiguity.
func TestClaimsOfAReplacedEntityAreNotAmbiguous(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	live, old := dragonflies()
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{live, old},
		Relations: []graph.Relation{{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()}}})
	require.NoError(t, err)
	n, err := b.store.ResolveNode(ctx, "intrusion-set:Berserk Bear")
	require.NoError(t, err)
	require.Equal(t, live.ID, n.ID)
	d, err := b.store.NodeDetails(ctx, live.ID)
	require.NoError(t, err)
	require.Empty(t, d.Ambiguous)
	require.Equal(t, []uuid.UUID{old.ID}, briefIDs(d.Replaces))
}

// TestTwoRevokedNodesGiveOneEdge: two revoked techniques replaced by one
// (T1086 and T1064 both revoked by T1059) that each carry a link of one
// type to one node give the replacement that link once, in both
// directions and both walk engines: in its edges and in the degree the
// fan-out cap counts. A link the replacement has itself is not repeated
// either.
func TestTwoRevokedNodesGiveOneEdge(t *testing.T) {
	t.Parallel()
	live := attackNode(graph.KindAttackPattern, "Command and Scripting Interpreter", "T1059")
	var nodes []graph.Node
	var rels []graph.Relation
	group := attackNode(graph.KindIntrusionSet, "APT28", "G0007")
	tool := attackNode(graph.KindTool, "PowerSploit", "S0194")
	for _, id := range []string{"T1086", "T1064"} {
		old := graph.NamedNode(graph.KindAttackPattern, "old "+id, id)
		old.Props = map[string]any{"revoked": true}
		nodes = append(nodes, old)
		rels = append(rels, graph.Relation{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()},
			graph.Relation{Src: group.Ref(), Type: "uses", Dst: old.Ref()},
			graph.Relation{Src: old.Ref(), Type: "related-to", Dst: tool.Ref()},
			graph.Relation{Src: tool.Ref(), Type: "uses", Dst: old.Ref()})
	}
	rels = append(rels, graph.Relation{Src: tool.Ref(), Type: "uses", Dst: live.Ref()})
	b := writeBatches(t, []graph.Batch{{Nodes: append(nodes, live, group, tool), Relations: rels}})
	for _, start := range []uuid.UUID{live.ID, group.ID, tool.ID} {
		nb := walkBoth(t, b, start, graph.RelatedOptions{Depth: 2})
		seen := map[string]int{}
		for _, e := range nb.Edges {
			k := e.Src.String() + " " + e.Relation + " " + e.Dst.String()
			seen[k]++
			require.Equal(t, 1, seen[k], "from %s: edge %s returned twice", start, k)
		}
		require.Len(t, nb.Edges, 3, "from %s: G0007 uses T1059, T1059 related-to S0194, S0194 uses T1059", start)
		require.Len(t, nb.Nodes, 3)
	}
	// One slot per distinct edge: with a fan-out of 2, T1059's 3 edges cut 1.
	nb := walkBoth(t, b, live.ID, graph.RelatedOptions{Depth: 1, Fanout: 2})
	n, ok := nb.Node(live.ID)
	require.True(t, ok)
	require.Equal(t, 3, n.Degree, "T1059's degree counts each distinct edge once")
	require.Equal(t, 1, n.EdgesCut)
}

// TestAmbiguityCountsWhenItBegins pins the rule for the load report's
// "ambiguous names" (WriteStats.AliasesAmbiguous): it counts the aliases a
// write made ambiguous, when it made them so. A later write that settles
// one (a revoked-by joining its two claimants into one entity) does not
// re-count the earlier load, whose report stays as it was, and counts
// nothing itself; what is ambiguous now is ambiguous_aliases, which
// lookups and show read, and which is current after every commit.
func TestAmbiguityCountsWhenItBegins(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	live, old := dragonflies()
	ws, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{live, old}})
	require.NoError(t, err)
	require.Equal(t, int64(1), ws.AliasesAmbiguous, "two entities claim berserk bear")
	_, err = b.store.ResolveNode(ctx, "intrusion-set:Berserk Bear")
	require.ErrorIs(t, err, store.ErrAmbiguous)

	ws, err = b.store.Write(ctx, graph.Batch{Relations: []graph.Relation{{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()}}})
	require.NoError(t, err)
	require.Zero(t, ws.AliasesAmbiguous, "settling an ambiguity counts nothing")
	require.Empty(t, lines(t, b, `SELECT alias FROM ambiguous_aliases`), "nothing is ambiguous now")
	n, err := b.store.ResolveNode(ctx, "intrusion-set:Berserk Bear")
	require.NoError(t, err)
	require.Equal(t, live.ID, n.ID)
}

package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// walkBoth walks from start with both engines, requires the same answer
// and returns it.
func walkBoth(t *testing.T, b *testBundle, start uuid.UUID, opts graph.RelatedOptions) *graph.Neighbourhood {
	t.Helper()
	ctx := context.Background()
	lv, err := b.store.FindRelatedLevels(ctx, start, opts)
	require.NoError(t, err)
	if pgtest.CitusMode() {
		// Citus runs only the level engine (a recursive CTE needs a filter
		// on the distribution column there).
		return lv
	}
	nb, err := b.store.FindRelated(ctx, start, opts)
	require.NoError(t, err)
	require.Equal(t, nb.Nodes, lv.Nodes, "both engines give the same nodes")
	require.ElementsMatch(t, nb.Edges, lv.Edges, "both engines give the same edges")
	return nb
}

func reached(nb *graph.Neighbourhood) map[uuid.UUID]bool {
	out := map[uuid.UUID]bool{}
	for _, n := range nb.Nodes {
		out[n.ID] = true
	}
	return out
}

// writeBatches writes batches one after the other into a new database.
func writeBatches(t *testing.T, batches []graph.Batch) *testBundle {
	t.Helper()
	b := setup(t)
	for _, batch := range batches {
		_, err := b.store.Write(context.Background(), batch)
		require.NoError(t, err)
	}
	return b
}

// entityRowsQuery reads node_entities and ambiguous_aliases as lines.
const entityRowsQuery = `
		SELECT node_id::text || ' ' || coalesce(entity_id::text, '-') || ' ' || reason FROM node_entities
		UNION ALL SELECT 'ambiguous ' || alias FROM ambiguous_aliases ORDER BY 1`

// entityRows reads node_entities and ambiguous_aliases, for comparing
// load orders.
func entityRows(t *testing.T, b *testBundle) []string {
	t.Helper()
	return lines(t, b, entityRowsQuery)
}

// lines reads a one-column text query.
func lines(t *testing.T, b *testBundle, q string) []string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), q)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// TestRevokedLinksReachTheReplacement: a feed's link to a revoked object (a
// MISP event tagged "PowerShell - T1086") reaches the live replacement
// (T1059.001), the revoked object's own links show on the replacement, in
// both walk engines, whichever arrived first: the link, or the revoked-by.
func TestRevokedLinksReachTheReplacement(t *testing.T) {
	t.Parallel()
	old := graph.NamedNode(graph.KindAttackPattern, "PowerShell", "T1086")
	old.Props = map[string]any{"revoked": true}
	live := attackNode(graph.KindAttackPattern, "PowerShell", "T1059.001")
	event := graph.SourceNode(graph.KindReport, "misp--00000000-0000-4000-8000-000000000086")
	mitigation := graph.NamedNode(graph.KindCourseOfAction, "Code Signing", "M1045")
	group := attackNode(graph.KindIntrusionSet, "APT28", "G0007")
	links := graph.Batch{Nodes: []graph.Node{old, live, event, mitigation, group}, Relations: []graph.Relation{
		{Src: event.Ref(), Type: "object", Dst: old.Ref()},
		{Src: mitigation.Ref(), Type: "mitigates", Dst: old.Ref()},
		{Src: group.Ref(), Type: "uses", Dst: live.Ref()},
	}}
	revocation := graph.Batch{Relations: []graph.Relation{{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()}}}
	var first []string
	for i, order := range [][]graph.Batch{{links, revocation}, {revocation, links}} {
		b := writeBatches(t, order)
		rows := entityRows(t, b)
		require.Equal(t, []string{old.ID.String() + " " + live.ID.String() + " revoked-by"}, rows)
		if i == 0 {
			first = rows
		}
		require.Equal(t, first, rows, "the same in either order")

		nb := walkBoth(t, b, event.ID, graph.RelatedOptions{Depth: 2})
		got := reached(nb)
		require.True(t, got[live.ID], "the event's link to T1086 reaches T1059.001")
		require.True(t, got[group.ID], "and on through it")
		require.True(t, got[mitigation.ID], "T1086's own links show on T1059.001")
		require.False(t, got[old.ID], "the revoked node is not returned")
		require.True(t, slices.ContainsFunc(nb.Edges, func(e graph.Edge) bool {
			return e.Src == event.ID && e.Relation == "object" && e.Dst == live.ID
		}), "the edge is returned as the event's link to the replacement")
		for _, e := range nb.Edges {
			require.NotEqual(t, graph.RelRevokedBy, e.Relation)
			require.NotEqual(t, e.Src, e.Dst, "no loop from the revoked-by")
		}

		nb = walkBoth(t, b, live.ID, graph.RelatedOptions{Depth: 1})
		got = reached(nb)
		require.True(t, got[event.ID] && got[mitigation.ID] && got[group.ID], "the replacement carries the revoked node's links")
		require.Len(t, nb.Nodes, 4)

		raw := walkBoth(t, b, event.ID, graph.RelatedOptions{Depth: 1, IncludeWithdrawn: true})
		got = reached(raw)
		require.True(t, got[old.ID], "--include-withdrawn shows the graph as stored")
		require.False(t, got[live.ID])
	}
}

// TestNameKeyedActorIsTheGroup: a MISP threat-actor cluster with no ATT&CK
// id whose name or synonyms one ATT&CK group claims is that group, in
// lookups and walks, in either load order; one whose names two groups
// claim is recorded as ambiguous and stays itself; a later claimant makes
// a resolved cluster ambiguous again, so the result never depends on what
// was loaded first.
func TestNameKeyedActorIsTheGroup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	apt28 := attackNode(graph.KindIntrusionSet, "APT28", "G0007", "Sofacy", "Fancy Bear", "Grizzly Steppe")
	apt29 := attackNode(graph.KindIntrusionSet, "APT29", "G0016", "Cozy Bear", "Grizzly Steppe")
	sofacy := graph.NamedNode(graph.KindThreatActor, "Sofacy")
	sofacy.Props = map[string]any{"synonyms": []any{"Fancy Bear", "Sednit"}}
	sofacy.Aliases = []string{"misp--7cdff317-a673-4474-84ec-4f1754947823"}
	grizzly := graph.NamedNode(graph.KindThreatActor, "Grizzly Steppe")
	unknown := graph.NamedNode(graph.KindThreatActor, "Nobody Claims Me")
	event := graph.SourceNode(graph.KindReport, "misp--00000000-0000-4000-8000-000000000028")
	misp := graph.Batch{Nodes: []graph.Node{sofacy, grizzly, unknown, event}, Relations: []graph.Relation{
		{Src: event.Ref(), Type: "attributed-to", Dst: sofacy.Ref()},
		{Src: event.Ref(), Type: "attributed-to", Dst: grizzly.Ref()},
	}}
	attack := graph.Batch{Nodes: []graph.Node{apt28, apt29}}
	var first []string
	for i, order := range [][]graph.Batch{{misp, attack}, {attack, misp}} {
		b := writeBatches(t, order)
		rows := entityRows(t, b)
		if i == 0 {
			first = rows
		}
		require.Equal(t, first, rows, "the same in either order")

		r, err := b.store.Resolve(ctx, "misp--7cdff317-a673-4474-84ec-4f1754947823")
		require.NoError(t, err)
		require.Equal(t, apt28.ID, r.Node.ID, "the cluster is the group")
		require.NotNil(t, r.SameAs)
		require.Equal(t, sofacy.ID, r.SameAs.ID)
		require.Equal(t, `threat-actor "Sofacy" is G0007, the one entity claiming its names`, r.Note())
		// Named by kind and name, the cluster resolves to the group and
		// says so, as by its id (before: the group, silently, though a
		// threat-actor was asked for).
		r, err = b.store.Resolve(ctx, "threat-actor:Sofacy")
		require.NoError(t, err)
		require.Equal(t, apt28.ID, r.Node.ID)
		require.NotNil(t, r.SameAs)
		require.Equal(t, `threat-actor "Sofacy" is G0007, the one entity claiming its names`, r.Note())
		r, err = b.store.Resolve(ctx, "intrusion-set:Sofacy")
		require.NoError(t, err)
		require.Equal(t, apt28.ID, r.Node.ID)
		require.Empty(t, r.Note(), "an alias of the group's own kind needs no note")

		d, err := b.store.NodeDetails(ctx, apt28.ID)
		require.NoError(t, err)
		require.Equal(t, []uuid.UUID{sofacy.ID}, briefIDs(d.SameEntity))
		d, err = b.store.NodeDetails(ctx, sofacy.ID)
		require.NoError(t, err)
		require.NotNil(t, d.Entity)
		require.Equal(t, apt28.ID, d.Entity.ID)

		r, err = b.store.Resolve(ctx, grizzly.ID.String())
		require.NoError(t, err)
		require.Equal(t, grizzly.ID, r.Node.ID, "names two groups claim merge nothing")
		d, err = b.store.NodeDetails(ctx, grizzly.ID)
		require.NoError(t, err)
		require.Nil(t, d.Entity)
		require.Len(t, d.Ambiguous, 1)
		require.ElementsMatch(t, []uuid.UUID{apt28.ID, apt29.ID}, briefIDs(d.Ambiguous[0].Others))
		r, err = b.store.Resolve(ctx, unknown.ID.String())
		require.NoError(t, err)
		require.Equal(t, unknown.ID, r.Node.ID)

		nb := walkBoth(t, b, event.ID, graph.RelatedOptions{Depth: 1})
		got := reached(nb)
		require.True(t, got[apt28.ID], "the event's actor is APT28")
		require.False(t, got[sofacy.ID])
		require.True(t, got[grizzly.ID], "the ambiguous cluster stays itself")
		nb = walkBoth(t, b, apt28.ID, graph.RelatedOptions{Depth: 1})
		require.True(t, reached(nb)[event.ID], "APT28 carries the cluster's links")

		// A second entity claiming "Sofacy" makes the cluster ambiguous.
		other := attackNode(graph.KindIntrusionSet, "Someone Else", "G0999", "Sofacy")
		ws, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{other}})
		require.NoError(t, err)
		require.Equal(t, int64(1), ws.AliasesAmbiguous, "intrusion-set:sofacy became ambiguous")
		r, err = b.store.Resolve(ctx, sofacy.ID.String())
		require.NoError(t, err)
		require.Equal(t, sofacy.ID, r.Node.ID)
		nb = walkBoth(t, b, event.ID, graph.RelatedOptions{Depth: 1})
		require.True(t, reached(nb)[sofacy.ID])
	}
}

// TestAmbiguousCountUnderConcurrentLoads: claims written by concurrent
// transactions count each alias that became ambiguous exactly once, and
// claimants that are one entity through revoked-by count none, the rule
// lookups apply.
func TestAmbiguousCountUnderConcurrentLoads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
	)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := attackNode(graph.KindIntrusionSet, fmt.Sprintf("Group %d", i), fmt.Sprintf("G09%02d", i), "Shared Name", "Also Shared")
			ws, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{n}})
			if !assertNoError(t, err) {
				return
			}
			mu.Lock()
			total += ws.AliasesAmbiguous
			mu.Unlock()
		}()
	}
	wg.Wait()
	require.Equal(t, int64(2), total, "two aliases became ambiguous, counted once each")
	_, err := b.store.ResolveNode(ctx, "intrusion-set:shared name")
	require.ErrorIs(t, err, store.ErrAmbiguous)

	live := attackNode(graph.KindIntrusionSet, "Dragonfly", "G0035", "Berserk Bear")
	old := attackNode(graph.KindIntrusionSet, "Dragonfly 2.0", "G0074", "Berserk Bear")
	ws, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{live, old},
		Relations: []graph.Relation{{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()}}})
	require.NoError(t, err)
	require.Zero(t, ws.AliasesAmbiguous, "one entity through revoked-by: not ambiguous")
	n, err := b.store.ResolveNode(ctx, "intrusion-set:berserk bear")
	require.NoError(t, err)
	require.Equal(t, live.ID, n.ID)
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	return assertTrue(t, err == nil, "%v", err)
}

func assertTrue(t *testing.T, ok bool, format string, args ...any) bool {
	t.Helper()
	if !ok {
		t.Errorf(format, args...)
	}
	return ok
}

// TestRelationshipIDsBecomeLinks: a report whose object_refs name a
// relationship id (or a sighting of one) links to the relationship's two
// endpoints once the relationship is known, in any order of the report,
// the relationship and its endpoints; nothing stays pending.
func TestRelationshipIDsBecomeLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	group := graph.NamedNode(graph.KindIntrusionSet, "Link Group")
	group.Aliases = []string{"intrusion-set--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"}
	tool := graph.NamedNode(graph.KindMalware, "Link Malware")
	tool.Aliases = []string{"malware--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"}
	report := graph.SourceNode(graph.KindReport, "report--cccccccc-cccc-4ccc-8ccc-cccccccccccc")
	sighting := graph.SourceNode(graph.KindSighting, "sighting--dddddddd-dddd-4ddd-8ddd-dddddddddddd")
	const relID = "relationship--eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"
	conf := 70
	uses := graph.Batch{Relations: []graph.Relation{{Src: graph.Ref(group.Aliases[0]), Type: "uses", Dst: graph.Ref(tool.Aliases[0]),
		IDs: []string{relID}, Sources: []string{"feed-a"}}}}
	endpoints := graph.Batch{Nodes: []graph.Node{group, tool}}
	naming := graph.Batch{Nodes: []graph.Node{report, sighting}, Relations: []graph.Relation{
		{Src: report.Ref(), Type: "object", Dst: relID, Sources: []string{"feed-b"}, Confidence: &conf},
		{Src: sighting.Ref(), Type: "sighting-of", Dst: relID, Sources: []string{"feed-b"}},
	}}
	var first []string
	for i, order := range [][]graph.Batch{
		{endpoints, uses, naming}, {naming, uses, endpoints}, {naming, endpoints, uses}, {uses, naming, endpoints},
	} {
		b := writeBatches(t, order)
		_, err := b.store.ReleasePending(ctx)
		require.NoError(t, err)
		rows := relationRows(t, b)
		if i == 0 {
			first = rows
		}
		require.Equal(t, first, rows, "order %d gives the same relations", i)
		require.Subset(t, rows, []string{
			fmt.Sprintf("%s object %s 70", report.ID, group.ID), fmt.Sprintf("%s object %s 70", report.ID, tool.ID),
			fmt.Sprintf("%s sighting-of %s -", sighting.ID, group.ID), fmt.Sprintf("%s sighting-of %s -", sighting.ID, tool.ID),
		})
		var pending int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
		require.Zero(t, pending, "order %d: nothing waits", i)
	}
}

// TestNestedRelationshipIDsBecomeLinks: a relationship whose end is
// another relationship (OpenCTI: an indicator "indicates" a relationship),
// named by a sighting, links the sighting to the ends of both, in every
// order; nothing is left pending naming a known relationship id, and
// writing it all again changes no pending row. Before, the expansion ran
// once: the sighting's link to the inner relationship stayed pending, and
// every reload took it out and parked it again.
func TestNestedRelationshipIDsBecomeLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mal := graph.NamedNode(graph.KindMalware, "Nested Malware")
	mal.Aliases = []string{"malware--aaaaaaaa-0000-4000-8000-00000000000a"}
	tech := graph.NamedNode(graph.KindAttackPattern, "Nested Technique")
	tech.Aliases = []string{"attack-pattern--aaaaaaaa-0000-4000-8000-00000000000b"}
	ind := graph.SourceNode(graph.KindIndicator, "indicator--aaaaaaaa-0000-4000-8000-00000000000c")
	sighting := graph.SourceNode(graph.KindSighting, "sighting--aaaaaaaa-0000-4000-8000-00000000000d")
	const inner, outer = "relationship--aaaaaaaa-0000-4000-8000-0000000000e1", "relationship--aaaaaaaa-0000-4000-8000-0000000000e2"
	endpoints := graph.Batch{Nodes: []graph.Node{mal, tech, ind}}
	uses := graph.Batch{Relations: []graph.Relation{{Src: graph.Ref(mal.Aliases[0]), Type: "uses", Dst: graph.Ref(tech.Aliases[0]), IDs: []string{inner}}}}
	indicates := graph.Batch{Relations: []graph.Relation{{Src: ind.Ref(), Type: "indicates", Dst: inner, IDs: []string{outer}}}}
	naming := graph.Batch{Nodes: []graph.Node{sighting}, Relations: []graph.Relation{{Src: sighting.Ref(), Type: "sighting-of", Dst: outer}}}
	var first []string
	for i, order := range [][]graph.Batch{
		{endpoints, uses, indicates, naming}, {naming, indicates, uses, endpoints},
		{indicates, naming, endpoints, uses}, {uses, endpoints, naming, indicates},
		{{Nodes: append(append([]graph.Node{}, endpoints.Nodes...), naming.Nodes...),
			Relations: append(append(append([]graph.Relation{}, naming.Relations...), indicates.Relations...), uses.Relations...)}},
	} {
		b := writeBatches(t, order)
		rows := relationRows(t, b)
		if i == 0 {
			first = rows
		}
		require.Equal(t, first, rows, "order %d gives the same relations", i)
		require.Subset(t, rows, []string{
			fmt.Sprintf("%s sighting-of %s -", sighting.ID, ind.ID),
			fmt.Sprintf("%s sighting-of %s -", sighting.ID, mal.ID),
			fmt.Sprintf("%s sighting-of %s -", sighting.ID, tech.ID),
			fmt.Sprintf("%s indicates %s -", ind.ID, mal.ID),
			fmt.Sprintf("%s indicates %s -", ind.ID, tech.ID),
		}, "order %d", i)
		pending := lines(t, b, `SELECT src_ref || ' ' || relation || ' ' || dst_ref || ' ' || created_at::text FROM pending_relations ORDER BY 1`)
		require.Empty(t, pending, "order %d: nothing waits", i)
		for _, batch := range order {
			_, err := b.store.Write(ctx, batch)
			require.NoError(t, err)
		}
		require.Equal(t, pending, lines(t, b, `SELECT src_ref || ' ' || relation || ' ' || dst_ref || ' ' || created_at::text FROM pending_relations ORDER BY 1`),
			"order %d: writing again changes no pending row", i)
	}
}

// relationRows reads relations as "src relation dst confidence" lines.
func relationRows(t *testing.T, b *testBundle) []string {
	t.Helper()
	return lines(t, b,
		`SELECT src_id::text || ' ' || relation || ' ' || dst_id::text || ' ' || coalesce(confidence::text, '-') FROM relations ORDER BY 1`)
}

// TestShowCountsTheEntitysLinks: intel show (NodeDetails) counts a node's
// links as intel related walks them: the links stored on the revoked object
// it replaces count on the replacement (before, show counted only the
// relations stored on the node itself, so `show G0094` said "intelligence
// 1" while `related G0094 --depth 1` listed 3), two of its nodes linking
// one peer with one relation are one link, and the relations stored on it
// that no walk follows (a withdrawn one, the revoked-by of the object it
// replaces) are counted apart. The expected counts are read from the walk.
func TestShowCountsTheEntitysLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := graph.NamedNode(graph.KindAttackPattern, "PowerShell", "T1086")
	old.Props = map[string]any{"revoked": true}
	live := attackNode(graph.KindAttackPattern, "PowerShell", "T1059.001")
	event := graph.SourceNode(graph.KindReport, "misp--00000000-0000-4000-8000-000000000087")
	mitigation := graph.NamedNode(graph.KindCourseOfAction, "Code Signing", "M1045")
	both := graph.NamedNode(graph.KindCourseOfAction, "Execution Prevention", "M1038")
	group := attackNode(graph.KindIntrusionSet, "APT28", "G0007")
	retracted := attackNode(graph.KindIntrusionSet, "APT29", "G0016")
	links := graph.Batch{Nodes: []graph.Node{old, live, event, mitigation, both, group, retracted}, Relations: []graph.Relation{
		{Src: event.Ref(), Type: "object", Dst: old.Ref()},
		{Src: mitigation.Ref(), Type: "mitigates", Dst: old.Ref()},
		{Src: both.Ref(), Type: "mitigates", Dst: old.Ref()},
		{Src: both.Ref(), Type: "mitigates", Dst: live.Ref()},
		{Src: group.Ref(), Type: "uses", Dst: live.Ref()},
		{Src: retracted.Ref(), Type: "uses", Dst: live.Ref(),
			Props: map[string]any{"x_mitre_deprecated": true, graph.PropLifecycle: graph.LifecycleDeprecated}},
	}}
	revocation := graph.Batch{Relations: []graph.Relation{{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref()}}}
	for _, order := range [][]graph.Batch{{links, revocation}, {revocation, links}} {
		b := writeBatches(t, order)
		nb := walkBoth(t, b, live.ID, graph.RelatedOptions{Depth: 1})
		walked := map[string]int64{}
		for _, e := range nb.Edges {
			switch live.ID {
			case e.Src:
				walked[e.Relation+" out"]++
			case e.Dst:
				walked[e.Relation+" in"]++
			}
		}
		require.NotEmpty(t, walked)
		d, err := b.store.NodeDetails(ctx, live.ID)
		require.NoError(t, err)
		shown := map[string]int64{}
		var through, withdrawn, itself int64
		for _, r := range d.Relations {
			if n := r.Edges - r.Withdrawn - r.Itself; n > 0 {
				shown[r.Relation+" "+r.Direction] = n
			}
			through, withdrawn, itself = through+r.Through, withdrawn+r.Withdrawn, itself+r.Itself
		}
		require.Equal(t, walked, shown, "show's walked links are the walk's edges")
		require.EqualValues(t, 2, through, "the event's and Code Signing's links, stored on T1086, come through it")
		require.EqualValues(t, 1, withdrawn, "the deprecated uses is counted, not walked")
		require.EqualValues(t, 1, itself, "T1086's revoked-by links the entity to itself")
		var sum int64
		for _, n := range d.Degree {
			sum += n
		}
		var edges int64
		for _, r := range d.Relations {
			edges += r.Edges
		}
		require.Equal(t, edges, sum, "the degree per class adds up the types")
	}
}

// TestRelationToItselfIsNoEdge: a relation stored between two records that
// merged into one node (MISP's threat-actor galaxy's APT10 "similar" to the
// mitre-intrusion-set galaxy's "menuPass - G0045", both the node G0045)
// links the node to itself. The walk returned it as an edge from the node
// to itself (intel related G0045 --format json), which the README says a
// walk never shows; show counts it as "to itself", not walked.
func TestRelationToItselfIsNoEdge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	group := attackNode(graph.KindIntrusionSet, "menuPass", "G0045")
	tool := attackNode(graph.KindTool, "PlugX", "S0013")
	b := writeBatches(t, []graph.Batch{{Nodes: []graph.Node{group, tool}, Relations: []graph.Relation{
		{Src: group.Ref(), Type: "similar", Dst: group.Ref()},
		{Src: group.Ref(), Type: "uses", Dst: tool.Ref()},
	}}})
	for _, start := range []uuid.UUID{group.ID, tool.ID} {
		nb := walkBoth(t, b, start, graph.RelatedOptions{Depth: 2})
		require.Len(t, nb.Nodes, 2)
		for _, e := range nb.Edges {
			require.NotEqual(t, e.Src, e.Dst, "no edge from a node to itself: %+v", e)
		}
		require.Len(t, nb.Edges, 1, "the uses edge")
	}
	d, err := b.store.NodeDetails(ctx, group.ID)
	require.NoError(t, err)
	for _, r := range d.Relations {
		if r.Relation == "similar" {
			require.Equal(t, r.Edges, r.Itself, "the loop is counted to itself, not as a walked link: %+v", r)
		}
	}
}

// TestNameManyFilesShareIsRefusedCheaply: a file name many files share
// ("svchost.exe", one file node per hash) is refused as ambiguous without
// a query per candidate: observables are never withdrawn nor stand for
// another entity, so preferLiveEntities has nothing to narrow among them.
// It read each candidate's node, replacement chain and entity (about five
// statements each, over 100 for one intel show).
func TestNameManyFilesShareIsRefusedCheaply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var batch graph.Batch
	for i := range 25 {
		f, hs, rels := graph.FileNode(map[string]string{"SHA-256": fmt.Sprintf("%064x", i+1)}, "svchost.exe")
		batch.Nodes = append(append(batch.Nodes, f), hs...)
		batch.Relations = append(batch.Relations, rels...)
	}
	b := writeBatches(t, []graph.Batch{batch})
	before := b.counter.n.Load()
	_, err := b.store.ResolveNode(ctx, "svchost.exe")
	require.ErrorIs(t, err, store.ErrAmbiguous)
	require.LessOrEqual(t, b.counter.n.Load()-before, int64(10), "no statements per candidate")
}

// TestShowCountsLinksToWithdrawnPeersApart: a link to a deprecated (or
// revoked, unreplaced) object is one the walk treats as absent, so show
// counts it withdrawn, not walked: "uses 2, 0 withdrawn" said two walked
// links while related listed one.
func TestShowCountsLinksToWithdrawnPeersApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	group := attackNode(graph.KindIntrusionSet, "APT28", "G0007")
	old := graph.NamedNode(graph.KindMalware, "OldMal", "S9901")
	old.Props = map[string]any{"x_mitre_deprecated": true}
	live := attackNode(graph.KindMalware, "LiveMal", "S9902")
	b := writeBatches(t, []graph.Batch{{Nodes: []graph.Node{group, old, live}, Relations: []graph.Relation{
		{Src: group.Ref(), Type: "uses", Dst: old.Ref()},
		{Src: group.Ref(), Type: "uses", Dst: live.Ref()},
	}}})
	nb := walkBoth(t, b, group.ID, graph.RelatedOptions{Depth: 1})
	require.Len(t, nb.Edges, 1, "the walk leaves the deprecated malware out")
	d, err := b.store.NodeDetails(ctx, group.ID)
	require.NoError(t, err)
	require.Len(t, d.Relations, 1)
	r := d.Relations[0]
	require.Equal(t, "uses", r.Relation)
	require.EqualValues(t, 2, r.Edges)
	require.EqualValues(t, 1, r.Withdrawn, "the link to the deprecated malware: %+v", r)
	require.EqualValues(t, len(nb.Edges), r.Edges-r.Withdrawn-r.Itself, "walked as the walk: %+v", r)
}

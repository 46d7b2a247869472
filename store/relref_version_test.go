package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestLinksThroughARelationshipFollowItsNewestEnds: a sighting of a
// relationship (outer: an indicator indicates the relationship inner, as
// OpenCTI writes) links to the ends of the newest version of each, in
// every order of the batches, with the same records; when inner's newer
// version names other ends, the sighting's and the indicator's links to
// inner's old ends go. Before, the links expanded while relation_ids named
// inner's first ends stayed there.
func TestLinksThroughARelationshipFollowItsNewestEnds(t *testing.T) {
	t.Parallel()
	mal := graph.NamedNode(graph.KindMalware, "Follow Malware")
	mal.Aliases = []string{"malware--bbbbbbbb-0000-4000-8000-00000000000a"}
	tech := graph.NamedNode(graph.KindAttackPattern, "Follow Technique")
	tech.Aliases = []string{"attack-pattern--bbbbbbbb-0000-4000-8000-00000000000b"}
	tool := graph.NamedNode(graph.KindTool, "Follow Tool")
	tool.Aliases = []string{"tool--bbbbbbbb-0000-4000-8000-00000000000f"}
	ind := graph.SourceNode(graph.KindIndicator, "indicator--bbbbbbbb-0000-4000-8000-00000000000c")
	sighting := graph.SourceNode(graph.KindSighting, "sighting--bbbbbbbb-0000-4000-8000-00000000000d")
	const inner, outer = "relationship--bbbbbbbb-0000-4000-8000-0000000000e1", "relationship--bbbbbbbb-0000-4000-8000-0000000000e2"
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.AddDate(0, 2, 0)
	endpoints := graph.Batch{Nodes: []graph.Node{mal, tech, tool, ind}}
	// inner v1: malware uses technique; v2: malware uses tool
	innerV1 := graph.Batch{Relations: []graph.Relation{{Src: graph.Ref(mal.Aliases[0]), Type: "uses", Dst: graph.Ref(tech.Aliases[0]),
		IDs: []string{inner}, StatedBy: map[string]time.Time{inner: t1}}}}
	innerV2 := graph.Batch{Relations: []graph.Relation{{Src: graph.Ref(mal.Aliases[0]), Type: "uses", Dst: graph.Ref(tool.Aliases[0]),
		IDs: []string{inner}, StatedBy: map[string]time.Time{inner: t2}}}}
	indicates := graph.Batch{Relations: []graph.Relation{{Src: ind.Ref(), Type: "indicates", Dst: inner,
		IDs: []string{outer}, StatedBy: map[string]time.Time{outer: t1}}}}
	naming := graph.Batch{Nodes: []graph.Node{sighting}, Relations: []graph.Relation{{Src: sighting.Ref(), Type: "sighting-of", Dst: outer,
		StatedBy: map[string]time.Time{string(sighting.Aliases[0]): t1}}}}
	want := []string{
		fmt.Sprintf("%s indicates %s", ind.ID, mal.ID),
		fmt.Sprintf("%s indicates %s", ind.ID, tool.ID),
		fmt.Sprintf("%s sighting-of %s", sighting.ID, ind.ID),
		fmt.Sprintf("%s sighting-of %s", sighting.ID, mal.ID),
		fmt.Sprintf("%s sighting-of %s", sighting.ID, tool.ID),
	}
	var first []string
	for i, order := range [][]graph.Batch{
		{endpoints, innerV1, indicates, naming, innerV2},
		{endpoints, innerV2, indicates, naming, innerV1},
		{naming, indicates, innerV1, endpoints, innerV2},
		{innerV1, endpoints, naming, indicates, innerV2},
		{innerV1, naming, indicates, innerV2, endpoints},
		{innerV2, naming, endpoints, innerV1, indicates},
	} {
		b := writeBatches(t, order)
		got := lines(t, b, `SELECT src_id::text || ' ' || relation || ' ' || dst_id::text FROM relations
			WHERE relation IN ('indicates', 'sighting-of') ORDER BY 1`)
		require.ElementsMatch(t, want, got, "order %d", i)
		records := lines(t, b, `SELECT src_ref || ' ' || relation || ' ' || dst_ref || ' ' || superseded::text || ' ' || coalesce(stated::text, '-')
			FROM relation_records WHERE relation IN ('indicates', 'sighting-of') ORDER BY 1`)
		if i == 0 {
			first = records
		}
		require.Equal(t, first, records, "order %d: the same records", i)
		require.Empty(t, lines(t, b, `SELECT src_ref || ' ' || relation || ' ' || dst_ref FROM pending_relations ORDER BY 1`), "order %d: nothing waits", i)
	}
	// the load report counts the links taken off the technique: the
	// sighting's and the indicator's
	b := writeBatches(t, []graph.Batch{endpoints, innerV1, indicates, naming})
	stats, err := b.store.Write(context.Background(), innerV2)
	require.NoError(t, err)
	require.Equal(t, int64(2), stats.RelationsUnlinked)
}

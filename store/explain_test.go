package store_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// statedFeeds is the sorted union of the feeds an edge's statements name.
func statedFeeds(e graph.Edge) []string {
	var out []string
	for _, st := range e.StatedBy {
		out = append(out, st.Feeds...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// statedIDs is the sorted union of the relationship ids an edge's
// statements name.
func statedIDs(e graph.Edge) []string {
	var out []string
	for _, st := range e.StatedBy {
		out = append(out, st.IDs...)
	}
	slices.Sort(out)
	return out
}

// findEdge returns the edge src -rel-> dst of nb.
func findEdge(t *testing.T, nb *graph.Neighbourhood, src uuid.UUID, rel string, dst uuid.UUID) graph.Edge {
	t.Helper()
	for _, e := range nb.Edges {
		if e.Src == src && e.Relation == rel && e.Dst == dst {
			return e
		}
	}
	require.Failf(t, "no edge", "%s -%s-> %s", src, rel, dst)
	return graph.Edge{}
}

// TestExplainNamesBothRelationships loads one MISP event exported to STIX
// 2.0 and to STIX 2.1 (testdata/explain, real misp-stix files) as two
// feeds: each indicator is based-on its observed-data by a relationship in
// each, with two ids. The explanation of the one edge names both ids and
// both feeds, the union of the feeds is the edge's sources, and a walk
// without explanation is unchanged.
func TestExplainNamesBothRelationships(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join("..", "testdata", "explain")
	const v20, v21 = "explain/test_event2_stix20.json", "explain/test_event2_stix21.json"
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	res, err := ingest.Run(ctx, st, []ingest.Feed{
		{Name: v20, Path: filepath.Join(dir, "test_event2_stix20.json")},
		{Name: v21, Path: filepath.Join(dir, "test_event2_stix21.json")},
	}, ingest.Options{Concurrency: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
	}
	indicator, err := st.ResolveNode(ctx, "indicator--726f90e2-2ad6-44a2-b345-c05e55e850e5")
	require.NoError(t, err)
	observed, err := st.ResolveNode(ctx, "observed-data--726f90e2-2ad6-44a2-b345-c05e55e850e5")
	require.NoError(t, err)

	nb, err := walkOn(ctx, st, indicator.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	plain, err := walkOn(ctx, st, indicator.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	for _, e := range nb.Edges {
		require.Nil(t, e.StatedBy, "FindRelated explains nothing")
	}
	require.NoError(t, st.ExplainEdges(ctx, nb))

	e := findEdge(t, nb, indicator.ID, "based-on", observed.ID)
	require.Equal(t, []string{"relationship--2ec8b484-7f14-59a2-a7bc-419393273e6b", "relationship--f49962f9-8e91-4de2-bc0e-a4901460612f"},
		statedIDs(e), "both relationships, the STIX 2.0 one and the STIX 2.1 one")
	require.Equal(t, []string{v20, v21}, statedFeeds(e), "both feeds")
	require.Equal(t, e.Sources, statedFeeds(e), "the edge's sources are what its records say")
	for _, s := range e.StatedBy {
		require.Nil(t, s.Src, "stored on the edge's own nodes")
		require.Nil(t, s.Dst)
		require.Equal(t, "indicator--726f90e2-2ad6-44a2-b345-c05e55e850e5", s.SrcRef)
		require.Equal(t, "observed-data--726f90e2-2ad6-44a2-b345-c05e55e850e5", s.DstRef)
		require.False(t, s.Withdrawn)
	}
	both := 0 // object links stated by the event's 2.1 grouping and its 2.0 report, one node (the MISP event's)
	for _, x := range nb.Edges {
		require.NotNil(t, x.StatedBy, "every edge explained: %s -%s-> %s", x.Src, x.Relation, x.Dst)
		require.NotEmpty(t, x.StatedBy, "every edge has a record: %s -%s-> %s", x.Src, x.Relation, x.Dst)
		require.Equal(t, x.Sources, statedFeeds(x), "%s -%s-> %s", x.Src, x.Relation, x.Dst)
		for _, s := range x.StatedBy {
			// A record names what stated it: relationship ids, the
			// objects whose own versioned properties did (a report,
			// grouping or observed-data for its object_refs), or at least
			// the references it was written with (an SCO's resolves_to_refs).
			require.True(t, len(s.IDs) > 0 || len(s.Objects) > 0 || s.SrcRef != "", "%s -%s-> %s: %+v", x.Src, x.Relation, x.Dst, s)
			if x.Relation == "object" { // a container's object_refs: the container states it
				require.NotEmpty(t, s.Objects, "%+v", s)
				for _, o := range s.Objects {
					require.Regexp(t, `^(report|grouping|observed-data)--[0-9a-f-]{36}$`, o)
				}
				if len(s.Objects) == 2 && strings.HasPrefix(s.Objects[0], "grouping--") && strings.HasPrefix(s.Objects[1], "report--") {
					both++
				}
			}
		}
	}

	require.Positive(t, both, "the event's object links are stated by both of its exports")

	// The explanation adds StatedBy and nothing else.
	for i := range nb.Edges {
		nb.Edges[i].StatedBy = nil
	}
	require.Equal(t, plain, nb)
}

// TestExplainEntityEdgeNamesEveryMember: a group uses two revoked copies
// of a technique, each by a relationship of its own feed; the walk shows
// one edge to the replacement, with one relation's sources. Its
// explanation names both relationships, both feeds, their TLP and
// confidence, and the revoked nodes they are stored on.
func TestExplainEntityEdgeNamesEveryMember(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	live := attackNode(graph.KindAttackPattern, "PowerShell", "T1059.001")
	group := attackNode(graph.KindIntrusionSet, "APT28", "G0007")
	batch := graph.Batch{Nodes: []graph.Node{live, group}}
	olds := map[string]graph.Node{}
	for i, id := range []string{"T1086", "T1064"} {
		old := graph.NamedNode(graph.KindAttackPattern, "PowerShell "+id, id)
		old.Props = map[string]any{"revoked": true}
		olds[id] = old
		feed := []string{"feed-a", "feed-b"}[i]
		batch.Nodes = append(batch.Nodes, old)
		batch.Relations = append(batch.Relations,
			graph.Relation{Src: old.Ref(), Type: graph.RelRevokedBy, Dst: live.Ref(), Sources: []string{feed}},
			graph.Relation{Src: group.Ref(), Type: "uses", Dst: old.Ref(), Sources: []string{feed}, Confidence: conf(50 + i*30),
				Props: map[string]any{"tlp": []string{"green", "amber"}[i]},
				IDs:   []string{"relationship--0000000" + string(rune('1'+i)) + "-0000-4000-8000-000000000000"}})
	}
	batch.Relations = append(batch.Relations, graph.Relation{Src: group.Ref(), Type: "targets", Dst: live.Ref(),
		Sources: []string{"feed-c"}, Props: map[string]any{"revoked": true}, IDs: []string{"relationship--00000003-0000-4000-8000-000000000000"}})
	b := writeBatches(t, []graph.Batch{batch})
	nb := walkBoth(t, b, group.ID, graph.RelatedOptions{Depth: 1})
	e := findEdge(t, nb, group.ID, "uses", live.ID)
	require.Len(t, e.Sources, 1, "the walk's edge carries one relation's sources")
	require.NoError(t, b.store.ExplainEdges(ctx, nb))
	e = findEdge(t, nb, group.ID, "uses", live.ID)
	require.Equal(t, []string{"relationship--00000001-0000-4000-8000-000000000000", "relationship--00000002-0000-4000-8000-000000000000"},
		statedIDs(e))
	require.Equal(t, []string{"feed-a", "feed-b"}, statedFeeds(e))
	byID := map[string]graph.Statement{}
	for _, s := range e.StatedBy {
		require.Len(t, s.IDs, 1)
		byID[s.IDs[0]] = s
	}
	a, c := byID["relationship--00000001-0000-4000-8000-000000000000"], byID["relationship--00000002-0000-4000-8000-000000000000"]
	require.Nil(t, a.Src, "the group is the edge's own node")
	require.Equal(t, &[]uuid.UUID{olds["T1086"].ID}[0], a.Dst, "stored on the revoked T1086")
	require.Equal(t, &[]uuid.UUID{olds["T1064"].ID}[0], c.Dst, "stored on the revoked T1064")
	require.Equal(t, []string{"feed-a"}, a.Feeds)
	require.Equal(t, graph.TLP("green"), a.TLP)
	require.Equal(t, graph.TLP("amber"), c.TLP)
	require.Equal(t, conf(50), a.Confidence)
	require.Equal(t, conf(80), c.Confidence)
	for _, x := range nb.Edges {
		require.NotEqual(t, "targets", x.Relation, "a withdrawn relationship is not walked, so not explained")
	}

	// With withdrawn objects the revoked copies are nodes of their own,
	// each edge stated by its own relationship, and the withdrawn one says so.
	raw := walkBoth(t, b, group.ID, graph.RelatedOptions{Depth: 1, IncludeWithdrawn: true})
	require.NoError(t, b.store.ExplainEdges(ctx, raw))
	toOld := findEdge(t, raw, group.ID, "uses", olds["T1086"].ID)
	require.Equal(t, []string{"relationship--00000001-0000-4000-8000-000000000000"}, statedIDs(toOld))
	require.Nil(t, toOld.StatedBy[0].Dst, "stored on the edge's own node")
	targets := findEdge(t, raw, group.ID, "targets", live.ID)
	require.Len(t, targets.StatedBy, 1)
	require.True(t, targets.StatedBy[0].Withdrawn)
	require.Equal(t, []string{"relationship--00000003-0000-4000-8000-000000000000"}, targets.StatedBy[0].IDs)
}

package ingest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
)

// TestMitreCollectionIsNoContainer: ATT&CK's STIX 2.1 releases carry an
// x-mitre-collection whose x_mitre_contents lists every object of the
// release (object_ref). It was mapped like a report's object_refs, a
// containment relation the walks follow, so every ATT&CK object was two
// hops from every other: on ATT&CK for ICS 18.1, `intel related G0088
// --depth 2` returned 233 nodes (170 through the collection, cut by the
// fan-out cap) where the same release in STIX 2.0, which has no
// collection, gave 63. The collection's links are provenance now
// (graph.RelMitreContents): the walk from a group reaches what the group
// is related to, the same with and without the collection, and reaches the
// collection with --include-provenance. Extract: testdata/stix
// ics-attack-18.1-collection.json (the collection's contents cut to the
// extract; M0800 is in it and related to nothing else).
func TestMitreCollectionIsNoContainer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join("..", "testdata", "stix", "ics-attack-18.1-collection.json")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var bundle map[string]any
	require.NoError(t, json.Unmarshal(b, &bundle))
	objects := bundle["objects"].([]any)
	require.Equal(t, "x-mitre-collection", objects[0].(map[string]any)["type"])
	bundle["objects"] = objects[1:]
	without, err := json.Marshal(bundle)
	require.NoError(t, err)
	noColl := filepath.Join(t.TempDir(), "no-collection.json")
	require.NoError(t, os.WriteFile(noColl, without, 0o600))

	walk := func(feed string, opts graph.RelatedOptions) []string {
		st, _ := newStore(t)
		loadOneByOne(ctx, t, st, []ingest.Feed{{Name: "ics", Path: feed}})
		g, err := st.ResolveNode(ctx, "G0088")
		require.NoError(t, err)
		hood, err := st.FindRelated(ctx, g.ID, opts)
		require.NoError(t, err)
		var keys []string
		for _, n := range hood.Nodes {
			keys = append(keys, string(n.Kind)+":"+n.Key)
		}
		slices.Sort(keys)
		return keys
	}
	with := walk(path, graph.RelatedOptions{Depth: 4})
	require.Equal(t, walk(noColl, graph.RelatedOptions{Depth: 4}), with, "the collection changes no answer")
	require.NotContains(t, with, "course-of-action:course-of-action--e0d38502-decb-481d-ad8b-b8f0a0c330bd", "M0800 is related to TEMP.Veles by nothing but the release")
	require.Contains(t, with, "course-of-action:course-of-action--059ba11e-e3dc-49aa-84ca-88197f40d4ea", "M0948 mitigates T0817, which TEMP.Veles uses")
	prov := walk(path, graph.RelatedOptions{Depth: 1, IncludeProvenance: true})
	require.True(t, slices.ContainsFunc(prov, func(k string) bool { return len(k) > 19 && k[:19] == "x-mitre-collection:" }), "with provenance the walk reaches the collection: %v", prov)
}

package ingest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestWithdrawnRelationshipVersionIsNotWalked: a newer version of a
// relationship that revokes it (testdata/adv rel-revoked-v2: "revoked":
// true, the first version without the property) or deprecates it
// (rel-deprecated-v2: ATT&CK's "x_mitre_deprecated": true, the first
// version carrying false) is not walked, in either load order, while its
// ends and their other relationships stay live; show counts it withdrawn;
// --include-withdrawn follows it; both orders store the same tables.
func TestWithdrawnRelationshipVersionIsNotWalked(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	feed := func(name string) ingest.Feed {
		return ingest.Feed{Name: name, Path: filepath.Join(dir, name+".json")}
	}
	for _, tc := range []struct {
		v1, v2, actor, gone, kept string
	}{
		{"rel-revoked-v1", "rel-revoked-v2", "intrusion-set:relrev actor", "RelRev Malware", ""},
		{"rel-deprecated-v1", "rel-deprecated-v2", "intrusion-set:reldep actor", "RelDep Technique", "RelDep Malware"},
	} {
		var dumps []string
		for _, order := range [][]ingest.Feed{{feed(tc.v1), feed(tc.v2)}, {feed(tc.v2), feed(tc.v1)}} {
			t.Run(order[0].Name+" first", func(t *testing.T) {
				ctx := context.Background()
				st, pool := newStore(t)
				loadOneByOne(ctx, t, st, order)
				actor, err := st.ResolveNode(ctx, tc.actor)
				require.NoError(t, err)
				names := func(opts graph.RelatedOptions) []string {
					hood, err := st.FindRelated(ctx, actor.ID, opts)
					require.NoError(t, err)
					lv, err := st.FindRelatedLevels(ctx, actor.ID, opts)
					require.NoError(t, err)
					require.Equal(t, hood.Nodes, lv.Nodes, "both engines")
					var out []string
					for _, n := range hood.Nodes[1:] {
						require.Empty(t, n.Withdrawn, "the ends stay live")
						out = append(out, n.Name)
					}
					return out
				}
				got := names(graph.RelatedOptions{Depth: 1})
				require.NotContains(t, got, tc.gone, "the withdrawn relationship is not walked")
				if tc.kept != "" {
					require.Equal(t, []string{tc.kept}, got, "the live relationship is")
				}
				require.Contains(t, names(graph.RelatedOptions{Depth: 1, IncludeWithdrawn: true}), tc.gone)
				d, err := st.NodeDetails(ctx, actor.ID)
				require.NoError(t, err)
				var withdrawn int64
				for _, r := range d.Relations {
					withdrawn += r.Withdrawn
				}
				require.Equal(t, int64(1), withdrawn, "show counts it withdrawn")
				dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
			})
		}
		if len(dumps) == 2 {
			require.Equal(t, dumps[0], dumps[1], "%s: the same tables in either order", tc.v1)
		}
	}
}

// TestWithdrawnRevokedByNamesNoReplacement: a revoked-by relationship the
// source withdrew (testdata/adv/adv3-revoked-by-withdrawn.json: G9991
// revoked-by G9992, a newer version of it revoked, and G9991 revoked-by
// G9993) names no replacement. The chain followed every revoked-by row, so
// G9991 resolved to G9992 (first in key order) and its "uses" showed on
// G9992, a link no source gave it.
func TestWithdrawnRevokedByNamesNoReplacement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	loadOneByOne(ctx, t, st, []ingest.Feed{{Name: "revoked-by", Path: filepath.Join("..", "testdata", "adv", "adv3-revoked-by-withdrawn.json")}})
	n, err := st.ResolveNode(ctx, "G9991")
	require.NoError(t, err)
	require.Equal(t, "Adv3RightHeir", n.Name, "the replacement the live revoked-by names")
	reached := func(ref string) []string {
		start, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err)
		hood, err := st.FindRelated(ctx, start.ID, graph.RelatedOptions{Depth: 1})
		require.NoError(t, err)
		lv, err := st.FindRelatedLevels(ctx, start.ID, graph.RelatedOptions{Depth: 1})
		require.NoError(t, err)
		require.Equal(t, hood.Nodes, lv.Nodes, "both engines")
		var out []string
		for _, x := range hood.Nodes[1:] {
			out = append(out, x.Name)
		}
		return out
	}
	require.Empty(t, reached("G9992"), "the withdrawn replacement has none of the revoked group's links")
	require.Equal(t, []string{"Adv3HeirMal"}, reached("G9993"))
	res, err := st.Resolve(ctx, "G9991")
	require.NoError(t, err)
	require.Len(t, res.Replaced, 1, "one step: G9991 itself")
	d, err := st.NodeDetails(ctx, res.Replaced[0].ID)
	require.NoError(t, err)
	require.Len(t, d.RevokedBy, 1, "show names the live replacement only")
	require.Equal(t, "Adv3RightHeir", d.RevokedBy[0].Name)
}

package misp

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestRelationshipTypeFalseIsNone: MISP's REST export writes
// "relationship_type": false on a tag or galaxy cluster that has none (ESET's
// mozi event: 12 of them). It was read as the text "false", so the event was
// linked to each ATT&CK technique twice, "object" (its tag) and a relation
// named "false" (its Galaxy entry), and an attribute's cluster "false" instead
// of related-to. Found by scripts/feed-answers.py on
// misp/eset/mozi_mozi.misp-event.json. A boolean is no relationship type: the
// default applies (testdata/adv/adv6-misp-reltype-false.json: event tag and
// cluster, attribute tag, object reference).
func TestRelationshipTypeFalseIsNone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	f, err := os.Open(filepath.Join("..", "..", "testdata", "adv", "adv6-misp-reltype-false.json"))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	opts := quiet(nil)
	opts.Feed = "adv6-reltype-false"
	rep, err := LoadFile(ctx, f, st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)

	var types []string
	rows, err := pool.Query(ctx, `SELECT DISTINCT relation FROM relations ORDER BY 1`)
	require.NoError(t, err)
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		types = append(types, s)
	}
	require.NoError(t, rows.Err())
	require.NotContains(t, types, "false", "no relation is named false: %v", types)
	require.NotContains(t, types, "true", "%v", types)

	links := func(ref string) []string {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err)
		hood, err := st.FindRelated(ctx, n.ID, graph.RelatedOptions{Depth: 1})
		require.NoError(t, err)
		var out []string
		for _, e := range hood.Edges {
			if e.Src == n.ID {
				peer := slices.IndexFunc(hood.Nodes, func(x graph.RelatedNode) bool { return x.ID == e.Dst })
				out = append(out, e.Relation+" "+string(hood.Nodes[peer].Kind))
			}
		}
		slices.Sort(out)
		return out
	}
	require.Equal(t, []string{"object attack-pattern", "object domain-name", "object ipv4-addr"},
		links(alias("6a1f0000-0000-4000-8000-0f0000000001")), "the event holds its cluster, once")
	require.Equal(t, []string{"related-to malware"}, links(alias("6a1f0000-0000-4000-8000-0f0000000003")),
		"the attribute's cluster is related-to (not to_ids)")
	require.Contains(t, links(alias("6a1f0000-0000-4000-8000-0f0000000004")), "related-to ipv4-addr",
		"the object reference is related-to")
}

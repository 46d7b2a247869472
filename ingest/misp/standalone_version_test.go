package misp

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestAttributeOutsideItsEventIsVersioned: an attribute search result
// (a text attribute, an x-misp-attribute node of its own, and a
// stix2-pattern attribute, an indicator) read again with a later
// timestamp after MISP removed its comment and its tlp:amber tag and
// changed its pattern replaces what the older one gave: the comment and
// the TLP are gone, the old pattern's based-on link is superseded. The
// older result loaded again afterwards changes nothing. Before, such
// attributes had no versioned record: every load merged into the node,
// so nothing could be taken away (comment "first" and amber stayed).
func TestAttributeOutsideItsEventIsVersioned(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	result := func(ts, comment, tags, pattern string) string {
		return `{"response": {"Attribute": [
		 {"uuid": "` + u(2) + `", "type": "text", "category": "Other", "value": "kept", "timestamp": "` + ts + `", "comment": "` + comment + `", "Tag": [` + tags + `],
		  "Event": {"id": "7", "distribution": "3", "info": "e", "uuid": "` + u(1) + `"}},
		 {"uuid": "` + u(3) + `", "type": "stix2-pattern", "category": "Network activity", "value": "` + pattern + `", "timestamp": "` + ts + `", "to_ids": true,
		  "Event": {"id": "7", "distribution": "3", "info": "e", "uuid": "` + u(1) + `"}}]}}`
	}
	load := func(doc string) {
		opts := quiet(nil)
		opts.Feed = "search"
		rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
		require.NoError(t, err)
		requireBalanced(t, rep)
		require.Empty(t, rep.Dropped)
	}
	older := result("1600000000", "first", `{"name": "tlp:amber"}`, "[domain-name:value = 'old.example']")
	newer := result("1600000100", "", "", "[domain-name:value = 'new.example']")
	check := func(when string) {
		n, err := st.ResolveNode(ctx, alias(u(2)))
		require.NoError(t, err)
		require.Equal(t, KindAttribute, n.Kind)
		require.NotContains(t, n.Props, "comment", "%s: the newer version has none", when)
		require.Equal(t, graph.TLPNone, n.TLP, "%s: the newer version has no TLP tag", when)
		ind, err := st.ResolveNode(ctx, alias(u(3)))
		require.NoError(t, err)
		require.Equal(t, "[domain-name:value = 'new.example']", ind.Props["pattern"], when)
		var live []string
		rows, err := pool.Query(ctx, `SELECT d.key FROM relations r JOIN nodes d ON d.id = r.dst_id
			WHERE r.src_id = $1 AND r.relation = 'based-on' ORDER BY 1`, ind.ID)
		require.NoError(t, err)
		for rows.Next() {
			var k string
			require.NoError(t, rows.Scan(&k))
			live = append(live, k)
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{"new.example"}, live, "%s: the old pattern's link superseded", when)
	}
	load(older)
	n, err := st.ResolveNode(ctx, alias(u(2)))
	require.NoError(t, err)
	require.Equal(t, "first", n.Props["comment"])
	require.Equal(t, graph.TLPAmber, n.TLP)
	load(newer)
	check("newer after older")
	load(older)
	check("older again")
}

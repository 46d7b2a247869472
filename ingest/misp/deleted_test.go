package misp

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestDeletedAttributesIndicatorIsWithdrawn: an event whose to_ids domain,
// yara rule and domain-ip object are indicators, then its next version in
// which an analyst deleted the three (MISP keeps them flagged "deleted": true, timestamps
// raised: testdata/misp/deleted_attribute_v1.json, _v2.json). MISP shows a
// deleted attribute to no one but site admins and leaves it out of every
// IDS export: it is no IoC any more. Before, the deleted attributes were
// only counted (deleted 3) and their indicators stayed live, each based on
// its value: the domain still reached "indicator [domain-name:value =
// 'tibetvoices.com']", an IoC of it. Now each is withdrawn (lifecycle
// revoked, in the deleted attribute's version): a walk from the domain
// reaches no indicator, the indicator's based-on link is superseded, and
// an older version loaded after changes nothing. The ip-dst not deleted
// stays live.
func TestDeletedAttributesIndicatorIsWithdrawn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const v1, v2 = "deleted_attribute_v1.json", "deleted_attribute_v2.json"
	const domain, rule, address = "a1b2c3d4-0032-4000-8000-000000000031", "a1b2c3d4-0032-4000-8000-000000000032", "a1b2c3d4-0032-4000-8000-000000000033"
	const object = "a1b2c3d4-0032-4000-8000-000000000041"
	for _, order := range [][]string{{v1, v2}, {v2, v1}} {
		st := store.NewStore(pgtest.Pool(t))
		for i, name := range order {
			rep := loadTestdata(t, st, name, "keyboy")
			if name == v2 {
				require.Equal(t, map[engine.Reason]int64{ReasonDeleted: 3}, rep.Dropped, "load %d", i)
			}
		}
		for _, id := range []string{domain, rule, object} {
			n, err := st.ResolveNode(ctx, "indicator--"+id)
			require.NoError(t, err, id)
			require.Equal(t, graph.LifecycleRevoked, graph.Lifecycle(n.Props), "%s: the deleted attribute's indicator is withdrawn", id)
		}
		for _, value := range []string{"domain-name:tibetvoices.com", "domain-name:c2.keyboy.example", "ipv4-addr:198.51.100.42"} {
			d, err := st.ResolveNode(ctx, value)
			require.NoError(t, err)
			nb, err := st.FindRelated(ctx, d.ID, graph.RelatedOptions{Depth: 2})
			require.NoError(t, err)
			for _, n := range nb.Nodes {
				require.NotEqual(t, graph.KindIndicator, n.Kind, "%s deleted from its event is still an IoC: %s", value, n.Key)
			}
		}
		ip, err := st.ResolveNode(ctx, "indicator--"+address)
		require.NoError(t, err)
		require.Empty(t, graph.Lifecycle(ip.Props), "the attribute not deleted stays live")
		nb, err := st.FindRelated(ctx, ip.ID, graph.RelatedOptions{Depth: 1})
		require.NoError(t, err)
		require.Len(t, nb.Nodes, 3, "the ip-dst's indicator: its event and its address")
	}
}

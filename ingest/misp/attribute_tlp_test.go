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

// attrTLPEvent is a tlp:green event holding an ip-dst tagged tlp:red (a
// value other events may share) with a sighting, a text attribute tagged
// tlp:red (a node of its own), an untagged domain, and an object whose one
// attribute is tagged tlp:amber.
const attrTLPEvent = `{"Event": {
  "uuid": "7a1b0000-0000-4000-8000-000000000001", "info": "green event, red attribute",
  "date": "2024-01-05", "timestamp": "1704450000",
  "Tag": [{"name": "tlp:green"}],
  "Attribute": [
    {"uuid": "7a1b0000-0000-4000-8000-000000000011", "type": "ip-dst", "value": "198.51.100.77", "to_ids": false,
     "category": "Network activity", "timestamp": "1704450000", "Tag": [{"name": "tlp:red"}],
     "Sighting": [{"uuid": "7a1b0000-0000-4000-8000-000000000091", "date_sighting": "1704450100", "type": "0"}]},
    {"uuid": "7a1b0000-0000-4000-8000-000000000012", "type": "text", "value": "victim list", "to_ids": false,
     "category": "Other", "timestamp": "1704450000", "Tag": [{"name": "tlp:red"}]},
    {"uuid": "7a1b0000-0000-4000-8000-000000000013", "type": "domain", "value": "plain.example", "to_ids": false,
     "category": "Network activity", "timestamp": "1704450000"}
  ],
  "Object": [
    {"uuid": "7a1b0000-0000-4000-8000-000000000021", "name": "person", "meta-category": "misc", "timestamp": "1704450000",
     "Attribute": [
       {"uuid": "7a1b0000-0000-4000-8000-000000000022", "type": "email-src", "object_relation": "email",
        "value": "victim@corp.example", "to_ids": false, "timestamp": "1704450000", "Tag": [{"name": "tlp:amber"}]}
     ]}
  ]
}}`

// TestAttributeTLPMarksItsLinks: an attribute's own TLP tag stricter than
// its event's marks what states it: the event's link to it (props "tlp",
// as the STIX loader writes a marked object's links), an object's
// has-attribute link and its event's link to the object, and the
// attribute's sightings; so intel related --explain says TLP:RED (not the
// event's TLP:GREEN) for the link to the red address. Its node is marked
// too (checked: it was), the shared address as a STIX SCO with that
// marking would be. Before, the links were marked as the event only: the
// red attribute's link was explained TLP:GREEN, shareable.
func TestAttributeTLPMarksItsLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	opts := quiet(nil)
	opts.Feed = "attr-tlp"
	rep, err := LoadFile(ctx, strings.NewReader(attrTLPEvent), st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)

	nodeTLP := func(key string) string {
		var tlp *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT tlp FROM nodes WHERE key = $1`, key).Scan(&tlp))
		if tlp == nil {
			return ""
		}
		return *tlp
	}
	linkTLP := func(src, rel, dst string) string {
		var tlp *string
		require.NoError(t, pool.QueryRow(ctx, `SELECT r.props->>'tlp' FROM relations r
			JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
			WHERE s.key = $1 AND r.relation = $2 AND d.key = $3`, src, rel, dst).Scan(&tlp), "%s %s %s", src, rel, dst)
		if tlp == nil {
			return ""
		}
		return *tlp
	}
	const ev = "misp--7a1b0000-0000-4000-8000-000000000001"
	ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.77").Key
	require.Equal(t, "red", linkTLP(ev, RelObject, ip), "the event's link to the red address")
	require.Equal(t, "red", linkTLP(ev, RelObject, "x-misp-attribute--7a1b0000-0000-4000-8000-000000000012"))
	require.Empty(t, linkTLP(ev, RelObject, "plain.example"), "an untagged attribute's link: the event's TLP, read from the event")
	obj := "misp--7a1b0000-0000-4000-8000-000000000021"
	require.Equal(t, "amber", linkTLP(ev, RelObject, obj), "the event's link to an object holding an amber attribute")
	require.Equal(t, "amber", linkTLP(obj, RelHasAttribute, "victim@corp.example"))

	require.Equal(t, "green", nodeTLP(ev))
	require.Equal(t, "red", nodeTLP(ip), "the attribute's node")
	require.Equal(t, "red", nodeTLP("x-misp-attribute--7a1b0000-0000-4000-8000-000000000012"))
	require.Equal(t, "amber", nodeTLP(obj))
	require.Equal(t, "red", nodeTLP("misp--7a1b0000-0000-4000-8000-000000000091"), "a sighting of the red attribute")

	// What intel related --explain reads.
	start, err := st.ResolveNode(ctx, ip)
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, start.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	require.NoError(t, st.ExplainEdges(ctx, nb))
	var explained int
	for _, e := range nb.Edges {
		for _, s := range e.StatedBy {
			require.Equal(t, graph.TLPRed, s.TLP, "%s %+v", e.Relation, s)
			explained++
		}
	}
	require.Equal(t, 2, explained, "the event's link and the sighting's")
}

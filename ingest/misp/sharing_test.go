package misp

import (
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// testdata/misp/sharing_group_event.json is a MISP event shared with a
// sharing group (distribution 4 and the SharingGroup MISP gives beside
// it: name, uuid, releasability, as MISP's SharingGroup model has them),
// holding an attribute of its organisation only with correlation
// disabled, a to_ids attribute of another sharing group, and one
// inheriting the event's distribution (5) with "SharingGroup": [] (as
// Citizen Lab's MISP export writes it for every attribute: an attribute
// of no group is loaded, not dropped invalid-property).

// TestSharingRestrictionIsKept: who MISP lets see a record is kept with
// it: the event's distribution named and its sharing group's name, uuid
// and releasability on the event's node (what intel show prints); an
// attribute's own distribution, sharing group and disable_correlation on
// its own node (the to_ids domain's indicator) or, for a value's node
// shared by every record naming the value, on its event's link to it; an
// attribute inheriting its event's (5) states none. Before, the event
// kept "distribution": "4" (a code) and no sharing group, and an
// attribute's distribution, sharing group and disable_correlation were
// dropped without a word.
func TestSharingRestrictionIsKept(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "sharing_group_event.json"))
	require.NoError(t, err)
	rep, sink, err := loadString(t, string(raw), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)

	ev, ok := sink.byAlias("misp--5c0e0000-0000-4000-8000-000000000001")
	require.True(t, ok)
	require.Equal(t, "sharing group", ev.Props["distribution"])
	require.Equal(t, "CERT partners", ev.Props["sharing_group"])
	require.Equal(t, "5c0e0000-0000-4000-8000-0000000000aa", ev.Props["sharing_group_uuid"])
	require.Equal(t, "CERTs of the EU and their constituents", ev.Props["sharing_group_releasability"])
	require.NotContains(t, ev.Props, "disable_correlation")

	ind, ok := sink.byAlias(alias("5c0e0000-0000-4000-8000-000000000003"))
	require.True(t, ok)
	require.Equal(t, graph.KindIndicator, ind.Kind)
	require.Equal(t, "sharing group", ind.Props["distribution"])
	require.Equal(t, "Banking ISAC", ind.Props["sharing_group"])
	require.NotContains(t, ind.Props, "sharing_group_releasability", "empty: not kept")

	// A link's props are the attribute's details under its uuid.
	link := func(dst graph.Node, attr string) map[string]any {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for _, r := range sink.relations {
			if r.Src == ev.Ref() && r.Dst == dst.Ref() {
				d, _ := r.Props[attr].(map[string]any)
				return d
			}
		}
		t.Fatalf("no link to %s", dst.Key)
		return nil
	}
	ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.77")
	n, ok := sink.byID(ip.Ref())
	require.True(t, ok)
	require.NotContains(t, n.Props, "distribution", "the address's node is not the attribute's")
	props := link(ip, "5c0e0000-0000-4000-8000-000000000002")
	require.Equal(t, "your organisation only", props["distribution"])
	require.Equal(t, true, props["disable_correlation"])

	url := link(graph.ValueNode(graph.KindURL, "https://c2.example.net/a"), "5c0e0000-0000-4000-8000-000000000004")
	require.NotEmpty(t, url)
	require.NotContains(t, url, "distribution", "inherit event: the event's applies")
	require.NotContains(t, url, "disable_correlation")
}

// TestZMQAttributeSharingGroupIsTheAttributes: a ZMQ misp_json_attribute
// message gives the attribute's SharingGroup beside the attribute, not in
// it ({"Attribute": {…, "distribution": "4", "sharing_group_id": …},
// "Event": {…}, "SharingGroup": {…}}: MISP's documented message,
// testdata/misp/zmq_misp_json_attribute.json, whose attribute is of
// distribution 5 and SharingGroup all null, here given distribution 4 and
// the group of sharing_group_event.json's to_ids attribute). The group is
// the attribute's: its indicator's props say it, as an event's own
// SharingGroup is said on the event's node. Before, the message's
// SharingGroup was read and not used: the attribute said "sharing group"
// without naming the group, whose members alone may see it. An attribute
// carrying a SharingGroup of its own keeps it; the message's event is not
// the group's (its own distribution, 3, stays).
func TestZMQAttributeSharingGroupIsTheAttributes(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, jsonUnmarshal(raw, &msg))
	attr := msg["Attribute"].(map[string]any)
	attr["distribution"], attr["sharing_group_id"] = "4", "7"
	msg["SharingGroup"] = map[string]any{"id": "7", "name": "Banking ISAC", "uuid": "5c0e0000-0000-4000-8000-0000000000bb",
		"releasability": "ISAC members", "description": "", "active": true, "local": true, "roaming": false}
	doc, err := stdjson.Marshal(msg)
	require.NoError(t, err)
	rep, sink, err := loadString(t, string(doc), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	ind, ok := sink.byAlias(alias("59b8114b-1c80-4149-be3a-03e9c0a83832"))
	require.True(t, ok)
	require.Equal(t, graph.KindIndicator, ind.Kind)
	require.Equal(t, "sharing group", ind.Props["distribution"])
	require.Equal(t, "Banking ISAC", ind.Props["sharing_group"])
	require.Equal(t, "5c0e0000-0000-4000-8000-0000000000bb", ind.Props["sharing_group_uuid"])
	require.Equal(t, "ISAC members", ind.Props["sharing_group_releasability"])
	ev, ok := sink.byAlias("misp--59259036-fcd0-4749-8a6c-4d88950d210f")
	require.True(t, ok)
	require.Equal(t, "all communities", ev.Props["distribution"])
	require.NotContains(t, ev.Props, "sharing_group")

	// The SharingGroup before the attribute.
	part := func(v any) string {
		b, err := stdjson.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	first := `{"SharingGroup": ` + part(msg["SharingGroup"]) + `, "Attribute": ` + part(attr) + `, "Event": ` + part(msg["Event"]) + `}`
	_, sink, err = loadString(t, first, quiet(nil))
	require.NoError(t, err)
	ind, _ = sink.byAlias(alias("59b8114b-1c80-4149-be3a-03e9c0a83832"))
	require.Equal(t, "Banking ISAC", ind.Props["sharing_group"])

	// An attribute's own SharingGroup is its group.
	attr["SharingGroup"] = map[string]any{"name": "Own group", "uuid": "5c0e0000-0000-4000-8000-0000000000cc"}
	doc, err = stdjson.Marshal(msg)
	require.NoError(t, err)
	_, sink, err = loadString(t, string(doc), quiet(nil))
	require.NoError(t, err)
	ind, _ = sink.byAlias(alias("59b8114b-1c80-4149-be3a-03e9c0a83832"))
	require.Equal(t, "Own group", ind.Props["sharing_group"])
}

// TestObjectCopyWithoutAttributesIsNoNode: MISP publishes an object's
// attribute on ZeroMQ with its object's row beside it ({"Attribute": {…,
// "object_relation": "domain"}, "Event": {…}, "Object": {"name":
// "domain-ip", "uuid": …, no "Attribute"}}: Attribute::fetchAttribute
// contains 'Object'), and an object alone as its row (misp_json_object).
// Such a copy says not what the object is: the domain-ip object of its
// event is the domain, resolving to its addresses. Before, the copy was
// an x-misp-object-domain-ip node keyed misp--<object uuid>, empty, which
// "intel show <object uuid>" named even after the event was loaded (its
// key is the uuid's alias). Now it writes no node; the event's object is
// the object's node.
func TestObjectCopyWithoutAttributesIsNoNode(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, jsonUnmarshal(raw, &msg))
	attr := msg["Attribute"].(map[string]any)
	attr["object_id"], attr["object_relation"] = "12", "domain"
	const objUUID = "5ac337df-e078-4e99-8b17-02550a00020f"
	row := map[string]any{"id": "12", "name": "domain-ip", "meta-category": "network", "template_version": "9",
		"event_id": "625", "uuid": objUUID, "timestamp": "1505235283", "distribution": "5", "sharing_group_id": "0",
		"comment": "", "deleted": false, "first_seen": nil, "last_seen": nil}
	msg["Object"] = row
	for name, doc := range map[string]any{"misp_json_attribute": msg, "misp_json_object": map[string]any{"Object": row}} {
		b, err := stdjson.Marshal(doc)
		require.NoError(t, err)
		rep, sink, err := loadString(t, string(b), quiet(nil))
		require.NoError(t, err, name)
		requireBalanced(t, rep)
		require.Empty(t, rep.Dropped, name)
		_, ok := sink.byAlias(alias(objUUID))
		require.False(t, ok, "%s: a copy of the object without its attributes is no node", name)
		for _, n := range sink.nodes {
			require.False(t, strings.HasPrefix(string(n.Kind), KindObjectPrefix), "%s: %s", name, n.Key)
		}
	}
	// The object with its attributes is its node, as in its event.
	row["Attribute"] = []any{map[string]any{"type": "domain", "object_relation": "domain", "value": "microsoft.com", "uuid": "59b8114b-1c80-4149-be3a-03e9c0a83832"}}
	b, err := stdjson.Marshal(map[string]any{"Object": row})
	require.NoError(t, err)
	_, sink, err := loadString(t, string(b), quiet(nil))
	require.NoError(t, err)
	n, ok := sink.byAlias(alias(objUUID))
	require.True(t, ok)
	require.Equal(t, graph.KindDomainName, n.Kind)
}

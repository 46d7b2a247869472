package misp

import (
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
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

// sharingGroupEventWithObjects is sharing_group_event.json (an event of
// the sharing group "CERT partners") with two objects: an ip-port object
// of all communities (3) whose address is to_ids (the object's indicator)
// and an annotation object inheriting its event's distribution (5).
// sorted writes its keys in order, as PyMISP's to_json(sort_keys=True)
// does: the event's distribution and SharingGroup come after its
// Attribute and Object lists.
func sharingGroupEventWithObjects(t *testing.T, sorted bool) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testdata, "sharing_group_event.json"))
	require.NoError(t, err)
	objects := `[{"uuid": "5c0e0000-0000-4000-8000-0000000000a1", "name": "ip-port", "meta-category": "network", "timestamp": "1709251200",
		"distribution": "3", "sharing_group_id": "0", "Attribute": [
		{"uuid": "5c0e0000-0000-4000-8000-0000000000a2", "type": "ip-dst", "object_relation": "ip", "category": "Network activity",
		 "value": "203.0.113.44", "to_ids": true, "timestamp": "1709251200", "distribution": "3", "sharing_group_id": "0"},
		{"uuid": "5c0e0000-0000-4000-8000-0000000000a3", "type": "port", "object_relation": "dst-port", "category": "Network activity",
		 "value": "8443", "to_ids": false, "timestamp": "1709251200", "distribution": "5", "sharing_group_id": "0"}]},
		{"uuid": "5c0e0000-0000-4000-8000-0000000000b1", "name": "annotation", "meta-category": "misc", "timestamp": "1709251200",
		"distribution": "5", "sharing_group_id": "0", "Attribute": [
		{"uuid": "5c0e0000-0000-4000-8000-0000000000b2", "type": "text", "object_relation": "text", "category": "Other",
		 "value": "seen by partners", "to_ids": false, "timestamp": "1709251200", "distribution": "5", "sharing_group_id": "0"}]}]`
	if !sorted {
		doc := string(raw)
		i := strings.LastIndex(doc, "]")
		return doc[:i+1] + `, "Object": ` + objects + doc[i+1:]
	}
	var doc map[string]map[string]any
	require.NoError(t, jsonUnmarshal(raw, &doc))
	var objs []any
	require.NoError(t, jsonUnmarshal([]byte(objects), &objs))
	doc["Event"]["Object"] = objs
	b, err := stdjson.Marshal(doc) // keys sorted
	require.NoError(t, err)
	require.Less(t, strings.Index(string(b), `"Object"`), strings.Index(string(b), `"distribution":"4","info"`))
	return string(b)
}

// TestEventSharingGroupBoundsItsRecords: an object of all communities, and
// one inheriting its event's distribution, in an event of a sharing group
// ("CERT partners") do not read as shared wider than MISP shares them
// (MISP shows an attribute or object only to whoever may see its event):
// the ip-port object's indicator keeps its own "all communities" and
// carries its event's restriction (event_distribution "sharing group",
// event_sharing_group "CERT partners"), so do the annotation object's
// node and the attribute of another sharing group; whether the event's
// distribution is written before or after its objects (sorted keys), the
// tables are the same. Before, intel show said "distribution: all
// communities" for the object's indicator and nothing for the annotation.
func TestEventSharingGroupBoundsItsRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	load := func(doc string) (*pgxpool.Pool, *store.Store) {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool)
		opts := quiet(nil)
		opts.Feed = "partners"
		rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
		require.NoError(t, err)
		requireBalanced(t, rep)
		require.Empty(t, rep.Dropped)
		return pool, st
	}
	p1, st := load(sharingGroupEventWithObjects(t, false))
	props := func(ref string) map[string]any {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		return n.Props
	}
	ind := props(alias("5c0e0000-0000-4000-8000-0000000000a1"))
	require.Equal(t, "all communities", ind["distribution"])
	require.Equal(t, "sharing group", ind["event_distribution"], "the event's restriction")
	require.Equal(t, "CERT partners", ind["event_sharing_group"])
	require.Equal(t, "5c0e0000-0000-4000-8000-0000000000aa", ind["event_sharing_group_uuid"])
	ann := props(alias("5c0e0000-0000-4000-8000-0000000000b1"))
	require.NotContains(t, ann, "distribution", "inherits its event's")
	require.Equal(t, "CERT partners", ann["event_sharing_group"])
	own := props(alias("5c0e0000-0000-4000-8000-000000000003"))
	require.Equal(t, "Banking ISAC", own["sharing_group"])
	require.Equal(t, "CERT partners", own["event_sharing_group"])
	addr := props("ipv4-addr:203.0.113.44")
	require.NotContains(t, addr, "event_distribution", "a value's node is every event's")

	p2, _ := load(sharingGroupEventWithObjects(t, true))
	// The nodes, aliases and relations. (node_records differ by key order
	// already without the event's restriction: an object read before its
	// event's uuid and timestamp has no versioned record.)
	graphTables := pgtest.GraphQueries[:3]
	require.Equal(t, pgtest.Dump(t, p1, graphTables...), pgtest.Dump(t, p2, graphTables...),
		"the same tables whether the event's distribution comes before or after its objects")
}

package misp

import (
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestEventRestrictionBoundsRecordsReadOutsideIt: records read outside
// their event with a copy of it beside them — MISP's documented ZeroMQ
// misp_json_attribute message (testdata/misp/zmq_misp_json_attribute.json:
// its to_ids domain, the indicator, here of "all communities", beside its
// Event, here of the sharing group "CERT partners"), an attribute search
// result and an object search result whose Event summary (MISP's
// restSearch gives id, org_id, distribution, info, orgc_id, uuid) is of
// "your organisation only" — are bounded by their event's restriction as
// inside their event (TestEventSharingGroupBoundsItsRecords): their own
// nodes get event_distribution (and the group), beside their own
// distribution. Before, they kept their own distribution alone: an
// attribute of all communities read from a message of a sharing group's
// event said "all communities". A record carrying its own sharing group
// keeps it (checked, already right), and a value's node gets none.
func TestEventRestrictionBoundsRecordsReadOutsideIt(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	var msg map[string]any
	require.NoError(t, jsonUnmarshal(raw, &msg))
	msg["Attribute"].(map[string]any)["distribution"] = "3"
	ev := msg["Event"].(map[string]any)
	ev["distribution"], ev["sharing_group_id"] = "4", "2"
	ev["SharingGroup"] = map[string]any{"name": "CERT partners", "uuid": "5c0e0000-0000-4000-8000-0000000000aa", "releasability": "CERT members"}
	zmq, err := stdjson.Marshal(msg)
	require.NoError(t, err)
	_, sink, err := loadString(t, string(zmq), quiet(nil))
	require.NoError(t, err)
	ind, ok := sink.byAlias("misp--59b8114b-1c80-4149-be3a-03e9c0a83832")
	require.True(t, ok)
	ind, _ = sink.byID(ind.Ref()) // every record of it
	require.Equal(t, "all communities", ind.Props["distribution"])
	require.Equal(t, "sharing group", ind.Props["event_distribution"], "the event's restriction")
	require.Equal(t, "CERT partners", ind.Props["event_sharing_group"])
	require.Equal(t, "5c0e0000-0000-4000-8000-0000000000aa", ind.Props["event_sharing_group_uuid"])
	domain, ok := sink.byID(graph.ValueNode(graph.KindDomainName, "microsoft.com").Ref())
	require.True(t, ok)
	require.NotContains(t, domain.Props, "event_distribution", "a value's node is every event's")

	search := `{"response": {"Attribute": [
	 {"uuid": "` + u(2) + `", "type": "ip-dst", "category": "Network activity", "value": "198.51.100.9", "to_ids": true, "distribution": "3", "timestamp": "1600000000",
	  "Event": {"id": "7", "org_id": "1", "distribution": "0", "info": "internal", "orgc_id": "1", "uuid": "` + u(1) + `"}},
	 {"uuid": "` + u(3) + `", "type": "text", "category": "Other", "value": "kept", "to_ids": false, "distribution": "4", "timestamp": "1600000000",
	  "SharingGroup": {"name": "Banking ISAC", "uuid": "5c0e0000-0000-4000-8000-0000000000bb"},
	  "Event": {"id": "7", "org_id": "1", "distribution": "3", "info": "internal", "orgc_id": "1", "uuid": "` + u(1) + `"}}]}}`
	_, sink, err = loadString(t, search, quiet(nil))
	require.NoError(t, err)
	ip, ok := sink.byAlias(alias(u(2)))
	require.True(t, ok)
	ip, _ = sink.byID(ip.Ref())
	require.Equal(t, "all communities", ip.Props["distribution"])
	require.Equal(t, "your organisation only", ip.Props["event_distribution"])
	text, ok := sink.byAlias(alias(u(3)))
	require.True(t, ok)
	text, _ = sink.byID(text.Ref())
	require.Equal(t, "Banking ISAC", text.Props["sharing_group"], "its own sharing group")
	require.NotContains(t, text.Props, "event_distribution", "an event of all communities restricts nothing")
	addr, ok := sink.byID(graph.ValueNode(graph.KindIPv4Addr, "198.51.100.9").Ref())
	require.True(t, ok)
	require.NotContains(t, addr.Props, "event_distribution", "a value's node is every event's")

	objects := `{"response": [{"Object": {"uuid": "` + u(10) + `", "name": "person", "distribution": "5", "timestamp": "1600000000",
	  "Event": {"id": "8", "org_id": "1", "distribution": "1", "info": "community", "orgc_id": "1", "uuid": "` + u(9) + `"},
	  "Attribute": [{"uuid": "` + u(11) + `", "type": "first-name", "object_relation": "first-name", "value": "Ann", "timestamp": "1600000000"}]}}]}`
	_, sink, err = loadString(t, objects, quiet(nil))
	require.NoError(t, err)
	person, ok := sink.byAlias(alias(u(10)))
	require.True(t, ok)
	person, _ = sink.byID(person.Ref())
	require.NotContains(t, person.Props, "distribution", "inherits its event's")
	require.Equal(t, "this community only", person.Props["event_distribution"])
}

package misp

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestListWrittenAsIndexedObjectIsItsRecords: MISP's PHP writes a list
// it removed entries from as an object of the remaining indexes: an
// attribute restSearch with enforceWarninglist gave {"response":
// {"Attribute": {"0": {…}, "2": {…}}}} (MISP/MISP#3166, MISP 2.4.89: the
// attributes of the answer, aakamen.com …), and old exports give
// an event's Attribute or Object list so. Each entry is a record. Before,
// the object was read as one attribute without a type: every attribute
// of the answer lost in one missing-type drop.
func TestListWrittenAsIndexedObjectIsItsRecords(t *testing.T) {
	t.Parallel()
	const search = `{"response": {"Attribute": {
  "0": {"id": "1494783", "event_id": "14707", "object_id": "0", "object_relation": null, "category": "Network activity",
        "type": "domain", "to_ids": true, "uuid": "5aa6ce36-bdf0-4af4-86d1-b3e205dc1b25", "timestamp": "1520881206",
        "distribution": "0", "sharing_group_id": "0", "comment": "", "deleted": false, "disable_correlation": false,
        "value": "aakamen.com"},
  "2": {"id": "1494785", "event_id": "14707", "object_id": "0", "object_relation": null, "category": "Network activity",
        "type": "domain", "to_ids": false, "uuid": "5aa6ce36-0000-4000-8000-b3e205dc1b27", "timestamp": "1520881206",
        "distribution": "0", "sharing_group_id": "0", "comment": "", "deleted": false, "disable_correlation": false,
        "value": "second.example"}
}}}`
	rep, sink, err := loadString(t, search, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 2, rep.RecordsMapped)
	n, ok := sink.byAlias(alias("5aa6ce36-bdf0-4af4-86d1-b3e205dc1b25"))
	require.True(t, ok)
	require.Equal(t, graph.KindIndicator, n.Kind, "to_ids")
	_, ok = sink.byID(graph.ValueNode(graph.KindDomainName, "second.example").Ref())
	require.True(t, ok)

	const event = `{"Event": {"uuid": "53120000-0000-4000-8000-000000000001", "info": "old export", "date": "2014-03-01",
  "timestamp": "1393632000", "published": "1", "attribute_count": "2", "analysis": "2", "distribution": "1",
  "Attribute": {
    "0": {"id": "1", "type": "ip-dst", "category": "Network activity", "to_ids": "0", "uuid": "53120000-0000-4000-8000-0000000000a1",
          "event_id": "12", "distribution": "5", "timestamp": "1393632000", "comment": "", "value": "198.51.100.23"},
    "1": {"id": "2", "type": "domain", "category": "Network activity", "to_ids": "0", "uuid": "53120000-0000-4000-8000-0000000000a2",
          "event_id": "12", "distribution": "5", "timestamp": "1393632000", "comment": "", "value": "old.example"}
  }}}`
	rep, sink, err = loadString(t, event, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 3, rep.RecordsMapped, "the event and its two attributes")
	for _, v := range []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.23"), graph.ValueNode(graph.KindDomainName, "old.example")} {
		var linked bool
		for _, r := range sink.relations {
			linked = linked || (r.Type == RelObject && r.Dst == v.Ref())
		}
		require.True(t, linked, "the event links %s", v.Key)
	}
}

package misp

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestPropertyObjectsAreIndicators: MISP core's STIX test event
// (testdata/misp/stixtest_property_objects.json: its credential,
// user-account and process objects, each with one to_ids attribute) and
// MISP's STIX export of it (stixtest_property_objects_stix20.json:
// indicator--<object uuid> of each) name each object by one node, the
// indicator, as misp-stix exports such objects; so does the http-request
// object of MISP's documented ZMQ event (zmq_misp_json_event.json: its uri
// is to_ids). The credential's pattern is the export's, comparison for
// comparison; the user-account's holds the same comparisons. Before, each
// object was a node of its own (x-misp-object-<name>) beside the export's
// indicator: feed-answers.py on the event and its export found the
// event's links to the credential and the user-account MISSING and EXTRA.
// The same objects without a to_ids attribute stay x-misp-object nodes.
func TestPropertyObjectsAreIndicators(t *testing.T) {
	t.Parallel()
	rep, mispSink, _, err := loadFile(t, filepath.Join(testdata, "stixtest_property_objects.json"), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	data, err := os.ReadFile(filepath.Join(testdata, "stixtest_property_objects_stix20.json"))
	require.NoError(t, err)
	stixSink := loadSTIX(t, string(data), "misp-core-export")

	pattern := func(n graph.Node) string { s, _ := n.Props["pattern"].(string); return s }
	comparisons := func(p string) []string {
		c := strings.Split(strings.TrimSuffix(strings.TrimPrefix(p, "["), "]"), " AND ")
		slices.Sort(c)
		return c
	}
	for _, c := range []struct{ name, uuid string }{
		{"credential", "5b1f9378-46d4-494b-a4c1-044e0a00020f"},
		{"user-account", "5d234f25-539c-4d12-bf93-2c46a964451a"},
		{"process", "5e39776a-b284-40b3-8079-22fea964451a"},
	} {
		m, ok := mispSink.byAlias(alias(c.uuid))
		require.True(t, ok, c.name)
		s, ok := stixSink.byAlias("indicator--" + c.uuid)
		require.True(t, ok, c.name)
		require.Equal(t, s.ID, m.ID, "the %s object is the export's indicator", c.name)
		require.Equal(t, graph.KindIndicator, m.Kind, c.name)
		require.Equal(t, c.name, m.Props["misp_object"], c.name)
		switch c.name {
		case "credential":
			require.Equal(t, pattern(s), pattern(m))
		case "user-account":
			require.Equal(t, comparisons(pattern(s)), comparisons(pattern(m)))
		case "process":
			// The export is STIX 2.0 (binary_ref, process:name); the
			// indicator compares the file image as STIX 2.1 does.
			require.Contains(t, pattern(m), "process:image_ref.name = 'process_in_progress.exe'")
			require.Contains(t, pattern(m), "process:pid = '2510'")
		}
		for _, n := range mispSink.nodes {
			require.NotEqual(t, graph.Kind(KindObjectPrefix+c.name), n.Kind, "no node of the %s object alone", c.name)
		}
	}

	_, zmq, _, err := loadFile(t, filepath.Join(testdata, "zmq_misp_json_event.json"), quiet(nil))
	require.NoError(t, err)
	req, ok := zmq.byAlias(alias("59c0016c-0984-4779-9688-05b8c0a83832"))
	require.True(t, ok)
	require.Equal(t, "indicator--59c0016c-0984-4779-9688-05b8c0a83832", req.Key)
	require.Equal(t, "[network-traffic:extensions.'http-request-ext'.request_method = 'POST' AND "+
		"network-traffic:extensions.'http-request-ext'.request_value = '/test.php']", pattern(req))

	// Without a to_ids attribute: the object's own node, as before.
	raw, err := os.ReadFile(filepath.Join(testdata, "stixtest_property_objects.json"))
	require.NoError(t, err)
	doc := strings.ReplaceAll(string(raw), `"to_ids": true`, `"to_ids": false`)
	_, plain, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	for _, c := range []struct{ name, uuid string }{
		{"credential", "5b1f9378-46d4-494b-a4c1-044e0a00020f"},
		{"user-account", "5d234f25-539c-4d12-bf93-2c46a964451a"},
		{"process", "5e39776a-b284-40b3-8079-22fea964451a"},
	} {
		m, ok := plain.byAlias(alias(c.uuid))
		require.True(t, ok, c.name)
		require.Equal(t, graph.Kind(KindObjectPrefix+c.name), m.Kind, c.name)
	}
}

// TestToIDsPortIsAnIndicator: MISP core's STIX test event holds a port
// attribute flagged to_ids (5abb8534-8b88-…: 2510), which MISP's STIX
// export gives as indicator--<uuid>, [network-traffic:dst_port = '2510']
// (testdata/order/stix/misp-core/stixtest_stix2_indicators_test.json).
// The attribute is that indicator, based on nothing; a port not to_ids
// stays an x-misp-attribute. Before, the to_ids port was an
// x-misp-attribute beside the export's indicator (feed-answers.py:
// the event's link to it EXTRA, the export's MISSING).
func TestToIDsPortIsAnIndicator(t *testing.T) {
	t.Parallel()
	const ev = `{"Event": {"uuid": "5abb8534-ba9c-48cd-bb63-02480a00020f", "info": "MISP-STIX-Converter test event",
  "date": "2018-03-28", "timestamp": "1583182299",
  "Attribute": [
    {"id": "253461", "type": "port", "category": "Network activity", "to_ids": true, "uuid": "5abb8534-8b88-4566-983f-02480a00020f",
     "event_id": "1255", "distribution": "0", "timestamp": "1522238772", "comment": "", "value": "2510"},
    {"type": "port", "category": "Network activity", "to_ids": false, "uuid": "5abb8534-8b88-4566-983f-02480a00020e",
     "timestamp": "1522238772", "value": "443"}
  ]}}`
	rep, sink, err := loadString(t, ev, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	n, ok := sink.byAlias(alias("5abb8534-8b88-4566-983f-02480a00020f"))
	require.True(t, ok)
	require.Equal(t, "indicator--5abb8534-8b88-4566-983f-02480a00020f", n.Key)
	require.Equal(t, "[network-traffic:dst_port = '2510']", n.Props["pattern"])
	require.Equal(t, "[network-traffic:dst_port = '2510']", n.Name)
	require.Empty(t, basedOn(sink, n.Ref()))
	plain, ok := sink.byAlias(alias("5abb8534-8b88-4566-983f-02480a00020e"))
	require.True(t, ok)
	require.Equal(t, "x-misp-attribute--5abb8534-8b88-4566-983f-02480a00020e", plain.Key)
}

package misp

import (
	"fmt"
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

// TestToIDsEmailSubjectIsTheExportsIndicator: MISP core's STIX test event
// (testdata/order/misp/misp-core/stixtest_misp_indicators_test.json) holds
// an email-subject attribute flagged to_ids ("Oui",
// 5abb8534-8f7c-4c92-aaec-02480a00020f), which MISP's STIX export of the
// event gives as indicator--<uuid>, [email-message:subject = 'Oui']
// (testdata/order/stix/misp-core/stixtest_stix2_indicators_test.json).
// The attribute is that indicator, as a to_ids port is
// (TestToIDsPortIsAnIndicator); so are a to_ids user-agent and the other
// types misp-stix exports as a pattern on a property no node keys
// (misp-stix misp_to_stix2.py _parse_<type>_attribute). Before, each was
// an x-misp-attribute beside the export's indicator: the event and its
// export named the attribute by two nodes.
func TestToIDsEmailSubjectIsTheExportsIndicator(t *testing.T) {
	t.Parallel()
	const subject = "5abb8534-8f7c-4c92-aaec-02480a00020f"
	mispSink, stixSink := loadMISPCoreAndExport(t)
	m, ok := mispSink.byAlias(alias(subject))
	require.True(t, ok)
	s, ok := stixSink.byAlias("indicator--" + subject)
	require.True(t, ok)
	require.Equal(t, s.ID, m.ID, "the email-subject attribute is the export's indicator")
	require.Equal(t, graph.KindIndicator, m.Kind)
	require.Equal(t, "[email-message:subject = 'Oui']", m.Props["pattern"])
	require.Equal(t, s.Props["pattern"], m.Props["pattern"])

	const ev = `{"Event": {"uuid": "6b2c0000-0000-4000-8000-000000000001", "info": "phish", "date": "2024-01-01", "timestamp": "1704067200",
  "Attribute": [
    {"uuid": "6b2c0000-0000-4000-8000-0000000000a2", "type": "user-agent", "category": "Network activity", "to_ids": true,
     "timestamp": "1704067200", "value": "Mozilla/4.0 (compatible; MSIE 6.0; it's)"},
    {"uuid": "6b2c0000-0000-4000-8000-0000000000a3", "type": "email-x-mailer", "category": "Payload delivery", "to_ids": true,
     "timestamp": "1704067200", "value": "Mutt/1.5.23"},
    {"uuid": "6b2c0000-0000-4000-8000-0000000000a4", "type": "user-agent", "category": "Network activity", "to_ids": false,
     "timestamp": "1704067200", "value": "curl/8.0"}
  ]}}`
	rep, sink, err := loadString(t, ev, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	for id, want := range map[string]string{
		"6b2c0000-0000-4000-8000-0000000000a2": `[network-traffic:extensions.'http-request-ext'.request_header.'User-Agent' = 'Mozilla/4.0 (compatible; MSIE 6.0; it\'s)']`,
		"6b2c0000-0000-4000-8000-0000000000a3": `[email-message:additional_header_fields.x_mailer = 'Mutt/1.5.23']`,
	} {
		n, ok := sink.byAlias(alias(id))
		require.True(t, ok, id)
		require.Equal(t, "indicator--"+id, n.Key)
		require.Equal(t, want, n.Props["pattern"])
		require.Empty(t, basedOn(sink, n.Ref()))
	}
	plain, ok := sink.byAlias(alias("6b2c0000-0000-4000-8000-0000000000a4"))
	require.True(t, ok)
	require.Equal(t, "x-misp-attribute--6b2c0000-0000-4000-8000-0000000000a4", plain.Key, "not to_ids: no indicator")
}

// TestAccountObjectIsTheExportsIndicator: misp-stix's documentation of
// its MISP objects to STIX 2.1 mapping (MISP/misp-stix
// documentation/misp_objects_to_stix21.md, "twitter-account") gives the
// twitter-account object 6baef273-… (id 1357111317, name johndoe,
// displayed-name John Doe, followers 666), flagged for detection, as
// indicator--<object uuid> [user-account:account_type = 'twitter' AND
// user-account:display_name = 'John Doe' AND user-account:user_id =
// '1357111317' AND user-account:account_login = 'johndoe' AND
// user-account:x_misp_followers = '666']. With its id to_ids the object
// is that indicator, pattern for pattern; so is a github-user, by its
// own mapping. Not to_ids, it stays an x-misp-object node. Before, each
// was an x-misp-object-<name> node beside the export's indicator.
func TestAccountObjectIsTheExportsIndicator(t *testing.T) {
	t.Parallel()
	const ev = `{"Event": {"uuid": "6baef273-0000-4000-8000-000000000001", "info": "accounts", "date": "2020-10-25", "timestamp": "1603642920",
  "Object": [
    {"name": "twitter-account", "description": "Twitter account.", "meta-category": "misc",
     "uuid": "6baef273-d2c3-4ef1-8a93-d2cf552e7bfb", "timestamp": "1603642920",
     "Attribute": [
       {"type": "text", "object_relation": "id", "value": "1357111317", "to_ids": %s},
       {"type": "text", "object_relation": "name", "value": "johndoe"},
       {"type": "text", "object_relation": "displayed-name", "value": "John Doe"},
       {"type": "text", "object_relation": "followers", "value": "666"}
     ]},
    {"name": "github-user", "meta-category": "misc", "uuid": "6baef273-0000-4000-8000-0000000000c1", "timestamp": "1603642920",
     "Attribute": [
       {"type": "github-username", "object_relation": "username", "value": "octocat", "to_ids": %s},
       {"type": "text", "object_relation": "user-fullname", "value": "Octo Cat"},
       {"type": "text", "object_relation": "bio", "value": "a cat"}
     ]}
  ]}}`
	rep, sink, err := loadString(t, fmt.Sprintf(ev, "true", "true"), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	for uuid, want := range map[string]string{
		"6baef273-d2c3-4ef1-8a93-d2cf552e7bfb": "[user-account:account_type = 'twitter' AND user-account:display_name = 'John Doe' AND " +
			"user-account:user_id = '1357111317' AND user-account:account_login = 'johndoe' AND user-account:x_misp_followers = '666']",
		"6baef273-0000-4000-8000-0000000000c1": "[user-account:account_type = 'github' AND user-account:display_name = 'Octo Cat' AND " +
			"user-account:account_login = 'octocat' AND user-account:x_misp_bio = 'a cat']",
	} {
		n, ok := sink.byAlias(alias(uuid))
		require.True(t, ok, uuid)
		require.Equal(t, "indicator--"+uuid, n.Key)
		require.Equal(t, want, n.Props["pattern"])
	}
	for _, n := range sink.nodes {
		require.NotEqual(t, graph.Kind(KindObjectPrefix+"twitter-account"), n.Kind, "no node of the object alone")
	}

	_, plain, err := loadString(t, fmt.Sprintf(ev, "false", "false"), quiet(nil))
	require.NoError(t, err)
	n, ok := plain.byAlias(alias("6baef273-d2c3-4ef1-8a93-d2cf552e7bfb"))
	require.True(t, ok)
	require.Equal(t, graph.Kind(KindObjectPrefix+"twitter-account"), n.Kind)
}

// TestToIDsReplyToAttachmentGitHubAreTheExportsIndicators: misp-stix
// exports a to_ids email-reply-to as indicator--<uuid>
// [email-message:additional_header_fields.reply_to = '…'], a to_ids
// email-attachment as [email-message:body_multipart[*].body_raw_ref.name =
// '…'] and a to_ids github-username as [user-account:account_type =
// 'github' AND user-account:account_login = '…'] (misp_to_stix2.py
// _parse_email_reply_to_attribute, _parse_email_attachment_attribute,
// _parse_github_username_attribute). MISP core's STIX test event holds a
// to_ids reply-to (5abb8534-d8c4-…, reply.to@email.test) and MISP's own
// export of it its indicator: the MISP attribute is that indicator, based
// on the address, as the export's is. Before, the MISP attribute was the
// email-addr node alone (two nodes for one attribute once both were
// loaded, and no indicator of the reply-to address), and the attachment
// and GitHub user name x-misp-attribute nodes.
func TestToIDsReplyToAttachmentGitHubAreTheExportsIndicators(t *testing.T) {
	t.Parallel()
	const replyTo = "5abb8534-d8c4-4a6f-a58a-02480a00020f"
	mispSink, stixSink := loadMISPCoreAndExport(t)
	m, ok := mispSink.byAlias(alias(replyTo))
	require.True(t, ok)
	s, ok := stixSink.byAlias("indicator--" + replyTo)
	require.True(t, ok)
	require.Equal(t, s.ID, m.ID, "the email-reply-to attribute is the export's indicator")
	require.Equal(t, "[email-message:additional_header_fields.reply_to = 'reply.to@email.test']", m.Props["pattern"])
	require.Equal(t, s.Props["pattern"], m.Props["pattern"])
	addr := graph.ValueNode(graph.KindEmailAddr, "reply.to@email.test").Ref()
	require.Equal(t, []graph.Ref{addr}, basedOn(mispSink, m.Ref()))
	require.Equal(t, []graph.Ref{addr}, basedOn(stixSink, s.Ref()))

	const ev = `{"Event": {"uuid": "6b2c0000-0000-4000-8000-000000000002", "info": "phish", "date": "2024-01-01", "timestamp": "1704067200",
  "Attribute": [
    {"uuid": "6b2c0000-0000-4000-8000-0000000000b1", "type": "email-attachment", "category": "Payload delivery", "to_ids": true,
     "timestamp": "1704067200", "value": "invoice.pdf.exe"},
    {"uuid": "6b2c0000-0000-4000-8000-0000000000b2", "type": "github-username", "category": "Social network", "to_ids": true,
     "timestamp": "1704067200", "value": "octo'cat"},
    {"uuid": "6b2c0000-0000-4000-8000-0000000000b3", "type": "email-reply-to", "category": "Payload delivery", "to_ids": false,
     "timestamp": "1704067200", "value": "billing@example.org"}
  ]}}`
	rep, sink, err := loadString(t, ev, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	for id, want := range map[string]string{
		"6b2c0000-0000-4000-8000-0000000000b1": `[email-message:body_multipart[*].body_raw_ref.name = 'invoice.pdf.exe']`,
		"6b2c0000-0000-4000-8000-0000000000b2": `[user-account:account_type = 'github' AND user-account:account_login = 'octo\'cat']`,
	} {
		n, ok := sink.byAlias(alias(id))
		require.True(t, ok, id)
		require.Equal(t, "indicator--"+id, n.Key)
		require.Equal(t, want, n.Props["pattern"])
		require.Empty(t, basedOn(sink, n.Ref()))
	}
	plain, ok := sink.byAlias(alias("6b2c0000-0000-4000-8000-0000000000b3"))
	require.True(t, ok)
	require.Equal(t, graph.KindEmailAddr, plain.Kind, "not to_ids: the address, no indicator")
}

// loadMISPCoreAndExport loads MISP core's STIX test event
// (testdata/order/misp/misp-core/stixtest_misp_indicators_test.json) and
// MISP's own STIX 2.1 export of it, each into a sink of its own, for
// tests that compare an attribute's node with the export's indicator.
func loadMISPCoreAndExport(t *testing.T) (mispSink, stixSink *captureSink) {
	t.Helper()
	rep, mispSink, _, err := loadFile(t, "../../testdata/order/misp/misp-core/stixtest_misp_indicators_test.json", quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	data, err := os.ReadFile("../../testdata/order/stix/misp-core/stixtest_stix2_indicators_test.json")
	require.NoError(t, err)
	return mispSink, loadSTIX(t, string(data), "misp-core-export")
}

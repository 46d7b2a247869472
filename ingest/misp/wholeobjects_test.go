package misp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// wholeObjectsEvent holds misp-stix's documented android-app, cpe-asset and
// netflow objects (MISP/misp-stix documentation/mapping/
// misp_objects_to_stix21.json: "android-app" 02782ed5-…, "netflow"
// 419eb5a9-…; the cpe-asset 3f53a829-… of its tests'
// _CPE_ASSET_INDICATOR_OBJECT, its attributes read back from that
// pattern), a legacy domain|ip and ip|port object (misp-stix's
// objects_mapping parses them as domain-ip and ip-port), with the first
// attribute of each flagged to_ids as %s.
const wholeObjectsEvent = `{"Event": {"uuid": "02782ed5-0000-4000-8000-000000000001", "info": "whole objects", "date": "2020-10-25", "timestamp": "1603642920",
  "Object": [
    {"name": "android-app", "meta-category": "file", "uuid": "02782ed5-b27f-4abc-8bae-efebe13a46dd", "timestamp": "1603642920",
     "Attribute": [
       {"type": "text", "object_relation": "name", "value": "Facebook", "to_ids": %[1]s},
       {"type": "sha1", "object_relation": "certificate", "value": "c3a94cdf5ad4d71fd60c16ba8801529c78e7398f"},
       {"type": "domain", "object_relation": "domain", "value": "facebook.com"}
     ]},
    {"name": "cpe-asset", "meta-category": "misc", "uuid": "3f53a829-6307-4006-b7a2-ff53dace4159", "timestamp": "1603642920",
     "Attribute": [
       {"type": "cpe", "object_relation": "cpe", "value": "cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*", "to_ids": %[1]s},
       {"type": "text", "object_relation": "description", "value": "Microsoft Word is a word processing software developed by Microsoft."},
       {"type": "text", "object_relation": "language", "value": "ENG"},
       {"type": "text", "object_relation": "product", "value": "Word"},
       {"type": "text", "object_relation": "vendor", "value": "Microsoft"},
       {"type": "text", "object_relation": "version", "value": "2002"}
     ]},
    {"name": "netflow", "meta-category": "network", "uuid": "419eb5a9-d232-4aa1-864e-2f4d7270a8f9", "timestamp": "1603642920",
     "Attribute": [
       {"uuid": "91ae0a21-c7ae-4c7f-b84b-b84a7ce53d1f", "type": "ip-src", "object_relation": "ip-src", "value": "1.2.3.4", "to_ids": %[1]s},
       {"uuid": "518b4bcb-a86b-4783-9457-391d548b605b", "type": "ip-dst", "object_relation": "ip-dst", "value": "5.6.7.8"},
       {"uuid": "53a12da9-4b66-4809-b0b4-e9de3172e7a0", "type": "AS", "object_relation": "src-as", "value": "AS1234"},
       {"uuid": "f2259650-bc33-4b64-a3a8-a324aa7ea6bb", "type": "AS", "object_relation": "dst-as", "value": "AS5678"},
       {"type": "port", "object_relation": "src-port", "value": "80"},
       {"type": "port", "object_relation": "dst-port", "value": "8080"},
       {"type": "text", "object_relation": "protocol", "value": "IP"},
       {"type": "datetime", "object_relation": "first-packet-seen", "value": "2020-10-25T16:22:00Z"},
       {"type": "text", "object_relation": "tcp-flags", "value": "00000002"}
     ]},
    {"name": "domain|ip", "meta-category": "network", "uuid": "5ac337df-0000-4000-8000-0000000000d1", "timestamp": "1603642920",
     "Attribute": [
       {"type": "domain", "object_relation": "domain", "value": "circl.lu", "to_ids": %[1]s},
       {"type": "ip-dst", "object_relation": "ip", "value": "149.13.33.14"}
     ]},
    {"name": "ip|port", "meta-category": "network", "uuid": "5ac337df-0000-4000-8000-0000000000d2", "timestamp": "1603642920",
     "Attribute": [
       {"type": "ip-dst", "object_relation": "ip", "value": "149.13.33.14", "to_ids": %[1]s},
       {"type": "port", "object_relation": "dst-port", "value": "443"}
     ]}
  ]}}`

// wholeObjectsExport is misp-stix's export of those objects' indicators:
// the android-app's, cpe-asset's and netflow's as its documentation and
// tests print them; the legacy domain|ip's and ip|port's with the
// comparisons of their to_ids attributes, as ours of a domain-ip and an
// ip-port are (misp-stix's newer releases AND the others too: the
// difference docs/reliability.md names for every object kind).
var wholeObjectsExport = map[string]string{
	"02782ed5-b27f-4abc-8bae-efebe13a46dd": "[software:name = 'Facebook' AND software:x_misp_certificate = 'c3a94cdf5ad4d71fd60c16ba8801529c78e7398f' AND software:x_misp_domain = 'facebook.com']",
	"3f53a829-6307-4006-b7a2-ff53dace4159": "[software:cpe = 'cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*' AND software:languages = 'ENG' AND software:name = 'Word' AND software:vendor = 'Microsoft' AND software:version = '2002' AND software:x_misp_description = 'Microsoft Word is a word processing software developed by Microsoft.']",
	"419eb5a9-d232-4aa1-864e-2f4d7270a8f9": "[(network-traffic:src_ref.type = 'ipv4-addr' AND network-traffic:src_ref.value = '1.2.3.4' AND network-traffic:src_ref.belongs_to_refs[0].number = '1234') AND (network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '5.6.7.8' AND network-traffic:dst_ref.belongs_to_refs[0].number = '5678') AND network-traffic:protocols[0] = 'ip' AND network-traffic:src_port = '80' AND network-traffic:dst_port = '8080' AND network-traffic:start = '2020-10-25T16:22:00Z' AND network-traffic:extensions.'tcp-ext'.src_flags_hex = '00000002']",
	"5ac337df-0000-4000-8000-0000000000d1": "[domain-name:value = 'circl.lu']",
	"5ac337df-0000-4000-8000-0000000000d2": "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '149.13.33.14']",
}

// TestWholeObjectsAreTheExportsIndicators: misp-stix exports an
// android-app, cpe-asset or netflow object with a to_ids attribute, and a
// to_ids object of the legacy names domain|ip and ip|port, as
// indicator--<object uuid> (misp_to_stix2.py _parse_android_app_object,
// _parse_cpe_asset_object, _parse_netflow_object, _parse_domain_ip_object,
// _parse_ip_port_object, each calling _handle_object_indicator). The MISP
// object is that indicator, pattern for pattern, based on what the
// export's indicator is based on when the STIX loader reads it (a
// netflow's addresses; nothing for software). Before, each was an
// x-misp-object-<name> node beside the export's indicator: two nodes
// claiming misp--<object uuid>. Not to_ids, they stay x-misp-object nodes.
func TestWholeObjectsAreTheExportsIndicators(t *testing.T) {
	t.Parallel()
	rep, sink, err := loadString(t, fmt.Sprintf(wholeObjectsEvent, "true"), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	var objs []string
	for uuid, want := range wholeObjectsExport {
		n, ok := sink.byAlias(alias(uuid))
		require.True(t, ok, uuid)
		require.Equal(t, graph.KindIndicator, n.Kind, uuid)
		require.Equal(t, "indicator--"+uuid, n.Key, uuid)
		if !strings.HasPrefix(uuid, "5ac337df") { // the legacy objects' patterns are the to_ids attributes' (as for domain-ip, ip-port)
			require.Equal(t, want, n.Props["pattern"], uuid)
		}
		objs = append(objs, fmt.Sprintf(`{"type": "indicator", "spec_version": "2.1", "id": "indicator--%s",
  "created": "2020-10-25T16:22:00.000Z", "modified": "2020-10-25T16:22:00.000Z", "valid_from": "2020-10-25T16:22:00Z",
  "pattern_type": "stix", "pattern": %q}`, uuid, want))
	}
	for _, n := range sink.nodes {
		require.False(t, strings.HasPrefix(string(n.Kind), KindObjectPrefix), "no node of an object alone: %s", n.Key)
	}
	stixSink := loadSTIX(t, `{"type": "bundle", "id": "bundle--02782ed5-0000-4000-8000-000000000002", "objects": [`+strings.Join(objs, ",")+`]}`, "misp-stix-export")
	for uuid := range wholeObjectsExport {
		m, _ := sink.byAlias(alias(uuid))
		s, ok := stixSink.byAlias("indicator--" + uuid)
		require.True(t, ok, uuid)
		require.Equal(t, s.ID, m.ID, uuid)
		want, got := basedOn(stixSink, s.Ref()), basedOn(sink, m.Ref())
		require.ElementsMatch(t, want, got, uuid)
	}
	netflow, _ := sink.byAlias(alias("419eb5a9-d232-4aa1-864e-2f4d7270a8f9"))
	require.ElementsMatch(t, []graph.Ref{
		graph.ValueNode(graph.KindIPv4Addr, "1.2.3.4").Ref(), graph.ValueNode(graph.KindIPv4Addr, "5.6.7.8").Ref(),
	}, basedOn(sink, netflow.Ref()))

	_, plain, err := loadString(t, fmt.Sprintf(wholeObjectsEvent, "false"), quiet(nil))
	require.NoError(t, err)
	for _, uuid := range []string{"02782ed5-b27f-4abc-8bae-efebe13a46dd", "3f53a829-6307-4006-b7a2-ff53dace4159", "419eb5a9-d232-4aa1-864e-2f4d7270a8f9"} {
		n, ok := plain.byAlias(alias(uuid))
		require.True(t, ok, uuid)
		require.True(t, strings.HasPrefix(string(n.Kind), KindObjectPrefix), "%s: %s", uuid, n.Kind)
	}
}

// TestWholeObjectPatternEscapesAndRepeats: values are escaped as misp-stix
// escapes them; an android-app's repeated relation compares each value, a
// cpe-asset's (read as single) the last; an IPv6 address is typed so; an
// AS is its digits.
func TestWholeObjectPatternEscapesAndRepeats(t *testing.T) {
	t.Parallel()
	p, ok := wholeObjectPattern("android-app", []attrOut{
		{relation: "name", value: "it's"}, {relation: "domain", value: "a.example"}, {relation: "domain", value: "b.example"},
	})
	require.True(t, ok)
	require.Equal(t, `[software:name = 'it\'s' AND software:x_misp_domain = 'a.example' AND software:x_misp_domain = 'b.example']`, p)
	p, ok = wholeObjectPattern("cpe-asset", []attrOut{{relation: "other", value: "x"}, {relation: "other", value: "y"}, {relation: "vendor", value: `C:\v`}})
	require.True(t, ok)
	require.Equal(t, `[software:vendor = 'C:\\v' AND software:x_misp_other = 'y']`, p)
	p, ok = wholeObjectPattern("netflow", []attrOut{{relation: "ip-dst", value: "2001:db8::1"}, {relation: "dst-as", value: "AS 64500"}})
	require.True(t, ok)
	require.Equal(t, `[(network-traffic:dst_ref.type = 'ipv6-addr' AND network-traffic:dst_ref.value = '2001:db8::1' AND network-traffic:dst_ref.belongs_to_refs[0].number = '64500')]`, p)
	_, ok = wholeObjectPattern("netflow", nil)
	require.False(t, ok)
}

package misp

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestGalaxyResolvesToATTACK: a threat-actor cluster whose synonyms and
// attack.mitre.org refs name one ATT&CK group is that group's node (keyed
// by its id, the id space shared with intrusion sets), with its names as
// lookup aliases; one whose refs name two groups is keyed by neither and
// records the ambiguity; a technique tag by "Name - T-id" is the
// technique's node.
func TestGalaxyResolvesToATTACK(t *testing.T) {
	t.Parallel()
	galaxy := `{"type": "threat-actor", "name": "Threat Actor", "GalaxyCluster": [
		{"uuid": "` + u(40) + `", "type": "threat-actor", "value": "APT28", "tag_name": "misp-galaxy:threat-actor=\"APT28\"",
		 "meta": {"synonyms": ["Sofacy", "Fancy Bear", "G0007"], "refs": ["https://attack.mitre.org/groups/G0007/", "https://en.wikipedia.org/wiki/Fancy_Bear"]}},
		{"uuid": "` + u(41) + `", "type": "threat-actor", "value": "Mixed Bag", "tag_name": "misp-galaxy:threat-actor=\"Mixed Bag\"",
		 "meta": {"refs": ["https://attack.mitre.org/groups/G0001/", "https://attack.mitre.org/groups/G0002/"]}}]}`
	ip := idsAttr(u(2), "ip-dst", "198.51.100.7",
		`"Tag": [{"name": "misp-galaxy:mitre-attack-pattern=\"PowerShell - T1059.001\""}, {"name": "misp-galaxy:threat-actor=\"Sofacy\""}]`)
	doc := event(u(1), "resolve", []string{ip}, `"Galaxy": [`+galaxy+`]`)
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)

	apt28, ok := sink.byAlias(alias(u(40)))
	require.True(t, ok)
	require.Equal(t, "G0007", apt28.Key)
	require.Equal(t, graph.NamedNode(graph.KindIntrusionSet, "APT28", "G0007").ID, apt28.ID, "ATT&CK's intrusion set G0007 is this node")
	require.Subset(t, apt28.Aliases, []string{"intrusion-set:apt28", "intrusion-set:sofacy", "intrusion-set:fancy bear", "mitre-attack:G0007"})

	mixed, ok := sink.byAlias(alias(u(41)))
	require.True(t, ok)
	require.Equal(t, "mixed bag", mixed.Key, "two ATT&CK groups named: merged with neither")
	require.Equal(t, []string{"G0001", "G0002"}, mixed.Props["ambiguous_attack_ids"])

	n, _ := sink.byAlias(alias(u(2)))
	require.True(t, hasRelation(sink, n.Ref(), graph.RelIndicates, graph.NamedNode(graph.KindAttackPattern, "x", "T1059.001").Ref()))
}

// TestObservablesNormalisedLikeSTIX: MISP values go through the same
// normalisers as STIX (graph.Normalize*): a domain in any case with a final
// dot is the STIX domain's node, a URL with a space loads (with the IP of
// its object), an IPv6 address is canonical.
func TestObservablesNormalisedLikeSTIX(t *testing.T) {
	t.Parallel()
	object := fmt.Sprintf(`{"uuid": %q, "name": "url", "meta-category": "network", "timestamp": "1600000000", "Attribute": [
		{"uuid": %q, "type": "url", "object_relation": "url", "value": "http://Update.Example.com/cloud check/a.php", "timestamp": "1600000000"},
		{"uuid": %q, "type": "ip-dst", "object_relation": "ip", "value": "203.0.113.77", "timestamp": "1600000000"}]}`,
		u(20), u(21), u(22))
	doc := event(u(1), "normalise", []string{
		attr(u(2), "domain", "Server-1.OstDownload.xyz."),
		attr(u(3), "url", "HTTPS://C2.Example.com/Get Task?id=1"),
		attr(u(4), "ip-dst", "2001:DB8:0:0::1"),
	}, `"Object": [`+object+`]`)
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	d, _ := sink.byAlias(alias(u(2)))
	stixDomain, ok := graph.ObservableNode("domain-name", map[string]any{"value": "server-1.ostdownload.xyz"})
	require.True(t, ok)
	require.Equal(t, stixDomain.ID, d.ID)
	require.Equal(t, "server-1.ostdownload.xyz", d.Key)
	url, _ := sink.byAlias(alias(u(3)))
	require.Equal(t, "https://c2.example.com/Get Task?id=1", url.Key)
	v6, _ := sink.byAlias(alias(u(4)))
	require.Equal(t, "2001:db8::1", v6.Key)
	_, ok = sink.byID(graph.ValueNode(graph.KindURL, "http://update.example.com/cloud check/a.php").Ref())
	require.True(t, ok, "the object's URL with a space is a node")
	_, ok = sink.byID(graph.ValueNode(graph.KindIPv4Addr, "203.0.113.77").Ref())
	require.True(t, ok, "and so is its C2 IP")
}

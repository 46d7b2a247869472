package stix

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestLifecycleAndExternalIDs: named objects key on their ATT&CK id, so a
// deprecated copy with an id of its own (ATT&CK for ICS's S1001 "Bad
// Rabbit") is another node than the live S0606; revoked and deprecated
// objects are marked (graph.PropLifecycle) and claim no name alias; ATT&CK
// ids and names are lookup aliases; techniques link to their tactics.
func TestLifecycleAndExternalIDs(t *testing.T) {
	t.Parallel()
	const (
		live    = "malware--2eaa5319-5e1e-4dd7-bbc4-566fced3964a"
		dep     = "malware--242622ca-3903-43d5-8aa0-3bbdaa3020ec"
		revoked = "intrusion-set--00000000-0000-4000-8000-0000000000a1"
		tech    = "attack-pattern--00000000-0000-4000-8000-0000000000a2"
		tactic  = "x-mitre-tactic--00000000-0000-4000-8000-0000000000a3"
	)
	sink, rep, _ := load(t, bundle(
		`{"type":"malware","spec_version":"2.1","id":"`+live+`","created":"2021-02-09T00:00:00Z","modified":"2025-01-02T19:45:31.402Z","name":"Bad Rabbit","is_family":true,
		  "x_mitre_aliases":["Bad Rabbit","Win32/Diskcoder.D"],"description":"live",
		  "external_references":[{"source_name":"mitre-attack","url":"https://attack.mitre.org/software/S0606","external_id":"S0606"}]}`,
		`{"type":"malware","spec_version":"2.1","id":"`+dep+`","created":"2020-01-01T00:00:00Z","modified":"2025-04-18T18:00:54.935Z","name":"Bad Rabbit","is_family":true,
		  "x_mitre_aliases":["Bad Rabbit","Diskcoder.D"],"x_mitre_deprecated":true,"description":"old",
		  "external_references":[{"source_name":"mitre-ics-attack","external_id":"S1001"}]}`,
		`{"type":"intrusion-set","spec_version":"2.1","id":"`+revoked+`","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","name":"Old Group","revoked":true,
		  "aliases":["Old Group","Shared Name"],"external_references":[{"source_name":"mitre-attack","external_id":"G9999"}]}`,
		`{"type":"attack-pattern","spec_version":"2.1","id":"`+tech+`","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","name":"Change Operating Mode",
		  "kill_chain_phases":[{"kill_chain_name":"mitre-ics-attack","phase_name":"execution-ics"},{"kill_chain_name":"lockheed","phase_name":"delivery"}],
		  "external_references":[{"source_name":"mitre-ics-attack","external_id":"T0858"}]}`,
		`{"type":"x-mitre-tactic","spec_version":"2.1","id":"`+tactic+`","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","name":"Execution",
		  "x_mitre_shortname":"execution-ics","x_mitre_domains":["ics-attack"],
		  "external_references":[{"source_name":"mitre-attack","external_id":"TA0104"}]}`,
	))
	require.Empty(t, rep.Dropped)
	nodes := sink.byAlias()

	l, d := nodes[live], nodes[dep]
	require.Equal(t, "S0606", l.Key)
	require.Equal(t, "S1001", d.Key)
	require.NotEqual(t, l.ID, d.ID, "a deprecated copy with its own id is another node")
	require.Equal(t, graph.NamedNode(graph.KindMalware, "Bad Rabbit - S0606").ID, l.ID, "a MISP galaxy value with the id meets it")
	require.Nil(t, l.Props[graph.PropLifecycle])
	require.Equal(t, graph.LifecycleDeprecated, d.Props[graph.PropLifecycle])
	require.Subset(t, l.Aliases, []string{"malware:bad rabbit", "malware:win32/diskcoder.d", "mitre-attack:S0606"})
	require.Contains(t, d.Aliases, "mitre-attack:S1001")
	require.NotContains(t, d.Aliases, "malware:bad rabbit", "a deprecated object claims no name alias")
	require.Equal(t, l.ID, nodes["malware:bad rabbit"].ID)

	r := nodes[revoked]
	require.Equal(t, graph.LifecycleRevoked, r.Props[graph.PropLifecycle])
	require.Equal(t, "G9999", r.Key)
	require.NotContains(t, r.Aliases, "intrusion-set:shared name")

	te, ta := nodes[tech], nodes[tactic]
	require.Equal(t, "T0858", te.Key)
	require.Contains(t, ta.Aliases, graph.TacticAlias("mitre-ics-attack", "execution-ics"))
	require.Contains(t, ta.Aliases, "mitre-attack:TA0104")
	require.Equal(t, []string{graph.TacticAlias("mitre-ics-attack", "execution-ics")}, relationsOf(sink, te, graph.RelTactic),
		"only ATT&CK kill chains link to tactics")
}

// TestObservablesNormalised: a domain in any case, with or without its
// final dot, is one node; a url and a domain-name of one value are two.
func TestObservablesNormalised(t *testing.T) {
	t.Parallel()
	sink, rep, _ := load(t, bundle(
		`{"type":"domain-name","spec_version":"2.1","id":"domain-name--00000000-0000-4000-8000-0000000000b1","value":"Server-1.OstDownload.xyz"}`,
		`{"type":"domain-name","spec_version":"2.1","id":"domain-name--00000000-0000-4000-8000-0000000000b2","value":"server-1.ostdownload.xyz."}`,
		`{"type":"url","spec_version":"2.1","id":"url--00000000-0000-4000-8000-0000000000b3","value":"server-1.ostdownload.xyz"}`,
		`{"type":"url","spec_version":"2.1","id":"url--00000000-0000-4000-8000-0000000000b4","value":"HTTP://Server-1.OstDownload.xyz/Update Check.php"}`,
		`{"type":"ipv6-addr","spec_version":"2.1","id":"ipv6-addr--00000000-0000-4000-8000-0000000000b5","value":"2001:DB8:0::1"}`,
	))
	require.Empty(t, rep.Dropped)
	nodes := sink.byAlias()
	a, b := nodes["domain-name--00000000-0000-4000-8000-0000000000b1"], nodes["domain-name--00000000-0000-4000-8000-0000000000b2"]
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, "server-1.ostdownload.xyz", a.Key)
	require.Equal(t, graph.ValueNode(graph.KindDomainName, "server-1.ostdownload.xyz").ID, a.ID, "the node MISP's domain attribute gives")
	u := nodes["url--00000000-0000-4000-8000-0000000000b3"]
	require.Equal(t, graph.KindURL, u.Kind)
	require.NotEqual(t, a.ID, u.ID, "a url and a domain-name of one value are two nodes")
	require.Equal(t, "http://server-1.ostdownload.xyz/Update Check.php", nodes["url--00000000-0000-4000-8000-0000000000b4"].Key)
	require.Equal(t, "2001:db8::1", nodes["ipv6-addr--00000000-0000-4000-8000-0000000000b5"].Key)
}

// TestAmbiguousAliasReported: an alias two ATT&CK entities claim (ATT&CK
// for ICS gives "Berserk Bear" to both Dragonfly G0035 and Dragonfly 2.0
// G0074) is reported once and merges nothing.
func TestAmbiguousAliasReported(t *testing.T) {
	t.Parallel()
	sink, rep, logs := load(t, bundle(
		`{"type":"intrusion-set","spec_version":"2.1","id":"intrusion-set--00000000-0000-4000-8000-0000000000d1","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z",
		  "name":"Dragonfly","aliases":["Dragonfly","Berserk Bear"],"external_references":[{"source_name":"mitre-attack","external_id":"G0035"}]}`,
		`{"type":"intrusion-set","spec_version":"2.1","id":"intrusion-set--00000000-0000-4000-8000-0000000000d2","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z",
		  "name":"Dragonfly 2.0","aliases":["Dragonfly 2.0","Berserk Bear"],"external_references":[{"source_name":"mitre-attack","external_id":"G0074"}]}`,
	))
	require.Empty(t, rep.Dropped)
	nodes := sink.byAlias()
	a, b := nodes["intrusion-set--00000000-0000-4000-8000-0000000000d1"], nodes["intrusion-set--00000000-0000-4000-8000-0000000000d2"]
	require.NotEqual(t, a.ID, b.ID, "never merged")
	require.Contains(t, a.Aliases, "intrusion-set:berserk bear")
	require.Contains(t, b.Aliases, "intrusion-set:berserk bear")
	var reported []any
	for _, l := range logs {
		if strings.HasPrefix(l.msg, "ambiguous alias") {
			reported = append(reported, l.attrs["alias"])
			// What it says of lookups is what they do (store.ResolveNode
			// refuses an ambiguous alias and lists the candidates).
			require.Contains(t, l.msg, "a lookup by it is refused")
		}
	}
	require.Equal(t, []any{"intrusion-set:berserk bear"}, reported)
}

// TestInvalidHashWarned: a file's hash that is no hash of its algorithm
// gives no hash node and a warning; the file loads with it in props.
func TestInvalidHashWarned(t *testing.T) {
	t.Parallel()
	const id = "file--00000000-0000-4000-8000-0000000000f1"
	sha := "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
	sink, rep, logs := load(t, bundle(`{"type":"file","spec_version":"2.1","id":"`+id+`","name":"a.exe","hashes":{"MD5":"abc","SHA-256":"`+sha+`"}}`))
	require.Empty(t, rep.Dropped)
	file := sink.byAlias()[id]
	require.Equal(t, []string{string(graph.HashNode("SHA-256", sha).Ref())}, relationsOf(sink, file, graph.RelHasHash))
	require.Equal(t, "abc", file.Props["hashes"].(map[string]any)["MD5"])
	warned := false
	for _, l := range logs {
		warned = warned || (l.attrs["property"] == "hashes.MD5" && l.attrs["value"] == "abc")
	}
	require.True(t, warned, "the bad hash is logged")
}

// TestInvalidValueWarned: an observable whose value is no value of its
// kind (ipv4-addr "999.1.1.1"; testdata/adv/sco-invalid-values.json) loads
// keyed as written, since other objects name it, but is logged, as a
// pattern's invalid value and a MISP attribute's are; a valid one is not.
func TestInvalidValueWarned(t *testing.T) {
	t.Parallel()
	_, rep, logs := load(t, bundle(
		`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-4000-8000-0000000000e1","value":"999.1.1.1"}`,
		`{"type":"domain-name","spec_version":"2.1","id":"domain-name--00000000-0000-4000-8000-0000000000e2","value":"not a domain"}`,
		`{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-4000-8000-0000000000e3","value":"198.51.100.9"}`))
	require.Empty(t, rep.Dropped)
	var warned []any
	for _, l := range logs {
		if l.attrs["property"] == "value" {
			warned = append(warned, l.attrs["value"])
		}
	}
	require.ElementsMatch(t, []any{"999.1.1.1", "not a domain"}, warned)
}

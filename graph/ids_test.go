package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/stixid"
)

func TestObservableIDsMatchSTIX(t *testing.T) {
	t.Parallel()
	// Ids as published in the shared corpus (stix-elevator output).
	for _, tc := range []struct {
		typ, value, want string
	}{
		{"ipv4-addr", "198.49.123.10", "96d215a5-eb23-527a-ae22-9507313d32ca"},
		{"url", "http://thereelin.com/mac/htm", "85336f56-d406-530a-a485-f28a369e6b36"},
	} {
		id, ok := stixid.ObservableID(tc.typ, map[string]any{"type": tc.typ, "value": tc.value})
		require.True(t, ok)
		require.Equal(t, tc.want, id.String(), "%s %s", tc.typ, tc.value)
		require.Equal(t, graph.ObservableID(graph.Kind(tc.typ), id), graph.ValueNode(graph.Kind(tc.typ), tc.value).ID)
	}
	_, ok := stixid.ObservableID("process", map[string]any{"pid": 4})
	require.False(t, ok, "process has no ID-contributing properties")
}

func TestNamedKeys(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind graph.Kind
		name string
		ids  []string
		want string
	}{
		{graph.KindMalware, "  LockBit   3.0 ", nil, "lockbit 3.0"},
		{graph.KindIntrusionSet, "APT16 - G0023", nil, "G0023"},
		{graph.KindIntrusionSet, "APT16", []string{"G0023"}, "G0023"},
		{graph.KindIntrusionSet, "APT16", nil, "apt16"},
		{graph.KindThreatActor, "Sofacy", []string{"https://x", "g0007"}, "G0007"},
		{graph.KindMalware, "Bad Rabbit", []string{"S0606"}, "S0606"},
		{graph.KindMalware, "Bad Rabbit", []string{"S1001"}, "S1001"},
		{graph.KindMalware, "Bad Rabbit", []string{"G0007", "T1059"}, "bad rabbit"},
		{graph.KindMalware, "S0606", nil, "S0606"},
		{graph.KindTool, "Mimikatz - S0002", nil, "S0002"},
		{graph.KindCampaign, "Operation X", []string{"C0001"}, "C0001"},
		{graph.KindVulnerability, "cve-2021-44228", nil, "CVE-2021-44228"},
		{graph.KindVulnerability, "Log4Shell", []string{"CVE-2021-44228"}, "CVE-2021-44228"},
		{graph.KindAttackPattern, "Data Encrypted for Impact", []string{"T1486"}, "T1486"},
		{graph.KindAttackPattern, "Data Encrypted for Impact - T1486", nil, "T1486"},
		{graph.KindAttackPattern, "Some CAPEC pattern", []string{"CAPEC-33"}, "some capec pattern"},
	} {
		require.Equal(t, tc.want, graph.NamedKey(tc.kind, tc.name, tc.ids...), "%s %q %v", tc.kind, tc.name, tc.ids)
	}
	require.Equal(t, graph.NamedNode(graph.KindIntrusionSet, "APT16 - G0023").ID, graph.NamedNode(graph.KindIntrusionSet, "apt16", "G0023").ID)
	require.NotEqual(t, graph.NamedNode(graph.KindMalware, "Bad Rabbit", "S0606").ID, graph.NamedNode(graph.KindMalware, "Bad Rabbit", "S1001").ID,
		"a deprecated copy with its own ATT&CK id is another node")
	require.Equal(t, graph.NamedNode(graph.KindIntrusionSet, "APT28", "G0007").ID, graph.NamedNode(graph.KindThreatActor, "Sofacy", "G0007").ID,
		"threat actors and intrusion sets are one actor entity")
	require.Equal(t, graph.NamedNode(graph.KindIntrusionSet, "apt32").ID, graph.NamedNode(graph.KindThreatActor, "APT32").ID)
	require.Equal(t, "T1059.001", graph.ATTACKIDFromURL("https://attack.mitre.org/techniques/T1059/001/"))
	require.Equal(t, "G0007", graph.ATTACKIDFromURL("https://attack.mitre.org/groups/G0007/"))
	require.Equal(t, "", graph.ATTACKIDFromURL("https://example.com/groups/G0007/"))
	require.Equal(t, "intrusion-set:sofacy", graph.NameAlias(graph.KindThreatActor, " Sofacy "))
	require.Equal(t, "malware:bad rabbit", graph.NameAlias(graph.KindMalware, "Bad Rabbit - S0606"))
}

func TestHashAndFileNodes(t *testing.T) {
	t.Parallel()
	require.Equal(t, "SHA-256:abcd", graph.HashKey("sha256", " ABCD "))
	require.Equal(t, "SHA-1:ab", graph.HashKey("'SHA-1'", "AB"))
	require.Equal(t, graph.HashNode("SHA256", "AA").ID, graph.HashNode("sha-256", "aa").ID)

	file, hashes, rels := graph.FileNode(map[string]string{"sha256": "AA", "md5": "BB"}, "x.exe")
	require.Len(t, hashes, 2)
	require.Len(t, rels, 2)
	for _, r := range rels {
		require.Equal(t, file.Ref(), r.Src)
		require.Equal(t, graph.RelHasHash, r.Type)
	}
	same, _, _ := graph.FileNode(map[string]string{"MD5": "bb", "SHA-256": "aa"}, "x.exe")
	require.Equal(t, file.ID, same.ID, "spelling and case of hashes do not change the file id")
}

func TestNameUses(t *testing.T) {
	t.Parallel()
	cluster := graph.NamedNode(graph.KindThreatActor, "Sofacy")
	cluster.Props = map[string]any{"synonyms": []any{"APT28", "Fancy Bear", "sofacy", " "}}
	vendor := graph.NamedNode(graph.KindIntrusionSet, "Some Panda - G0999 ")
	vendor.Key = "some panda" // keyed by name: the suffix id is for the test only
	// The MISP galaxy mapper builds synonyms as a []string; JSON gives []any.
	mapped := graph.NamedNode(graph.KindThreatActor, "Callisto")
	mapped.Props = map[string]any{"synonyms": []string{"COLDRIVER", "Star Blizzard"}}
	revoked := graph.NamedNode(graph.KindMalware, "Old Thing")
	revoked.Props = map[string]any{"revoked": true}
	for _, tc := range []struct {
		name string
		node graph.Node
		want []string
	}{
		{"a cluster keyed by its name gives name and synonyms, as intrusion-set",
			cluster, []string{"intrusion-set:sofacy", "intrusion-set:apt28", "intrusion-set:fancy bear"}},
		{"synonyms as the mapper builds them count too",
			mapped, []string{"intrusion-set:callisto", "intrusion-set:coldriver", "intrusion-set:star blizzard"}},
		{"an ATT&CK suffix is not part of the name", vendor, []string{"intrusion-set:some panda"}},
		{"an entity keyed by its ATT&CK id claims, it does not use", graph.NamedNode(graph.KindIntrusionSet, "APT28", "G0007"), nil},
		{"a technique tagged by name only", graph.NamedNode(graph.KindAttackPattern, "PowerShell"), []string{"attack-pattern:powershell"}},
		{"a withdrawn record gives none", revoked, nil},
		{"kinds without name aliases give none", graph.NamedNode(graph.KindVulnerability, "Log4Shell"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, graph.NameUses(tc.node))
		})
	}
}

// A name is one key whatever Unicode form or white space it is written in:
// text pasted from a PDF or a web page carries no-break spaces, macOS
// writes decomposed accents (NFD), CJK reports ideographic spaces. Before,
// "Café Stealer" in NFC and in NFD were two malware nodes, and "Lazarus
// Group" with a no-break space was not ATT&CK's Lazarus Group.
func TestNameKeyIsOneForEveryUnicodeForm(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		kind       graph.Kind
		same, want string
	}{
		{graph.KindMalware, "Cafe\u0301 Stealer", "café stealer"}, // NFD
		{graph.KindMalware, "CAFÉ\u00a0STEALER", "café stealer"},  // no-break space
		{graph.KindIntrusionSet, "Lazarus\u00a0Group", "lazarus group"},
		{graph.KindIntrusionSet, "Lazarus\u3000 Group", "lazarus group"}, // ideographic space
		{graph.KindIntrusionSet, "Lazarus\u2009Group\u200b", "lazarus group"},
		{graph.KindIntrusionSet, "\ufeffLazarus Group", "lazarus group"},
		{graph.KindThreatActor, "김수키", "김수키"},
		{graph.KindThreatActor, "\u1100\u1175\u11b7\u1109\u116e\u110f\u1175", "김수키"}, // Hangul jamo (NFD)
	} {
		require.Equal(t, tc.want, graph.NamedKey(tc.kind, tc.same), "%q", tc.same)
		require.Equal(t, graph.NamedNode(tc.kind, tc.want).ID, graph.NamedNode(tc.kind, tc.same).ID, "%q", tc.same)
		require.Equal(t, graph.NameAlias(tc.kind, tc.want), graph.NameAlias(tc.kind, tc.same), "%q", tc.same)
	}
	// Punctuation and spacing between words still count (see NormalizeName).
	require.NotEqual(t, graph.NamedKey(graph.KindIntrusionSet, "APT 32"), graph.NamedKey(graph.KindIntrusionSet, "APT32"))
}

// TestObservableNodeSpellingsOfOneFlowOrFile: a network-traffic's start and
// end are the instant they name and its ports integers, in any spelling
// producers write; a file that gives a hash is the file of its hashes and
// name whatever its extensions. Other instants, ports out of range and a
// file known by no hash stay apart.
func TestObservableNodeSpellingsOfOneFlowOrFile(t *testing.T) {
	t.Parallel()
	node := func(typ string, obj map[string]any) graph.Node {
		n, ok := graph.ObservableNode(typ, obj)
		require.True(t, ok)
		return n
	}
	flow := func(start any, port any) graph.Node {
		return node("network-traffic", map[string]any{"start": start, "dst_port": port, "protocols": []any{"tcp"}})
	}
	one := flow("2011-08-05T07:14:55Z", 443.0)
	for _, tc := range []struct {
		start, port any
		same        bool
	}{
		{"2011-08-05T07:14:55.000000Z", 443.0, true},
		{"2011-08-05T07:14:55.000Z", "443", true},
		{"2011-08-05T09:14:55+02:00", " 443 ", true},
		{"2011-08-05T07:14:55.001Z", 443.0, false},
		{"2011-08-05T07:14:55Z", "8443", false},
		{"2011-08-05T07:14:55Z", "70000", false},
		{"not a time", 443.0, false},
	} {
		require.Equal(t, tc.same, flow(tc.start, tc.port).ID == one.ID, "%v %v", tc.start, tc.port)
	}
	require.Contains(t, one.Key, `"start":"2011-08-05T07:14:55Z"`)

	hashes := map[string]any{"MD5": "b2a5abfeef9e36964281a31e17b57c97"}
	pe := map[string]any{"windows-pebinary-ext": map[string]any{"pe_type": "exe"}}
	file, _, _ := graph.FileNode(map[string]string{"MD5": "b2a5abfeef9e36964281a31e17b57c97"}, "oui")
	require.Equal(t, file.ID, node("file", map[string]any{"name": "oui", "hashes": hashes, "extensions": pe}).ID)
	require.NotEqual(t, node("file", map[string]any{"name": "oui", "extensions": pe}).ID,
		node("file", map[string]any{"name": "oui"}).ID, "a file known by no hash keeps its extensions in its key")
}

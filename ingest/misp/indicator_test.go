package misp

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
)

// TestIDSPatternsCompareTheAttributesValue: the pattern a to_ids
// attribute's indicator gets (misp-stix's for the type) is valid STIX
// patterning and compares the attribute's value: the observables the STIX
// loader takes from it (based-on) are the attribute's node, or for a file
// named with a hash, the hash that keys it. Patterns as misp-stix writes
// them (the corpus's exports): domain, domain|ip, email-src, filename,
// filename|sha1, md5 are taken from test_events_collection_stix21.json and
// MISP core's stixtest export.
func TestIDSPatternsCompareTheAttributesValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ typ, value, pattern string }{
		{"domain", "circl.lu", "[domain-name:value = 'circl.lu']"},
		{"hostname", "c2.evil.example", "[domain-name:value = 'c2.evil.example']"},
		{"domain|ip", "circl.lu|149.13.33.14", "[domain-name:value = 'circl.lu' AND domain-name:resolves_to_refs[*].value = '149.13.33.14']"},
		{"ip-dst", "198.51.100.7", "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.7']"},
		{"ip-src", "2001:db8::5", "[network-traffic:src_ref.type = 'ipv6-addr' AND network-traffic:src_ref.value = '2001:db8::5']"},
		{"ip-dst|port", "198.51.100.8|8443", "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '198.51.100.8' AND network-traffic:dst_port = '8443']"},
		{"url", "https://www.circl.lu/team", "[url:value = 'https://www.circl.lu/team']"},
		{"email-src", "donald.duck@disney.com", "[email-message:from_ref.value = 'donald.duck@disney.com']"},
		{"md5", md5a, "[file:hashes.MD5 = '" + md5a + "']"},
		{"sha256", sha256a, "[file:hashes.'SHA-256' = '" + sha256a + "']"},
		{"filename", "test_file_name", "[file:name = 'test_file_name']"},
		{"filename|sha256", "a.exe|" + sha256a, "[file:name = 'a.exe' AND file:hashes.'SHA-256' = '" + sha256a + "']"},
		{"mutex", "no idea", "[mutex:name = 'no idea']"},
		{"regkey", `HKLM\Software\Run`, `[windows-registry-key:key = 'HKLM\\Software\\Run']`},
		{"mac-address", "5E:FF:56:A2:AF:15", "[mac-addr:value = '5E:FF:56:A2:AF:15']"},
		{"AS", "AS174", "[autonomous-system:number = '174']"},
		{"x509-fingerprint-sha1", "fa3d5d670dc1d153b999c3aec7b1d815cc33c4dc", "[x509-certificate:hashes.'SHA-1' = 'fa3d5d670dc1d153b999c3aec7b1d815cc33c4dc']"},
		{"url", "http://x.example/it's", `[url:value = 'http://x.example/it\'s']`},
	} {
		t.Run(c.typ, func(t *testing.T) {
			require.Equal(t, c.pattern, idsPattern(c.typ, c.value))
			ind, obs, ok := idsIndicator(u(9), c.typ, c.value)
			require.True(t, ok)
			require.Equal(t, "indicator--"+u(9), ind.Key)
			o, err := valueMappers[c.typ](c.typ, c.value)
			require.NoError(t, err)
			want := []graph.Ref{o.node.Ref()}
			if o.node.Kind == graph.KindFile && len(o.extra) > 0 {
				want = []graph.Ref{o.extra[0].Ref()} // the hash keying the file
			}
			var got []graph.Ref
			for _, n := range obs {
				got = append(got, n.Ref())
			}
			require.Subset(t, got, want, "based on the attribute's node")
			again, err := stix.PatternObservables(ind.Props["pattern"].(string))
			require.NoError(t, err)
			require.Equal(t, obs, again)
		})
	}
	for _, typ := range []string{"vulnerability", "threat-actor", "campaign-name", "text", "email-reply-to"} {
		require.Empty(t, idsPattern(typ, "x"), typ)
	}
}

// TestSTIXPatternAttributeNotUnderstood: a stix2-pattern attribute whose
// pattern puts NOT before an object path (no STIX patterning) is an
// indicator keeping its pattern, with no based-on link, and a counted,
// logged invalid-pattern part drop, as the STIX loader treats such an
// indicator. Before, the MISP loader dropped the pattern's error without
// a word (its based-on link to the excluded domain went with the STIX
// parser's fix, not its silence).
func TestSTIXPatternAttributeNotUnderstood(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	rep, sink, err := loadString(t, event(u(1), "patterns", []string{
		attr(u(2), "stix2-pattern", "[NOT domain-name:value = 'evil.example']"),
		attr(u(3), "stix2-pattern", "[domain-name:value NOT = 'evil.example' AND domain-name:value = 'good.example']"),
	}), quiet(&buf))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.EqualValues(t, 1, rep.PartsDropped[stix.ReasonInvalidPattern], "%+v", rep.PartsDropped)
	require.Contains(t, buf.String(), "indicator--"+u(2))
	bad, ok := sink.byAlias(alias(u(2)))
	require.True(t, ok)
	require.Equal(t, "[NOT domain-name:value = 'evil.example']", bad.Props["pattern"])
	require.Empty(t, basedOn(sink, bad.Ref()))
	good, ok := sink.byAlias(alias(u(3)))
	require.True(t, ok)
	require.Equal(t, []graph.Ref{graph.ValueNode(graph.KindDomainName, "good.example").Ref()}, basedOn(sink, good.Ref()))
}

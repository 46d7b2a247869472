package stix

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

func TestPatternObservables(t *testing.T) {
	t.Parallel()
	sha := "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	tests := []struct {
		name    string
		pattern string
		want    []graph.Node
	}{
		{"ipv4", "[ipv4-addr:value = '198.51.100.1']", []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.1")}},
		{"ipv4 cidr", "[ipv4-addr:value = '198.51.100.0/24']", []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.0/24")}},
		{"ipv6", "[ipv6-addr:value = '2001:db8::1']", []graph.Node{graph.ValueNode(graph.KindIPv6Addr, "2001:db8::1")}},
		{"quoted hash", "[file:hashes.'SHA-256' = '" + sha + "']", []graph.Node{graph.HashNode("SHA-256", sha)}},
		{"bare hash name", "[file:hashes.MD5 = 'D41D8CD98F00B204E9800998ECF8427E']", []graph.Node{graph.HashNode("MD5", "d41d8cd98f00b204e9800998ecf8427e")}},
		{"lower-case hash name", "[file:hashes.sha256 = '" + sha + "']", []graph.Node{graph.HashNode("SHA-256", sha)}},
		{"domain", "[domain-name:value = 'example.com']", []graph.Node{graph.ValueNode(graph.KindDomainName, "example.com")}},
		{"url with escapes", `[url:value = 'http://x.test/it\'s\\here']`, []graph.Node{graph.ValueNode(graph.KindURL, `http://x.test/it's\here`)}},
		{"email", "[email-addr:value = 'bad@example.com']", []graph.Node{graph.ValueNode(graph.KindEmailAddr, "bad@example.com")}},
		{"email sender", "[email-message:from_ref.value = 'bad@example.com']", []graph.Node{graph.ValueNode(graph.KindEmailAddr, "bad@example.com")}},
		{"email sender with a display name", "[email-message:from_ref.value = 'Bad Guy <bad@example.com>']", []graph.Node{graph.ValueNode(graph.KindEmailAddr, "bad@example.com")}},
		{"email reply-to (misp-stix's email-reply-to)", "[email-message:additional_header_fields.reply_to = 'reply.to@email.test']", []graph.Node{graph.ValueNode(graph.KindEmailAddr, "reply.to@email.test")}},
		{"email reply-to that is no address", "[email-message:additional_header_fields.reply_to = 'nobody']", nil},
		{"email address with a display name", "[email-addr:value = 'Bad Guy <bad@example.com>']", []graph.Node{graph.ValueNode(graph.KindEmailAddr, "bad@example.com")}},
		{"mutex", "[mutex:name = '__CLEANSWEEP__']", []graph.Node{graph.ValueNode(graph.KindMutex, "__CLEANSWEEP__")}},
		{"registry key", `[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\Foo']`, []graph.Node{mustObservable(t, "windows-registry-key", map[string]any{"key": `HKEY_LOCAL_MACHINE\Foo`})}},
		{"and", "[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e' AND file:name = 'x.exe']", []graph.Node{graph.HashNode("MD5", "d41d8cd98f00b204e9800998ecf8427e")}},
		{"or", "[domain-name:value = 'a.test' OR ipv4-addr:value = '203.0.113.9']",
			[]graph.Node{graph.ValueNode(graph.KindDomainName, "a.test"), graph.ValueNode(graph.KindIPv4Addr, "203.0.113.9")}},
		{"parenthesized and referenced", "[(domain-name:value = 'a.test' AND domain-name:resolves_to_refs[*].value = '203.0.113.9')]",
			[]graph.Node{graph.ValueNode(graph.KindDomainName, "a.test"), graph.ValueNode(graph.KindIPv4Addr, "203.0.113.9")}},
		{"network traffic refs", "[network-traffic:dst_ref.type = 'ipv4-addr' AND network-traffic:dst_ref.value = '203.0.113.9' AND network-traffic:dst_port = 443]",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "203.0.113.9")}},
		{"observation expressions and qualifiers",
			"[ipv4-addr:value = '203.0.113.1'] OR [domain-name:value = 'b.test'] FOLLOWEDBY [url:value = 'http://c.test/'] WITHIN 300 SECONDS START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "203.0.113.1"), graph.ValueNode(graph.KindDomainName, "b.test"), graph.ValueNode(graph.KindURL, "http://c.test/")}},
		{"repeats", "([ipv4-addr:value = '203.0.113.1'] AND [ipv4-addr:value = '203.0.113.2']) REPEATS 5 TIMES",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "203.0.113.1"), graph.ValueNode(graph.KindIPv4Addr, "203.0.113.2")}},
		{"in set", "[ipv4-addr:value IN ('203.0.113.1', '203.0.113.2')]",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "203.0.113.1"), graph.ValueNode(graph.KindIPv4Addr, "203.0.113.2")}},
		{"duplicates once", "[ipv4-addr:value = '203.0.113.1'] OR [ipv4-addr:value = '203.0.113.1']", []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "203.0.113.1")}},
		{"not equal skipped", "[ipv4-addr:value != '203.0.113.1']", nil},
		{"negated skipped", "[ipv4-addr:value NOT = '203.0.113.1']", nil},
		{"matches skipped", "[email-message:subject MATCHES '^Invoice']", nil},
		{"like skipped", "[domain-name:value LIKE '%.test']", nil},
		{"issubset skipped", "[ipv4-addr:value ISSUBSET '198.51.100.0/24']", nil},
		{"exists skipped", "[EXISTS windows-registry-key:values]", nil},
		{"not exists skipped", "[NOT EXISTS windows-registry-key:values]", nil},
		{"negated like skipped", "[domain-name:value NOT LIKE 'evil.example']", nil},
		{"negated in skipped", "[domain-name:value NOT IN ('evil.example', 'worse.example')]", nil},
		{"negated beside a comparison", "[domain-name:value = 'a.example' AND domain-name:value NOT = 'evil.example']",
			[]graph.Node{graph.ValueNode(graph.KindDomainName, "a.example")}},
		{"file name only gives a file node", "[file:name = 'x.exe' AND process:command_line = 'cmd']", []graph.Node{fileNamed(t, "x.exe")}},
		{"file name with hashes gives the hash", "[file:name = 'x.exe' AND file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427e']", []graph.Node{graph.HashNode("MD5", "d41d8cd98f00b204e9800998ecf8427e")}},
		{"mixed-case domain is one node", "[domain-name:value = 'Server-1.OstDownload.xyz.']", []graph.Node{graph.ValueNode(graph.KindDomainName, "server-1.ostdownload.xyz")}},
		{"url with a space kept", "[url:value = 'HTTP://Evil.Example/a b.php']", []graph.Node{graph.ValueNode(graph.KindURL, "http://evil.example/a b.php")}},
		{"file name with an excluded hash gives the file", "[file:name = 'x.exe' AND file:hashes.MD5 != 'd41d8cd98f00b204e9800998ecf8427e']", []graph.Node{fileNamed(t, "x.exe")}},
		{"file name with a negated hash gives the file", "[file:name = 'x.exe' AND file:hashes.MD5 NOT IN ('d41d8cd98f00b204e9800998ecf8427e')]", []graph.Node{fileNamed(t, "x.exe")}},
		{"certificate fingerprint", "[x509-certificate:hashes.'SHA-256' = 'AB:" + strings.Repeat("CD", 31) + "']",
			[]graph.Node{x509Node(t, "SHA-256", "ab"+strings.Repeat("cd", 31))}},
		{"nested path", "[email-message:body_multipart[*].body_raw_ref.name = 'x.exe']", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, invalid, err := patternObservables(tt.pattern)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Empty(t, invalid)
		})
	}
}

// fileNamed is the file node a MISP filename attribute gives.
func fileNamed(t *testing.T, name string) graph.Node {
	t.Helper()
	f, _, _ := graph.FileNode(nil, name)
	require.Equal(t, graph.KindFile, f.Kind)
	return f
}

func mustObservable(t *testing.T, typ string, obj map[string]any) graph.Node {
	t.Helper()
	n, ok := graph.ObservableNode(typ, obj)
	require.True(t, ok)
	return n
}

// TestPatternInvalidValues: a compared value that is no observable of its
// kind gives no node (it became a hash node "SHA-256:nothex" or an
// ipv4-addr node "not-an-ip", keyed as written), and is returned for a
// warning; the valid values of the same pattern still give theirs, and a
// file name compared beside an invalid hash gives the file node.
func TestPatternInvalidValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern string
		want    []graph.Node
		invalid []string
	}{
		{"[file:hashes.'SHA-256' = 'nothex']", nil, []string{"file:hashes.SHA-256 = nothex"}},
		{"[file:hashes.MD5 = 'd41d8cd98f00b204e9800998ecf8427']", nil, []string{"file:hashes.MD5 = d41d8cd98f00b204e9800998ecf8427"}},
		{"[ipv4-addr:value = 'not-an-ip'] OR [ipv4-addr:value = '203.0.113.9']",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "203.0.113.9")}, []string{"ipv4-addr:value = not-an-ip"}},
		{"[domain-name:value = 'a b.example']", nil, []string{"domain-name:value = a b.example"}},
		{"[file:name = 'x.exe' AND file:hashes.MD5 = 'zz']", []graph.Node{fileNamed(t, "x.exe")}, []string{"file:hashes.MD5 = zz"}},
		{"[ipv6-addr:value = '::ffff:192.0.2.1']", []graph.Node{graph.ValueNode(graph.KindIPv6Addr, "::ffff:192.0.2.1")}, nil},
		{"[ipv4-addr:value = '10.0.0.0/8']", []graph.Node{graph.ValueNode(graph.KindIPv4Addr, "10.0.0.0/8")}, nil},
	}
	for _, tt := range tests {
		got, invalid, err := patternObservables(tt.pattern)
		require.NoError(t, err, tt.pattern)
		require.Equal(t, tt.want, got, tt.pattern)
		var bad []string
		for _, v := range invalid {
			require.ErrorIs(t, v.err, graph.ErrInvalidValue)
			bad = append(bad, v.path+" = "+v.value)
		}
		require.Equal(t, tt.invalid, bad, tt.pattern)
	}
}

func TestPatternErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{
		"",
		"ipv4-addr:value = '1.2.3.4'",     // no brackets
		"[ipv4-addr:value = '1.2.3.4'",    // unbalanced
		"[ipv4-addr:value = '1.2.3.4]",    // unterminated string
		"[ipv4-addr:value = ]",            // no value
		"[ipv4-addr:value]",               // no operator
		"[[ipv4-addr:value = '1.2.3.4']]", // nested
		"([ipv4-addr:value = '1.2.3.4']",  // unbalanced parenthesis
		"[unconverted_term:example:observable-c534c948 AND x]",
		"{'pattern': 'yara'}",
		"[ipv4-addr:value IN ('1.2.3.4']",
		// NOT negates an operator, it cannot precede an object path
		"[NOT domain-name:value = 'evil.example']",
		"[domain-name:value = 'a.example' AND NOT domain-name:value = 'evil.example']",
		"NOT [domain-name:value = 'evil.example']",
		"[domain-name:value NOT NOT = 'evil.example']",
		"[domain-name:value FOO 'evil.example']",           // no such operator
		"[domain-name:value = 'a.example' 'evil.example']", // a stray value
		"[domain-name:value = 'a.example'] = 'evil.example'",
	} {
		_, _, err := patternObservables(p)
		require.ErrorIs(t, err, errPattern, "%q", p)
	}
}

// x509Node is the certificate node of a fingerprint, as a MISP
// x509-fingerprint-* attribute keys it.
func x509Node(t *testing.T, alg, h string) graph.Node {
	t.Helper()
	n, ok := graph.ObservableNode("x509-certificate", map[string]any{"hashes": map[string]any{alg: h}})
	require.True(t, ok)
	n.Name = alg + ":" + h
	n.Props = map[string]any{"hashes": map[string]any{alg: h}}
	return n
}

// TestPatternGraphOneFile: an observation expression that describes one
// file by name and hash, or by hashes of several algorithms, with AND
// alone, also gives that file (keyed as graph.FileNode keys a file object
// of those name and hashes) linked has-hash to its hash nodes; the rest is
// what patternObservables gives.
func TestPatternGraphOneFile(t *testing.T) {
	t.Parallel()
	const (
		md5 = "d41d8cd98f00b204e9800998ecf8427e"
		sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	)
	md5Node, shaNode := graph.HashNode("MD5", md5), graph.HashNode("SHA-256", sha)
	file := func(hashes map[string]string, name string) graph.Node {
		f, _, _ := graph.FileNode(hashes, name)
		return f
	}
	tests := []struct {
		name    string
		pattern string
		file    *graph.Node // the file described, first of the nodes
		rest    []graph.Node
	}{
		{"name and hash (CISA AIS)", "[(file:name = '123.ps1') AND file:hashes.'SHA-256' = '" + strings.ToUpper(sha) + "']",
			ptr(file(map[string]string{"SHA-256": sha}, "123.ps1")), []graph.Node{shaNode}},
		{"name, size and two hashes (misp-stix file object)", "[file:hashes.MD5 = '" + md5 + "' AND file:hashes.SHA256 = '" + sha + "' AND file:name = 'x.exe' AND file:size = '35']",
			ptr(file(map[string]string{"MD5": md5, "SHA-256": sha}, "x.exe")), []graph.Node{md5Node, shaNode}},
		{"two hashes", "[file:hashes.MD5 = '" + md5 + "' AND file:hashes.'SHA-256' = '" + sha + "']",
			ptr(file(map[string]string{"MD5": md5, "SHA-256": sha}, "")), []graph.Node{md5Node, shaNode}},
		{"IN of one value", "[file:name IN ('x.exe') AND file:hashes.MD5 = '" + md5 + "']",
			ptr(file(map[string]string{"MD5": md5}, "x.exe")), []graph.Node{md5Node}},
		{"file beside an address", "[file:name = 'x.exe' AND file:hashes.MD5 = '" + md5 + "'] AND [ipv4-addr:value = '203.0.113.9']",
			ptr(file(map[string]string{"MD5": md5}, "x.exe")), []graph.Node{md5Node, graph.ValueNode(graph.KindIPv4Addr, "203.0.113.9")}},
		{"or: separate things", "[file:name = 'x.exe' OR file:hashes.MD5 = '" + md5 + "']", nil, []graph.Node{md5Node}},
		{"or elsewhere in the observation", "[file:name = 'x.exe' AND file:hashes.MD5 = '" + md5 + "' OR file:hashes.'SHA-256' = '" + sha + "']",
			nil, []graph.Node{md5Node, shaNode}},
		{"separate observations", "[file:name = 'x.exe'] AND [file:hashes.MD5 = '" + md5 + "']", nil, []graph.Node{md5Node}},
		{"one hash alone", "[file:hashes.MD5 = '" + md5 + "']", nil, []graph.Node{md5Node}},
		{"name alone", "[file:name = 'x.exe' AND file:size = 35]", nil, []graph.Node{fileNamed(t, "x.exe")}},
		{"negated hash", "[file:name = 'x.exe' AND file:hashes.MD5 != '" + md5 + "']", nil, []graph.Node{fileNamed(t, "x.exe")}},
		{"two names", "[file:name = 'x.exe' AND file:name = 'y.exe' AND file:hashes.MD5 = '" + md5 + "']", nil, []graph.Node{md5Node}},
		{"IN of two hashes", "[file:name = 'x.exe' AND file:hashes.MD5 IN ('" + md5 + "', '" + strings.Repeat("a", 32) + "')]",
			nil, []graph.Node{md5Node, graph.HashNode("MD5", strings.Repeat("a", 32))}},
		{"invalid hash", "[file:name = 'x.exe' AND file:hashes.MD5 = 'zz']", nil, []graph.Node{fileNamed(t, "x.exe")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, rels, _, err := patternGraph(tt.pattern)
			require.NoError(t, err)
			obs, _, err := patternObservables(tt.pattern)
			require.NoError(t, err)
			require.Equal(t, tt.rest, obs)
			if tt.file == nil {
				require.Equal(t, obs, got)
				require.Empty(t, rels)
				return
			}
			require.Equal(t, append([]graph.Node{*tt.file}, tt.rest...), got)
			var want []graph.Relation
			for _, h := range tt.rest {
				if h.Kind == graph.KindHash {
					want = append(want, graph.Relation{Src: tt.file.Ref(), Type: graph.RelHasHash, Dst: h.Ref()})
				}
			}
			require.Equal(t, want, rels)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestPatternOneCertificate: an observation expression describing one
// certificate by two fingerprints, or by a fingerprint and its serial
// number, with AND alone, gives that one certificate: the node a STIX
// x509-certificate object with those hashes and serial number is (keyed by
// its deterministic id, over the preferred hash and the serial number),
// with every fingerprint in its props. Before, each fingerprint gave a
// certificate node of its own, the second one a certificate no object
// gives. An OR, separate observations or two values of one algorithm
// describe no one certificate: one node per fingerprint, as before.
func TestPatternOneCertificate(t *testing.T) {
	t.Parallel()
	const (
		sha1   = "fa3d5d670dc1d153b999c3aec7b1d815cc33c4dc"
		sha256 = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		md5    = "b2a5abfeef9e36964281a31e17b57c97"
	)
	sco := func(obj map[string]any) graph.Node {
		n, ok := graph.ObservableNode("x509-certificate", obj)
		require.True(t, ok)
		return n
	}
	one := func(alg, h string) graph.Node { // one fingerprint's node
		n, ok, err := comparedObservable("x509-certificate", "hashes."+alg, h)
		require.NoError(t, err)
		require.True(t, ok)
		return n
	}
	tests := []struct {
		name    string
		pattern string
		want    []graph.Node // by id
		props   map[string]any
	}{
		{"two fingerprints", "[x509-certificate:hashes.'SHA-1' = '" + sha1 + "' AND x509-certificate:hashes.'SHA-256' = '" + sha256 + "']",
			[]graph.Node{sco(map[string]any{"hashes": map[string]any{"SHA-1": sha1, "SHA-256": sha256}})},
			map[string]any{"hashes": map[string]any{"SHA-1": sha1, "SHA-256": sha256}}},
		{"fingerprints in colons, other order", "[x509-certificate:hashes.sha256 = '" + strings.ToUpper(sha256[:2]) + ":" + sha256[2:] + "' AND x509-certificate:hashes.sha1 = '" + sha1 + "']",
			[]graph.Node{sco(map[string]any{"hashes": map[string]any{"SHA-1": sha1}})}, nil},
		{"fingerprint and serial number", "[x509-certificate:hashes.'sha1' = '" + sha1 + "' AND x509-certificate:serial_number = '1234567890' AND x509-certificate:issuer = 'mr oui']",
			[]graph.Node{sco(map[string]any{"hashes": map[string]any{"SHA-1": sha1}, "serial_number": "1234567890"})},
			map[string]any{"hashes": map[string]any{"SHA-1": sha1}, "serial_number": "1234567890"}},
		{"beside an address", "[x509-certificate:hashes.MD5 = '" + md5 + "' AND x509-certificate:hashes.'SHA-1' = '" + sha1 + "'] AND [ipv4-addr:value = '203.0.113.9']",
			[]graph.Node{sco(map[string]any{"hashes": map[string]any{"MD5": md5}}), graph.ValueNode(graph.KindIPv4Addr, "203.0.113.9")}, nil},
		{"or: separate certificates", "[x509-certificate:hashes.'SHA-1' = '" + sha1 + "' OR x509-certificate:hashes.'SHA-256' = '" + sha256 + "']",
			[]graph.Node{one("SHA-1", sha1), one("SHA-256", sha256)}, nil},
		{"separate observations", "[x509-certificate:hashes.'SHA-1' = '" + sha1 + "'] AND [x509-certificate:hashes.'SHA-256' = '" + sha256 + "']",
			[]graph.Node{one("SHA-1", sha1), one("SHA-256", sha256)}, nil},
		{"two values of one algorithm", "[x509-certificate:hashes.'SHA-1' = '" + sha1 + "' AND x509-certificate:hashes.'SHA-1' = '" + strings.Repeat("a", 40) + "']",
			[]graph.Node{one("SHA-1", sha1), one("SHA-1", strings.Repeat("a", 40))}, nil},
		{"one fingerprint", "[x509-certificate:hashes.'SHA-256' = '" + sha256 + "']", []graph.Node{one("SHA-256", sha256)}, nil},
		{"serial number alone", "[x509-certificate:serial_number = '1234567890']", nil, nil},
		{"negated fingerprint", "[x509-certificate:hashes.'SHA-1' = '" + sha1 + "' AND x509-certificate:hashes.'SHA-256' != '" + sha256 + "']",
			[]graph.Node{one("SHA-1", sha1)}, nil},
		{"invalid second fingerprint", "[x509-certificate:hashes.'SHA-1' = '" + sha1 + "' AND x509-certificate:hashes.'SHA-256' = 'zz']",
			[]graph.Node{one("SHA-1", sha1)}, nil},
	}
	// The fingerprints patternGraph adds (graph.CertificateFingerprints):
	// the hash nodes each certificate has-hash, after the nodes compared.
	fingerprints := map[string][]string{
		"two fingerprints":                    {"SHA-1:" + sha1, "SHA-256:" + sha256},
		"fingerprints in colons, other order": {"SHA-1:" + sha1, "SHA-256:" + sha256},
		"fingerprint and serial number":       {"SHA-1:" + sha1},
		"beside an address":                   {"MD5:" + md5, "SHA-1:" + sha1},
		"or: separate certificates":           {"SHA-1:" + sha1, "SHA-256:" + sha256},
		"separate observations":               {"SHA-1:" + sha1, "SHA-256:" + sha256},
		"two values of one algorithm":         {"SHA-1:" + sha1, "SHA-1:" + strings.Repeat("a", 40)},
		"one fingerprint":                     {"SHA-256:" + sha256},
		"negated fingerprint":                 {"SHA-1:" + sha1},
		"invalid second fingerprint":          {"SHA-1:" + sha1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for i, f := range []func(string) ([]graph.Node, error){
				PatternObservables,
				func(p string) ([]graph.Node, error) { got, _, _, err := patternGraph(p); return got, err },
			} {
				got, err := f(tt.pattern)
				require.NoError(t, err)
				var ids, want []string
				for _, n := range got {
					ids = append(ids, string(n.Kind)+" "+n.Key)
				}
				for _, n := range tt.want {
					want = append(want, string(n.Kind)+" "+n.Key)
				}
				if i == 1 {
					for _, h := range fingerprints[tt.name] {
						want = append(want, "hash "+h)
					}
				}
				require.Equal(t, want, ids)
				for i := range tt.want {
					require.Equal(t, tt.want[i].ID, got[i].ID)
				}
				if tt.props != nil {
					require.Equal(t, tt.props, got[0].Props)
				}
			}
		})
	}
}

package graph_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestObservableKindsAreDistinctNodes: STIX's deterministic uuid hashes
// only {"value": ...}, so a url and a domain-name of the same value share
// it; their nodes must not.
func TestObservableKindsAreDistinctNodes(t *testing.T) {
	t.Parallel()
	u := graph.ValueNode(graph.KindURL, "evil.example")
	d := graph.ValueNode(graph.KindDomainName, "evil.example")
	require.NotEqual(t, u.ID, d.ID)
	o, ok := graph.ObservableNode("url", map[string]any{"value": "evil.example"})
	require.True(t, ok)
	require.Equal(t, u.ID, o.ID)
}

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Server-1.OstDownload.xyz":   "server-1.ostdownload.xyz",
		" server-1.ostdownload.xyz.": "server-1.ostdownload.xyz",
		"Bücher.Example":             "xn--bcher-kva.example",
		"xn--bcher-kva.example":      "xn--bcher-kva.example",
		"under_score.example":        "under_score.example",
		"bu\u0308cher.example":       "xn--bcher-kva.example", // NFD, as macOS writes text (UTS #46)
		"ｂücher。example":             "xn--bcher-kva.example", // full-width letter, ideographic full stop
		"straße.example":             "xn--strae-oqa.example", // non-transitional, as browsers
		"bü_cher.example":            "xn--b_cher-3ya.example",
	} {
		got, err := graph.NormalizeDomain(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", ".", "a..b", ".a", "a b.example", "http://x.example", "a\x00b", "evil\ufffd.example"} {
		_, err := graph.NormalizeDomain(bad)
		require.ErrorIs(t, err, graph.ErrInvalidValue, "%q", bad)
	}
	a := graph.ValueNode(graph.KindDomainName, "Server-1.OstDownload.xyz")
	b := graph.ValueNode(graph.KindDomainName, "server-1.ostdownload.xyz.")
	c, _ := graph.ObservableNode("domain-name", map[string]any{"type": "domain-name", "value": "SERVER-1.ostdownload.XYZ"})
	require.Equal(t, a.ID, b.ID)
	require.Equal(t, a.ID, c.ID)
	require.Equal(t, "server-1.ostdownload.xyz", c.Key)
}

func TestNormalizeURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"HTTP://Evil.Example/Path/X.php?A=B":            "http://evil.example/Path/X.php?A=B",
		" https://User:PW@Evil.Example:8443/a b/c.exe ": "https://User:PW@evil.example:8443/a b/c.exe",
		"Evil.Example/Some Path":                        "evil.example/Some Path",
		"hxxp://bad[.]example/x":                        "http://bad.example/x", // refanged (Refang)
		"HTTP://Bücher.Example./über uns":               "http://xn--bcher-kva.example/über uns",
		"http://Evil.Example.:8080/x":                   "http://evil.example:8080/x",
		"http://[2001:DB8::1]:443/x":                    "http://[2001:db8::1]:443/x",
		"http://198.51.100.7:80/x":                      "http://198.51.100.7/x", // the default port (RFC 3986, 6.2.3)
		"HTTPS://Evil.Example:443/Gate.php":             "https://evil.example/Gate.php",
		"https://[2001:DB8::1]:0443/x":                  "https://[2001:db8::1]/x",
		"http://evil.example:/x":                        "http://evil.example/x",
		"ftp://evil.example:21/x":                       "ftp://evil.example/x",
		"https://evil.example:80/x":                     "https://evil.example:80/x", // another scheme's default
		"http://User:443@evil.example/x":                "http://User:443@evil.example/x",
		"tcp://198.51.100.7:443":                        "tcp://198.51.100.7:443",
		"http://xn--bcher-kva.example/":                 "http://xn--bcher-kva.example/",
		"HTTP://Evil.Example":                           "http://evil.example/",
		"https://evil.example?q=1":                      "https://evil.example/?q=1",
		"https://evil.example:8443#top":                 "https://evil.example:8443/#top",
		"tcp://198.51.100.7:4444":                       "tcp://198.51.100.7:4444",
	} {
		got, err := graph.NormalizeURL(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "  ", "http://a\nb", "http://a\x00"} {
		_, err := graph.NormalizeURL(bad)
		require.ErrorIs(t, err, graph.ErrInvalidValue, "%q", bad)
	}
}

func TestNormalizeIP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		kind     graph.Kind
	}{
		{" 198.51.100.7 ", "198.51.100.7", graph.KindIPv4Addr},
		{"2001:DB8:0:0::1", "2001:db8::1", graph.KindIPv6Addr},
		{"::ffff:198.51.100.7", "198.51.100.7", graph.KindIPv4Addr},
		{"10.0.0.0/8", "10.0.0.0/8", graph.KindIPv4Addr},
		{"2001:db8::/32", "2001:db8::/32", graph.KindIPv6Addr},
	} {
		got, kind, err := graph.NormalizeIP(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		require.Equal(t, tc.kind, kind, tc.in)
	}
	for _, bad := range []string{"", "198.51.100", "1.2.3.4/40", "evil.example"} {
		_, _, err := graph.NormalizeIP(bad)
		require.ErrorIs(t, err, graph.ErrInvalidValue, "%q", bad)
	}
	require.Equal(t, graph.ValueNode(graph.KindIPv6Addr, "2001:db8::1").ID, graph.ValueNode(graph.KindIPv6Addr, "2001:0DB8::0001").ID)
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	got, err := graph.NormalizeEmail(" John.Doe@Evil.Example. ")
	require.NoError(t, err)
	require.Equal(t, "John.Doe@evil.example", got, "local part as written, domain normalised")
	for _, bad := range []string{"", "a@", "@b", "a b@c", "a@b..c", "Evil <not an address>", "a <b@c> <d@e>"} {
		_, err := graph.NormalizeEmail(bad)
		require.ErrorIs(t, err, graph.ErrInvalidValue, "%q", bad)
	}
}

// An address written with a display name, as mail headers give it (a
// STIX pattern's email-message:from_ref.value, a MISP email-src), is the
// address: before, "Bad Guy <bad@evil.example>" was a node of its own,
// which no feed naming bad@evil.example met.
func TestEmailWithADisplayNameIsTheAddress(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{
		"Bad Guy <Bad@Evil.Example>":     {"Bad@evil.example", "Bad Guy"},
		`"Doe, John" <john@example.org>`: {"john@example.org", "Doe, John"},
		"<jane@example.org>":             {"jane@example.org", ""},
		"jane@example.org":               {"jane@example.org", ""},
	} {
		addr, name, err := graph.ParseEmail(in)
		require.NoError(t, err, "%q", in)
		require.Equal(t, want, [2]string{addr, name}, "%q", in)
		got, err := graph.NormalizeEmail(in)
		require.NoError(t, err, "%q", in)
		require.Equal(t, want[0], got, "%q", in)
		require.Equal(t, graph.ValueNode(graph.KindEmailAddr, want[0]).ID, graph.ValueNode(graph.KindEmailAddr, in).ID, "%q", in)
	}
}

func TestNormalizeHash(t *testing.T) {
	t.Parallel()
	alg, h, err := graph.NormalizeHash("sha256", " E3B0C44298FC1C149AFBF4C8996FB924\r\n27AE41E4649B934CA495991B7852B855 ")
	require.NoError(t, err)
	require.Equal(t, "SHA-256", alg)
	require.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", h)
	for _, bad := range [][2]string{
		{"MD5", "d41d8cd98f00b204e9800998ecf8427"},    // 31 digits
		{"SHA-1", "d41d8cd98f00b204e9800998ecf8427e"}, // an MD5
		{"SHA-256", "zz"},
		{"MD5", ""},
		{"SSDEEP", "not ssdeep"},
	} {
		_, _, err := graph.NormalizeHash(bad[0], bad[1])
		require.ErrorIs(t, err, graph.ErrInvalidValue, "%v", bad)
	}
	_, _, err = graph.NormalizeHash("SSDEEP", "96:s4Ud1Lj96tHHlZDrwciQmA:s4Ud1Lj96tHHlZDrwciQmA")
	require.NoError(t, err)
	require.Equal(t, graph.HashNode("TLSH", "T1"+strings.Repeat("AB", 35)).ID, graph.HashNode("tlsh", "t1"+strings.Repeat("ab", 35)).ID)
	require.Equal(t, graph.HashNode("VHASH", "0150366D15").ID, graph.HashNode("vhash", "0150366d15").ID, "hex of any algorithm folds")
}

// TestFuzzyHashKeepsCase: ssdeep and impfuzzy hashes are base64, whose
// case is part of the value: they are stored as written (white space
// removed), and two that differ in case are two hashes.
func TestFuzzyHashKeepsCase(t *testing.T) {
	t.Parallel()
	const fuzzy = "3:a+JraNvsgzsVqSwHq9:tJuOgzsko"
	for _, alg := range []string{"ssdeep", "SSDEEP", "impfuzzy"} {
		_, h, err := graph.NormalizeHash(alg, " "+fuzzy+"\n")
		require.NoError(t, err)
		require.Equal(t, fuzzy, h, alg)
	}
	require.Equal(t, "SSDEEP:"+fuzzy, graph.HashNode("ssdeep", fuzzy).Key)
	require.NotEqual(t, graph.HashNode("SSDEEP", fuzzy).ID, graph.HashNode("SSDEEP", strings.ToLower(fuzzy)).ID)
	require.Equal(t, graph.HashNode("MD5", "D41D8CD98F00B204E9800998ECF8427E").ID, graph.HashNode("md5", "d41d8cd98f00b204e9800998ecf8427e").ID)
}

// TestAddressKindIsItsFamily: an IPv4-mapped IPv6 address, or an address
// under the other family's type, is the node of its own family's address,
// from a STIX object, a pattern or a MISP attribute alike.
func TestAddressKindIsItsFamily(t *testing.T) {
	t.Parallel()
	v4 := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
	for _, n := range []graph.Node{
		graph.ValueNode(graph.KindIPv6Addr, "::ffff:198.51.100.7"),
		graph.ValueNode(graph.KindIPv6Addr, "198.51.100.7"),
		must(graph.ObservableNode("ipv6-addr", map[string]any{"value": "::FFFF:198.51.100.7"})),
	} {
		require.Equal(t, v4, n)
	}
	v6 := graph.ValueNode(graph.KindIPv6Addr, "2001:db8::1")
	require.Equal(t, v6, graph.ValueNode(graph.KindIPv4Addr, "2001:0DB8:0:0::1"))
	require.Equal(t, graph.KindIPv6Addr, v6.Kind)
	// A block of one address is that address, from a pattern, a MISP
	// ip-dst or telemetry alike; a wider block stays a block.
	require.Equal(t, v4, graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7/32"))
	require.Equal(t, v4, graph.ValueNode(graph.KindIPv6Addr, "::ffff:198.51.100.7/128"))
	require.Equal(t, v6, graph.ValueNode(graph.KindIPv6Addr, "2001:db8::1/128"))
	require.Equal(t, "198.51.100.0/24", graph.ValueNode(graph.KindIPv4Addr, "198.51.100.0/24").Key)
	bad := graph.ValueNode(graph.KindIPv6Addr, "not an address")
	require.Equal(t, graph.KindIPv6Addr, bad.Kind, "a value that is no address keeps the kind it was given")
}

func must(n graph.Node, ok bool) graph.Node {
	if !ok {
		panic("no node")
	}
	return n
}

// TestNormalizeRegistryKey: the hive of a registry key is spelled in full,
// whatever abbreviation, case or kernel path a source writes, so that a
// MISP regkey (HKLM\...), a STIX windows-registry-key (HKEY_LOCAL_MACHINE\...)
// and an EDR's \REGISTRY\MACHINE\... are one node; the path stays as written.
func TestNormalizeRegistryKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`HKLM\Software\Run`:                      `HKEY_LOCAL_MACHINE\Software\Run`,
		`hklm\Software\Run`:                      `HKEY_LOCAL_MACHINE\Software\Run`,
		` HKEY_LOCAL_MACHINE\Software\Run\ `:     `HKEY_LOCAL_MACHINE\Software\Run`,
		`Hkey_Local_Machine\Software\Run`:        `HKEY_LOCAL_MACHINE\Software\Run`,
		`\REGISTRY\MACHINE\Software\Run`:         `HKEY_LOCAL_MACHINE\Software\Run`,
		`\Registry\User\S-1-5-21-1\Software\Run`: `HKEY_USERS\S-1-5-21-1\Software\Run`,
		`HKCU\Software\Microsoft`:                `HKEY_CURRENT_USER\Software\Microsoft`,
		`HKCR\.exe`:                              `HKEY_CLASSES_ROOT\.exe`,
		`HKU\.DEFAULT`:                           `HKEY_USERS\.DEFAULT`,
		`HKCC\System`:                            `HKEY_CURRENT_CONFIG\System`,
		`HKLM`:                                   `HKEY_LOCAL_MACHINE`,
		`Software\Run`:                           `Software\Run`,
		`HKLMX\Software`:                         `HKLMX\Software`,
		`\REGISTRY\MACHINEX\Software`:            `\REGISTRY\MACHINEX\Software`,
	} {
		require.Equal(t, want, graph.NormalizeRegistryKey(in), in)
	}
	misp, ok := graph.ObservableNode(string(graph.KindWindowsRegistryKey), map[string]any{"key": `HKLM\Software\Run`})
	require.True(t, ok)
	stix, ok := graph.ObservableNode(string(graph.KindWindowsRegistryKey), map[string]any{"key": `HKEY_LOCAL_MACHINE\Software\Run`})
	require.True(t, ok)
	require.Equal(t, stix.ID, misp.ID)
	require.Equal(t, `HKEY_LOCAL_MACHINE\SOFTWARE\RUN`, misp.Key, "keyed case-insensitively")
	require.Equal(t, `HKEY_LOCAL_MACHINE\Software\Run`, misp.Name, "named as written")
	// Windows compares key names case-insensitively: one key in any case.
	upper, ok := graph.ObservableNode(string(graph.KindWindowsRegistryKey), map[string]any{"key": `hkey_local_machine\SOFTWARE\run`})
	require.True(t, ok)
	require.Equal(t, stix.ID, upper.ID)
	other, ok := graph.ObservableNode(string(graph.KindWindowsRegistryKey), map[string]any{"key": `HKCU\Software\Run`})
	require.True(t, ok)
	require.NotEqual(t, stix.ID, other.ID, "another hive is another key")
}

// An autonomous system's number written as text ("64500", "AS64500", as
// some producers and MISP write it) is the integer STIX 2.1 (6.2) gives:
// the node of {"number": 64500}, named AS64500. Text that is no AS number
// keys as written.
func TestAutonomousSystemNumberAsText(t *testing.T) {
	t.Parallel()
	want, ok := graph.ObservableNode("autonomous-system", map[string]any{"number": float64(64500)})
	require.True(t, ok)
	require.Equal(t, "AS64500", want.Name)
	for _, v := range []any{"64500", " AS64500 ", "as64500", int64(64500)} {
		n, ok := graph.ObservableNode("autonomous-system", map[string]any{"number": v})
		require.True(t, ok, "%v", v)
		require.Equal(t, want.ID, n.ID, "%v", v)
		require.Equal(t, want.Key, n.Key, "%v", v)
		require.Equal(t, "AS64500", n.Name, "%v", v)
	}
	for _, bad := range []string{"", "AS", "4294967296", "-1", "64500.5", "AS 64500x"} {
		_, err := graph.ParseASNumber(bad)
		require.ErrorIs(t, err, graph.ErrInvalidValue, "%q", bad)
		n, ok := graph.ObservableNode("autonomous-system", map[string]any{"number": bad})
		if ok {
			require.NotEqual(t, want.ID, n.ID, "%q", bad)
		}
	}
}

// TestNormalizeWallet: bech32 and 0x addresses ignore case (one address in
// any case), base58 ones do not; white space inside is no address.
func TestNormalizeWallet(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		" 1E38kt7ryhbRXUzbam6iQ6sd93VHUUdjEE ":         "1E38kt7ryhbRXUzbam6iQ6sd93VHUUdjEE",
		"BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ":   "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
		"0x52908400098527886E0F7030069857D2E4169EE7":   "0x52908400098527886e0f7030069857d2e4169ee7",
		"44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7ot": "44AFFq5kSiGBoZ4NMDwYtN18obc8AemS33DBLWs3H7ot",
	} {
		got, err := graph.NormalizeWallet(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "  ", "not a wallet", strings.Repeat("1", 129)} {
		_, err := graph.NormalizeWallet(in)
		require.ErrorIs(t, err, graph.ErrInvalidValue, "%q", in)
	}
}

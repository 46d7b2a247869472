package graph

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// This file holds the one normaliser per observable kind. Every source
// (the STIX mapper for objects and patterns, the MISP mapper, the telemetry
// mapper) goes through them, directly or through ValueNode, ObservableNode,
// HashNode and FileNode, so that one value gives one node whatever feed it
// came from:
//
//   - domain-name: trimmed, lower case, one trailing dot stripped,
//     internationalized names in their ASCII (punycode) form;
//   - url: trimmed; scheme lower case, the host as a domain (above) when
//     it is one, else lower case, the scheme's default port (http 80,
//     https 443, ftp 21) left out; everything else as written (paths with
//     spaces, odd escapes and the like are real and kept);
//   - ipv4-addr, ipv6-addr: canonical form (net/netip), CIDR blocks too;
//     an IPv4-mapped IPv6 address is the IPv4 address;
//   - email-addr: the domain part normalised as a domain;
//   - hashes: the STIX algorithm name, lower-case hex without white space,
//     of the length the algorithm has (MD5 32 digits, SHA-1 40, ...).
//
// Domains, URLs, IP addresses and e-mail addresses are refanged first
// (Refang: "hxxp://evil[.]example" is http://evil.example/).
//
// The Normalize functions return an error wrapping ErrInvalidValue for a
// value that is no observable of the kind; the node constructors, which
// cannot fail, then key on the trimmed value as written.

// ErrInvalidValue marks a value that is not valid for its observable kind.
var ErrInvalidValue = errors.New("invalid observable value")

// MaxValueBytes bounds an observable value: its key goes into a unique
// index, and no real address, domain, URL or hash comes near it.
const MaxValueBytes = 2048

func invalidValue(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidValue, fmt.Sprintf(format, args...))
}

// shorten cuts s to at most n bytes on a rune boundary, for messages.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// domainBad are the characters no host name holds.
const domainBad = " \t\r\n/\\@?#\"'<>|,;:()[]{}"

// NormalizeDomain returns a domain or host name lower-cased, without its
// final dot, and in ASCII form when it is internationalized
// ("Bücher.Example." → "xn--bcher-kva.example"). Underscores and other
// characters real malware domains use are kept; white space, URL
// delimiters, empty labels and names over 253 bytes are errors.
func NormalizeDomain(v string) (string, error) {
	if !utf8.ValidString(v) {
		// Before ToLower, which would turn the bad bytes into U+FFFD.
		return "", invalidValue("domain name is not UTF-8")
	}
	v = Refang(KindDomainName, v)
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), ".")
	switch {
	case d == "":
		return "", invalidValue("empty domain name")
	case len(d) > 253*4:
		return "", invalidValue("domain name of %d bytes", len(d))
	case strings.ContainsAny(d, domainBad):
		return "", invalidValue("%q is not a domain name", shorten(v, 80))
	case strings.Contains(d, ".."), strings.HasPrefix(d, "."), strings.HasSuffix(d, "."):
		return "", invalidValue("%q has an empty label", shorten(v, 80))
	case !utf8.ValidString(d):
		return "", invalidValue("domain name is not UTF-8")
	}
	for _, r := range d {
		// U+FFFD stands for a character lost on the way (a NUL a JSON
		// decoder replaced, bytes a converter could not read): no name
		// holds it (IDNA 2008 disallows it), and punycode would make a
		// node of the garbage.
		if unicode.IsControl(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return "", invalidValue("%q is not a domain name", shorten(v, 80))
		}
	}
	if !isASCII(d) {
		// UTS #46 first, as browsers and resolvers read a name: NFC,
		// full-width forms and the ideographic full stop mapped
		// ("bu\u0308cher.example", "ｂücher。example" are bücher.example);
		// a name it refuses (a character IDNA disallows) is kept by
		// punycode alone, as before.
		a, err := idnaLookup.ToASCII(d)
		if err != nil {
			a, err = idna.Punycode.ToASCII(d)
		}
		if err != nil {
			return "", invalidValue("%q is not an internationalized domain name: %v", shorten(v, 80), err)
		}
		d = a
	}
	if d == "" || strings.Contains(d, "..") || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") {
		// The ASCII form can empty a label ("xn--" decodes to nothing).
		return "", invalidValue("%q has an empty label", shorten(v, 80))
	}
	if len(d) > 253 {
		return "", invalidValue("domain name of %d bytes", len(d))
	}
	return d, nil
}

// idnaLookup maps an internationalized name as UTS #46 processing for
// lookup does (non-transitional, as browsers do: ß stays ß), without the
// STD3 and hyphen rules, which real malware names (underscores, "--" in a
// label) break.
var idnaLookup = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false), idna.ValidateLabels(false))

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*$`)

// NormalizeURL returns a URL trimmed, with its scheme in lower case and its
// host normalised as a domain name when it is one (NormalizeDomain:
// "HTTP://Bücher.Example./x" → "http://xn--bcher-kva.example/x"), else in
// lower case, an empty HTTP(S) path as "/", and no port when it is the
// scheme's default (withoutDefaultPort: https://x.example:443/ is
// https://x.example/); the rest (user info, another port, path, query,
// fragment) stays as written,
// spaces and other oddities included: feeds carry such URLs verbatim
// (a malware's C2 path with a space) and a stricter parser would drop them.
// Errors: empty, longer than MaxValueBytes, not UTF-8, or holding a NUL or
// a line break.
func NormalizeURL(v string) (string, error) {
	u := strings.TrimSpace(Refang(KindURL, v))
	switch {
	case u == "":
		return "", invalidValue("empty URL")
	case len(u) > MaxValueBytes:
		return "", invalidValue("URL of %d bytes", len(u))
	case !utf8.ValidString(u):
		return "", invalidValue("URL is not UTF-8")
	case strings.ContainsAny(u, "\x00\r\n"):
		return "", invalidValue("URL %q holds a NUL or a line break", shorten(u, 80))
	}
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok || !urlScheme.MatchString(scheme) {
		// No scheme ("evil.example/x.php"): the host is what comes first.
		scheme, rest = "", u
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	host := authority
	userinfo := ""
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, host = authority[:at+1], authority[at+1:]
	}
	path := rest[end:]
	scheme = strings.ToLower(scheme)
	if (scheme == "http" || scheme == "https") && !strings.HasPrefix(path, "/") {
		// An empty path is "/" in HTTP (RFC 3986, 6.2.3): http://evil.example
		// and http://evil.example/ are one URL.
		path = "/" + path
	}
	out := userinfo + normalizeURLHost(withoutDefaultPort(scheme, host)) + path
	if scheme != "" {
		out = scheme + "://" + out
	}
	return out, nil
}

// defaultPorts are the ports of the schemes whose URLs name a server
// without one (RFC 3986, 6.2.3; RFC 9110, 4.2: http 80, https 443).
var defaultPorts = map[string]string{"http": "80", "https": "443", "ftp": "21"}

// withoutDefaultPort returns a URL's host[:port] without the port when it
// is empty or the scheme's default (RFC 3986, 6.2.3: "should omit the port
// component and its ':' delimiter if port is empty or if its value would
// be the same as that of the scheme's default"), so that
// https://evil.example:443/x and https://evil.example/x are one URL; any
// other port, and every port of another scheme, stays as written.
func withoutDefaultPort(scheme, hostport string) string {
	def, ok := defaultPorts[scheme]
	i := strings.LastIndexByte(hostport, ':')
	if !ok || i < 0 || (strings.Contains(hostport[:i], ":") && !strings.HasSuffix(hostport[:i], "]")) {
		// No port, or a bare IPv6 address's last group.
		return hostport
	}
	port := hostport[i+1:]
	if port == "" || strings.TrimLeft(port, "0") == def {
		return hostport[:i]
	}
	return hostport
}

// normalizeURLHost returns a URL's host[:port] with the host as
// NormalizeDomain gives it (lower case, final dot stripped, punycode) when
// it is a domain name, else lower-cased (an IP literal, a defanged
// "bad[.]example").
func normalizeURLHost(hostport string) string {
	host, port := hostport, ""
	if i := strings.LastIndexByte(hostport, ':'); i >= 0 && !strings.HasSuffix(hostport, "]") && !strings.Contains(hostport[:i], ":") {
		host, port = hostport[:i], hostport[i:]
	}
	if d, err := NormalizeDomain(host); err == nil && host != "" {
		return d + port
	}
	return strings.ToLower(hostport)
}

// NormalizeIP parses an IPv4 or IPv6 address or CIDR block and returns it
// in canonical form with its kind: 198.51.100.7 (ipv4-addr), 2001:db8::1
// (ipv6-addr), 10.0.0.0/8. An IPv4-mapped IPv6 address is its IPv4 address,
// and a block of one address (198.51.100.7/32, 2001:db8::1/128) is that
// address.
func NormalizeIP(v string) (string, Kind, error) {
	s := strings.TrimSpace(Refang(KindIPv4Addr, v))
	kindOf := func(a netip.Addr) Kind {
		if a.Is4() {
			return KindIPv4Addr
		}
		return KindIPv6Addr
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return "", "", invalidValue("%q is not an IP address or CIDR block", shorten(s, 80))
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		if p.IsSingleIP() {
			// A /32 or /128 block is one address: the address's node.
			return p.Addr().String(), kindOf(p.Addr()), nil
		}
		return p.String(), kindOf(p.Addr()), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", "", invalidValue("%q is not an IP address", shorten(s, 80))
	}
	a = a.Unmap()
	return a.String(), kindOf(a), nil
}

// NormalizeEmail checks local@domain and normalises the domain part
// (NormalizeDomain); the local part is kept as written. An address written
// with a display name ("Bad Guy <bad@evil.example>", "<bad@evil.example>")
// is the address (ParseEmail).
func NormalizeEmail(v string) (string, error) {
	addr, _, err := ParseEmail(v)
	return addr, err
}

// ParseEmail reads an e-mail address as mail headers, MISP and STIX
// patterns write it: local@domain, or with a display name ("Bad Guy
// <bad@evil.example>", RFC 5322, quoted names too). It returns the address,
// normalised as NormalizeEmail says, and the display name ("" when none).
func ParseEmail(v string) (addr, displayName string, err error) {
	e := strings.TrimSpace(Refang(KindEmailAddr, v))
	if strings.ContainsRune(e, '<') && len(e) <= 1024 {
		a, perr := mail.ParseAddress(e)
		if perr != nil {
			return "", "", invalidValue("%q is not an e-mail address: %v", shorten(e, 80), perr)
		}
		e, displayName = a.Address, strings.TrimSpace(a.Name)
	}
	addr, err = normalizeAddrSpec(e)
	if err != nil {
		return "", "", err
	}
	return addr, displayName, nil
}

// normalizeAddrSpec checks local@domain and normalises the domain part.
func normalizeAddrSpec(e string) (string, error) {
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 || len(e) > 320 || strings.ContainsAny(e, " \t\r\n<>\x00") || !utf8.ValidString(e) {
		return "", invalidValue("%q is not an e-mail address", shorten(e, 80))
	}
	d, err := NormalizeDomain(e[at+1:])
	if err != nil {
		return "", invalidValue("%q is not an e-mail address: %v", shorten(e, 80), err)
	}
	return e[:at] + "@" + d, nil
}

// NormalizeMAC returns a MAC address as lower-case colon-separated hex.
func NormalizeMAC(v string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(v))
	if err != nil {
		return "", invalidValue("%q is not a MAC address", shorten(v, 80))
	}
	return hw.String(), nil
}

// certSerialHex is a certificate serial number written as hex octets
// separated by colons (36:f7:d4:…, as STIX 2.1's example, openssl and
// MISP write it), or as hex digits that are not all decimal (0A1B2C).
var certSerialHex = regexp.MustCompile(`^(?:[0-9A-Fa-f]{1,2}(?::[0-9A-Fa-f]{1,2})+|[0-9A-Fa-f]*[A-Fa-f][0-9A-Fa-f]*)$`)

// normalizedSerial is a certificate's serial number trimmed, in lower
// case when it is hex (certSerialHex: hex digits have no case, so
// 0A:1B:2C and 0a:1b:2c are one serial); a decimal serial ("1234567890",
// as MISP's x509 object gives it) or another spelling is kept, colons
// too (a serial written 0a1b2c and 0a:1b:2c stays two spellings).
func normalizedSerial(s string) string {
	t := strings.TrimSpace(s)
	if certSerialHex.MatchString(t) {
		return strings.ToLower(t)
	}
	return t
}

// hashHexLen is the length in hex digits of the hashes whose algorithm
// fixes it (STIX algorithm names, as NormalizeHashAlgorithm gives them).
var hashHexLen = map[string]int{
	"MD5": 32, "SHA-1": 40, "SHA-224": 56, "SHA-256": 64, "SHA-384": 96, "SHA-512": 128,
	"SHA-512/224": 56, "SHA-512/256": 64, "SHA3-224": 56, "SHA3-256": 64, "SHA3-384": 96,
	"SHA3-512": 128, "IMPHASH": 32, "AUTHENTIHASH": 64, "PEHASH": 40, "CDHASH": 40,
}

var (
	hexDigits = regexp.MustCompile(`^[0-9a-f]+$`)
	ssdeepRE  = regexp.MustCompile(`^\d+:[^:\s]+:[^:\s]+(,.*)?$`)
	tlshRE    = regexp.MustCompile(`^(t1)?[0-9a-f]{70}$`)
)

// NormalizeHash returns the STIX name of the algorithm and the hash value
// without white space (line breaks inside a hash are a copy-and-paste
// accident), in lower case when it is hex (every fixed-length algorithm,
// TLSH, and any value of hex digits alone; an ssdeep or impfuzzy hash is
// base64, whose case is part of the value, and keeps it), checked for the
// algorithm: hex of the right
// length for MD5, SHA-1, SHA-256 and the other fixed-length hashes, the
// ssdeep and TLSH forms for those; other algorithms need only a value.
func NormalizeHash(algorithm, value string) (string, string, error) {
	alg := NormalizeHashAlgorithm(algorithm)
	h := strings.Join(strings.Fields(value), "")
	if _, fixed := hashHexLen[alg]; fixed || alg == "TLSH" || hexDigits.MatchString(strings.ToLower(h)) {
		// Hex digits are case-insensitive; the base64 of fuzzy hashes
		// (ssdeep, impfuzzy) is not, so those keep their case.
		h = strings.ToLower(h)
	}
	switch {
	case alg == "":
		return "", "", invalidValue("hash without an algorithm")
	case h == "":
		return "", "", invalidValue("empty %s hash", alg)
	case len(h) > MaxValueBytes:
		return "", "", invalidValue("%s hash of %d bytes", alg, len(h))
	case !utf8.ValidString(h) || strings.ContainsRune(h, 0):
		return "", "", invalidValue("%s hash is not text", alg)
	}
	if n, ok := hashHexLen[alg]; ok && (len(h) != n || !hexDigits.MatchString(h)) {
		return "", "", invalidValue("%q is not an %s hash (%d hex digits)", shorten(h, 80), alg, n)
	}
	switch {
	case alg == "SSDEEP" && !ssdeepRE.MatchString(h):
		return "", "", invalidValue("%q is not an ssdeep hash", shorten(h, 80))
	case alg == "TLSH" && !tlshRE.MatchString(h):
		return "", "", invalidValue("%q is not a TLSH hash", shorten(h, 80))
	}
	return alg, h, nil
}

// NormalizeValue normalises the value of a single-value observable kind:
// domain-name, url, ipv4-addr and ipv6-addr (an address of the other
// family is an error), email-addr, mac-addr. Other kinds (mutex, directory)
// are trimmed only.
func NormalizeValue(kind Kind, v string) (string, error) {
	switch kind {
	case KindDomainName:
		return NormalizeDomain(v)
	case KindURL:
		return NormalizeURL(v)
	case KindIPv4Addr, KindIPv6Addr:
		s, k, err := NormalizeIP(v)
		if err != nil {
			return "", err
		}
		if k != kind {
			return "", invalidValue("%q is an %s, not an %s", shorten(s, 80), k, kind)
		}
		return s, nil
	case KindEmailAddr:
		return NormalizeEmail(v)
	case KindMACAddr:
		return NormalizeMAC(v)
	case KindCryptocurrencyWallet:
		return NormalizeWallet(v)
	}
	s := strings.TrimSpace(v)
	switch {
	case s == "":
		return "", invalidValue("empty %s", kind)
	case len(s) > MaxValueBytes:
		return "", invalidValue("%s of %d bytes", kind, len(s))
	}
	return s, nil
}

// NormalizeWallet returns a cryptocurrency wallet address trimmed, and
// lower-cased where its encoding ignores case: a bech32 or bech32m address
// (bc1…, tb1…, ltc1…: BIP 173 makes lower case canonical and upper case
// the same address) and an Ethereum-style 0x address (EIP-55's mixed case
// is a checksum of one address). Base58 addresses (Bitcoin's 1… and 3…,
// Monero's 4… and 8…) are case-sensitive and kept as written. White space
// inside, and addresses over 128 bytes, are errors.
func NormalizeWallet(v string) (string, error) {
	s := strings.TrimSpace(v)
	switch {
	case s == "":
		return "", invalidValue("empty wallet address")
	case len(s) > 128:
		return "", invalidValue("wallet address of %d bytes", len(s))
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return "", invalidValue("%q is not a wallet address", shorten(s, 80))
	}
	l := strings.ToLower(s)
	for _, p := range []string{"bc1", "tb1", "bcrt1", "ltc1", "tltc1"} {
		if strings.HasPrefix(l, p) {
			return l, nil
		}
	}
	if len(s) == 42 && strings.HasPrefix(l, "0x") {
		return l, nil
	}
	return s, nil
}

// normalizedValue is NormalizeValue for the node constructors: the value
// as written (trimmed) when it does not normalise.
func normalizedValue(kind Kind, v string) string {
	if s, err := NormalizeValue(kind, v); err == nil {
		return s
	}
	return strings.TrimSpace(v)
}

// registryHives maps the spellings of a Windows registry hive (upper case)
// to its full name: the abbreviations MISP, Sysmon and analysts write
// (HKLM, HKCU, ...) and the kernel paths EDRs report (\REGISTRY\MACHINE).
var registryHives = map[string]string{
	"HKLM": "HKEY_LOCAL_MACHINE", "HKEY_LOCAL_MACHINE": "HKEY_LOCAL_MACHINE",
	"HKCU": "HKEY_CURRENT_USER", "HKEY_CURRENT_USER": "HKEY_CURRENT_USER",
	"HKCR": "HKEY_CLASSES_ROOT", "HKEY_CLASSES_ROOT": "HKEY_CLASSES_ROOT",
	"HKU": "HKEY_USERS", "HKEY_USERS": "HKEY_USERS",
	"HKCC": "HKEY_CURRENT_CONFIG", "HKEY_CURRENT_CONFIG": "HKEY_CURRENT_CONFIG",
	"HKPD": "HKEY_PERFORMANCE_DATA", "HKEY_PERFORMANCE_DATA": "HKEY_PERFORMANCE_DATA",
	`\REGISTRY\MACHINE`: "HKEY_LOCAL_MACHINE", `\REGISTRY\USER`: "HKEY_USERS",
}

// NormalizeRegistryKey returns a Windows registry key with its hive spelled
// in full, in upper case (HKLM\Software\x and hkey_local_machine\Software\x
// are HKEY_LOCAL_MACHINE\Software\x; the kernel path
// \REGISTRY\MACHINE\Software\x too), without surrounding blanks or a
// trailing backslash. The rest of the path is kept as written. A key whose
// first component is no hive is returned trimmed.
func NormalizeRegistryKey(k string) string {
	k = strings.TrimRight(strings.TrimSpace(k), `\`)
	upper := strings.ToUpper(k)
	for _, prefix := range []string{`\REGISTRY\MACHINE`, `\REGISTRY\USER`} {
		if upper == prefix || strings.HasPrefix(upper, prefix+`\`) {
			return registryHives[prefix] + k[len(prefix):]
		}
	}
	hive, rest, _ := strings.Cut(k, `\`)
	full, ok := registryHives[strings.ToUpper(hive)]
	if !ok {
		return k
	}
	if rest == "" && !strings.Contains(k, `\`) {
		return full
	}
	return full + `\` + rest
}

// RegistryKeyIdentity is the identity of a Windows registry key: the key
// with its hive spelled in full (NormalizeRegistryKey), all of it in upper
// case, as Windows compares key names (case-insensitively, by their upper
// case), so HKLM\Software\X and HKEY_LOCAL_MACHINE\SOFTWARE\x are one
// key. A key node is keyed by it and named by NormalizeRegistryKey, the
// path as written.
func RegistryKeyIdentity(k string) string {
	return strings.ToUpper(NormalizeRegistryKey(k))
}

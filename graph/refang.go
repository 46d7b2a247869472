package graph

import (
	"regexp"
	"strings"
)

// Defanged indicators: vendor reports, and the feeds made from them, write
// addresses so that nobody clicks them ("hxxp://evil[.]example/x",
// "198.51.100[.]7", "bad[at]evil[.]example"). Refang undoes the markers
// that are unambiguous, that is, that no value of the kind holds where they
// stand: brackets, parentheses and braces are no part of a host name, an
// address or an e-mail address, nor (bar an IPv6 literal) of a URL, and
// no URL scheme is "hxxp". The normalisers of those kinds (NormalizeDomain,
// NormalizeURL, NormalizeIP, ParseEmail) refang first, so a defanged value
// is the node of the value it stands for, from any source.

var (
	// dotMarkers are "." defanged: [.] (.) {.} [dot] (dot) {dot}.
	dotMarkers = regexp.MustCompile(`(?i)\[(?:\.|dot)\]|\((?:\.|dot)\)|\{(?:\.|dot)\}`)
	// bracketDots are the dot markers a URL's path may hold: only the
	// bracketed and braced ones, which RFC 3986 allows nowhere there;
	// parentheses are allowed, so "(.)" and "(dot)" in a path are kept.
	bracketDots = regexp.MustCompile(`(?i)\[(?:\.|dot)\]|\{(?:\.|dot)\}`)
	// atMarkers are "@" defanged, in e-mail addresses: [at] (at) {at} [@]
	// (@) {@}.
	atMarkers = regexp.MustCompile(`(?i)\[(?:at|@)\]|\((?:at|@)\)|\{(?:at|@)\}`)
	// urlStart is a URL's scheme and separator, either defanged:
	// hxxp://, hXXps://, fxp://, http[:]//, https[://], hxxp:[//].
	urlStart = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.\-]*)(\[:\]//|\[://\]|:\[//\]|://)`)
)

// defangedSchemes are the schemes defanged, by their lower-case form.
var defangedSchemes = map[string]string{"hxxp": "http", "hxxps": "https", "fxp": "ftp", "fxps": "ftps"}

// Refang returns v with its defang markers undone, for an observable of
// kind url, domain-name, ipv4-addr, ipv6-addr or email-addr: "[.]", "(.)",
// "{.}", "[dot]", "(dot)" and "{dot}" are "."; "[:]" is ":" (not in an
// e-mail address); "[at]", "(at)", "{at}", "[@]", "(@)" and "{@}" are "@"
// in an e-mail address; a URL's scheme "hxxp", "hxxps", "fxp" or "fxps"
// (any case) is http, https, ftp or ftps, and its separator "[:]//",
// "[://]" or ":[//]" is "://". In a URL, dot markers and "[:]" are undone
// in the host (and port); in the rest only the bracketed and braced dot
// markers, since parentheses are part of real paths. A value without
// markers, and any value of another kind, is returned as it is (not even
// trimmed); so is a value whose markers are nested, once undone.
func Refang(kind Kind, v string) string {
	switch kind {
	case KindURL, KindDomainName, KindIPv4Addr, KindIPv6Addr, KindEmailAddr:
	default:
		return v
	}
	if !mayBeDefanged(kind, v) {
		return v
	}
	s := strings.TrimSpace(v)
	// Undone until nothing changes: "[[.].]" is "[.]" after one round,
	// and the normal form of a value must be its own normal form.
	for range len(s) {
		r := refangOnce(kind, s)
		if r == s {
			break
		}
		s = r
	}
	if s == strings.TrimSpace(v) {
		return v
	}
	return s
}

// mayBeDefanged is a cheap test that v holds no marker, for the hot
// paths (telemetry normalises every endpoint).
func mayBeDefanged(kind Kind, v string) bool {
	if strings.ContainsAny(v, "[({") {
		return true
	}
	if kind != KindURL {
		return false
	}
	s := strings.TrimLeft(v, " \t\r\n")
	return len(s) >= 3 && (strings.EqualFold(s[:3], "hxx") || strings.EqualFold(s[:3], "fxp"))
}

func refangOnce(kind Kind, s string) string {
	switch kind {
	case KindDomainName, KindIPv4Addr, KindIPv6Addr:
		return strings.ReplaceAll(dotMarkers.ReplaceAllString(s, "."), "[:]", ":")
	case KindEmailAddr:
		return atMarkers.ReplaceAllString(dotMarkers.ReplaceAllString(s, "."), "@")
	}
	// A URL: scheme and separator, host[:port], rest.
	start := ""
	if m := urlStart.FindStringSubmatch(s); m != nil {
		scheme := m[1]
		if fanged, ok := defangedSchemes[strings.ToLower(scheme)]; ok {
			scheme = fanged
		}
		start, s = scheme+"://", s[len(m[0]):]
	}
	end := strings.IndexAny(s, "/?#")
	if end < 0 {
		end = len(s)
	}
	host := strings.ReplaceAll(dotMarkers.ReplaceAllString(s[:end], "."), "[:]", ":")
	return start + host + bracketDots.ReplaceAllString(s[end:], ".")
}

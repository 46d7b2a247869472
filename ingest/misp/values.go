package misp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/graph"
)

// maxValueBytes bounds the value of an observable: its key goes into a
// unique index, and no real address, domain, URL or hash comes near it.
const maxValueBytes = 2048

// errInvalid marks a value that is not valid for its attribute type.
var errInvalid = errors.New("invalid value")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// canonUUID returns a MISP uuid in canonical lower-case form, or "" when it
// is not a uuid: keys and aliases are made only of valid ones.
func canonUUID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 45 {
		return ""
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return ""
	}
	return u.String()
}

// normalizeIP parses an IPv4 or IPv6 address or CIDR block and returns it in
// canonical form with its family: 198.51.100.7, 2001:db8::1, 10.0.0.0/8.
func normalizeIP(v string) (value string, v6 bool, err error) {
	v = strings.TrimSpace(v)
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return "", false, invalid("%q is not an IP address or CIDR block", v)
		}
		return p.String(), p.Addr().Is6(), nil
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return "", false, invalid("%q is not an IP address", v)
	}
	return a.String(), a.Is6(), nil
}

// domainBad are the characters no host name holds.
const domainBad = " \t\r\n/\\@?#\"'<>|,;:()[]{}"

// normalizeDomain lower-cases a host or domain name and strips a final dot.
func normalizeDomain(v string) (string, error) {
	d := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(v)), ".")
	switch {
	case d == "":
		return "", invalid("empty domain name")
	case len(d) > 253:
		return "", invalid("domain name of %d bytes", len(d))
	case strings.ContainsAny(d, domainBad):
		return "", invalid("%q is not a domain name", v)
	case strings.Contains(d, ".."), strings.HasPrefix(d, "."):
		return "", invalid("%q has an empty label", v)
	}
	for _, r := range d {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return "", invalid("%q is not a domain name", v)
		}
	}
	return d, nil
}

// normalizeURL trims a URL and rejects white space and control characters
// inside it. The value is otherwise kept as written: the STIX id of a url
// is over its exact value.
func normalizeURL(v string) (string, error) {
	u := strings.TrimSpace(v)
	if u == "" {
		return "", invalid("empty URL")
	}
	if len(u) > maxValueBytes {
		return "", invalid("URL of %d bytes", len(u))
	}
	for _, r := range u {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", invalid("URL %q holds white space", truncate(u, 80))
		}
	}
	return u, nil
}

// normalizeEmail checks local@domain and lower-cases the domain part.
func normalizeEmail(v string) (string, error) {
	e := strings.TrimSpace(v)
	at := strings.LastIndexByte(e, '@')
	if at <= 0 || at == len(e)-1 || len(e) > 320 || strings.ContainsAny(e, " \t\r\n<>") {
		return "", invalid("%q is not an e-mail address", truncate(e, 80))
	}
	return e[:at] + "@" + strings.ToLower(e[at+1:]), nil
}

// normalizeMAC returns a MAC address as lower-case colon-separated hex.
func normalizeMAC(v string) (string, error) {
	hw, err := net.ParseMAC(strings.TrimSpace(v))
	if err != nil {
		return "", invalid("%q is not a MAC address", v)
	}
	return hw.String(), nil
}

// parsePort parses a TCP/UDP port number.
func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || p < 0 || p > 65535 {
		return 0, invalid("%q is not a port", v)
	}
	return p, nil
}

// parseASN parses "AS174", "as174" or "174".
func parseASN(v string) (int64, error) {
	s := strings.TrimSpace(v)
	if len(s) > 2 && strings.EqualFold(s[:2], "AS") {
		s = s[2:]
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, invalid("%q is not an AS number", v)
	}
	return int64(n), nil
}

// hashAlgorithms maps MISP hash attribute types to the STIX algorithm name
// of the hash node and the expected hex length (0: not hex, checked by a
// pattern or only for being non-empty).
var hashAlgorithms = map[string]struct {
	alg    string
	hexLen int
}{
	"md5":          {"MD5", 32},
	"sha1":         {"SHA-1", 40},
	"sha224":       {"SHA-224", 56},
	"sha256":       {"SHA-256", 64},
	"sha384":       {"SHA-384", 96},
	"sha512":       {"SHA-512", 128},
	"sha512/224":   {"SHA-512/224", 56},
	"sha512/256":   {"SHA-512/256", 64},
	"sha3-224":     {"SHA3-224", 56},
	"sha3-256":     {"SHA3-256", 64},
	"sha3-384":     {"SHA3-384", 96},
	"sha3-512":     {"SHA3-512", 128},
	"imphash":      {"IMPHASH", 32},
	"authentihash": {"AUTHENTIHASH", 64},
	"telfhash":     {"TELFHASH", 0},
	"ssdeep":       {"SSDEEP", 0},
	"tlsh":         {"TLSH", 0},
	"impfuzzy":     {"IMPFUZZY", 0},
	"pehash":       {"PEHASH", 40},
	"vhash":        {"VHASH", 0},
	"cdhash":       {"CDHASH", 40},
}

var (
	hexRE    = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	ssdeepRE = regexp.MustCompile(`^\d+:[^:\s]+:[^:\s]+(,.*)?$`)
	tlshRE   = regexp.MustCompile(`^(?i:t1)?[0-9a-fA-F]{70}$`)
)

// normalizeHash checks a hash value for its MISP type and returns the STIX
// algorithm name and the lower-case value.
func normalizeHash(misptype, v string) (alg, value string, err error) {
	h, ok := hashAlgorithms[misptype]
	if !ok {
		return "", "", invalid("unknown hash type %q", misptype)
	}
	// Line breaks inside a hash are a copy-and-paste accident (a real export
	// splits an ssdeep value with CRLF); no hash holds white space.
	raw := strings.Join(strings.Fields(v), "")
	value = strings.ToLower(raw)
	switch {
	case value == "":
		return "", "", invalid("empty %s", misptype)
	case len(value) > maxValueBytes:
		return "", "", invalid("%s of %d bytes", misptype, len(value))
	case h.hexLen > 0 && (len(value) != h.hexLen || !hexRE.MatchString(value)):
		return "", "", invalid("%q is not a %s (%d hex digits)", truncate(value, 80), misptype, h.hexLen)
	case misptype == "ssdeep" && !ssdeepRE.MatchString(value):
		return "", "", invalid("%q is not an ssdeep hash", truncate(value, 80))
	case misptype == "tlsh" && !tlshRE.MatchString(value):
		return "", "", invalid("%q is not a TLSH hash", truncate(value, 80))
	}
	if misptype == "ssdeep" {
		value = raw // ssdeep is base64: case matters
	}
	return h.alg, value, nil
}

// maxUnixTime is the largest unix time read (2514-05-30): MISP writes
// seconds, and a larger number is garbage or milliseconds.
const maxUnixTime = 1 << 34

// errBadTime marks a time that is present but cannot be used.
var errBadTime = errors.New("invalid timestamp")

// parseTime reads the time forms MISP writes (see parseTimeChecked); an
// absent or invalid time is the zero time.
func parseTime(v string) time.Time {
	t, _ := parseTimeChecked(v)
	return t
}

// parseTimeChecked reads the time forms MISP writes: unix seconds
// ("1455373240" or a number), RFC 3339 with or without fraction and zone,
// and dates. "", null and "0" are no time (the zero time, no error). A
// time that is present but unusable gives an error wrapping errBadTime:
// unparsable, a unix time not in 1 to 2^34 seconds ("1e999999", "-5"), or
// 0001-01-01T00:00:00Z, the zero time, which the graph reads as no time.
func parseTimeChecked(v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	if s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T ")) {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 1 || f > maxUnixTime {
			return time.Time{}, fmt.Errorf("%w: %q is not a unix time from 1 to %d seconds", errBadTime, truncate(s, 40), int64(maxUnixTime))
		}
		return time.Unix(int64(f), 0).UTC(), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.IsZero() {
				return time.Time{}, fmt.Errorf("%w: %s is the zero time, which the graph reads as no time", errBadTime, s)
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: %q is neither a unix time nor an RFC 3339 time or date", errBadTime, truncate(s, 40))
}

// seen orders a first/last seen pair by graph.Seen's rule (a single time
// stands for both, a reversed pair is swapped); two zero times stay zero,
// for the store to fill with the load time.
func seen(first, last time.Time) (time.Time, time.Time) {
	return graph.Seen(first, last, time.Time{})
}

// truncate shortens s to at most n bytes on a rune boundary, for logs and
// display names.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

package misp

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/stixid"
)

// maxValueBytes bounds the value of an observable: its key goes into a
// unique index, and no real address, domain, URL or hash comes near it.
const maxValueBytes = 2048

// errInvalid marks a value that is not valid for its attribute type.
var errInvalid = errors.New("invalid value")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errInvalid, fmt.Sprintf(format, args...))
}

// canonUUID returns a MISP uuid in canonical lower-case form
// (stixid.CanonicalUUID, the rule the UUIDs of STIX identifiers follow), or
// "" when it is not a uuid: keys and aliases are made only of valid ones,
// so a uuid is one whatever the case of its hex digits.
func canonUUID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 45 {
		return ""
	}
	u, _ := stixid.CanonicalUUID(s)
	return u
}

// The observable normalisers are graph's (one per kind, shared by every
// source); these wrap their errors as errInvalid.

func normalizeIP(v string) (value string, v6 bool, err error) {
	ip, kind, err := graph.NormalizeIP(v)
	if err != nil {
		return "", false, invalid("%v", err)
	}
	return ip, kind == graph.KindIPv6Addr, nil
}

func normalizeDomain(v string) (string, error) {
	d, err := graph.NormalizeDomain(v)
	if err != nil {
		return "", invalid("%v", err)
	}
	return d, nil
}

// normalizeURL keeps spaces and other oddities inside a URL (see
// graph.NormalizeURL): a real C2 URL may hold them.
func normalizeURL(v string) (string, error) {
	u, err := graph.NormalizeURL(v)
	if err != nil {
		return "", invalid("%v", err)
	}
	return u, nil
}

func normalizeMAC(v string) (string, error) {
	m, err := graph.NormalizeMAC(v)
	if err != nil {
		return "", invalid("%v", err)
	}
	return m, nil
}

// parsePort parses a TCP/UDP port number.
func parsePort(v string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || p < 0 || p > 65535 {
		return 0, invalid("%q is not a port", v)
	}
	return p, nil
}

// parseASN parses "AS174", "as174" or "174" (graph.ParseASNumber, the rule
// STIX's autonomous-system numbers take too).
func parseASN(v string) (int64, error) {
	n, err := graph.ParseASNumber(v)
	if err != nil {
		return 0, invalid("%v", err)
	}
	return int64(n), nil
}

// hashAlgorithms maps MISP hash attribute types to the STIX algorithm name
// of the hash node (graph.NormalizeHash checks the value for it).
var hashAlgorithms = map[string]string{
	"md5":          "MD5",
	"sha1":         "SHA-1",
	"sha224":       "SHA-224",
	"sha256":       "SHA-256",
	"sha384":       "SHA-384",
	"sha512":       "SHA-512",
	"sha512/224":   "SHA-512/224",
	"sha512/256":   "SHA-512/256",
	"sha3-224":     "SHA3-224",
	"sha3-256":     "SHA3-256",
	"sha3-384":     "SHA3-384",
	"sha3-512":     "SHA3-512",
	"imphash":      "IMPHASH",
	"authentihash": "AUTHENTIHASH",
	"telfhash":     "TELFHASH",
	"ssdeep":       "SSDEEP",
	"tlsh":         "TLSH",
	"impfuzzy":     "IMPFUZZY",
	"pehash":       "PEHASH",
	"vhash":        "VHASH",
	"cdhash":       "CDHASH",
}

// normalizeHash checks a hash value for its MISP type and returns the STIX
// algorithm name and the normalised value (graph.NormalizeHash).
func normalizeHash(misptype, v string) (alg, value string, err error) {
	h, ok := hashAlgorithms[misptype]
	if !ok {
		return "", "", invalid("unknown hash type %q", misptype)
	}
	alg, value, err = graph.NormalizeHash(h, v)
	if err != nil {
		return "", "", invalid("%s: %v", misptype, err)
	}
	return alg, value, nil
}

// maxUnixTime is the largest unix time read (2514-05-30): MISP writes
// seconds, and a larger number is garbage or milliseconds.
const maxUnixTime = 1 << 34

// minUnixMicro is the smallest whole number read as a unix time in
// microseconds (1973-03-03), far past maxUnixTime seconds: MISP's
// first_seen and last_seen are stored in microseconds, and its OpenAPI
// schema gives them so ("1581984000000000").
const minUnixMicro = 1e14

// errBadTime marks a time that is present but cannot be used.
var errBadTime = errors.New("invalid timestamp")

// parseTime reads the time forms MISP writes (see parseTimeChecked); an
// absent or invalid time is the zero time.
func parseTime(v string) time.Time {
	t, _ := parseTimeChecked(v)
	return t
}

// parseTimeChecked reads the time forms MISP writes: unix seconds
// ("1455373240" or a number), unix microseconds (a whole number from
// minUnixMicro: "1581984000000000", MISP's OpenAPI form of first_seen and
// last_seen), RFC 3339 with or without fraction and zone,
// the ISO 8601 forms other tools write (+0000, " UTC") and dates
// (graph.ParseTimestamp, the STIX loader's rule too). "", null and "0" are no time (the zero time, no error). A
// time that is present but unusable gives an error wrapping errBadTime:
// unparsable, a unix time not in 1 to 2^34 seconds ("1e999999", "-5"), or
// 0001-01-01T00:00:00Z, the zero time, which the graph reads as no time.
func parseTimeChecked(v string) (time.Time, error) {
	s := strings.TrimSpace(v)
	if s == "" || s == "0" {
		return time.Time{}, nil
	}
	if s[0] == '-' || s[0] == '+' || s[0] == '.' || (s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T ")) {
		if us, err := strconv.ParseInt(s, 10, 64); err == nil && us >= minUnixMicro && us <= maxUnixTime*1_000_000 {
			// Microseconds: MISP's own unit for first_seen and
			// last_seen (its database, its OpenAPI schema's
			// "1581984000000000"), as tools built on that schema
			// write them.
			return time.UnixMicro(us).UTC(), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || f < 1 || f > maxUnixTime {
			return time.Time{}, fmt.Errorf("%w: %q is not a unix time from 1 to %d seconds", errBadTime, truncate(s, 40), int64(maxUnixTime))
		}
		return time.Unix(int64(f), 0).UTC(), nil
	}
	if t, err := graph.ParseTimestamp(s); err == nil {
		if t.IsZero() {
			return time.Time{}, fmt.Errorf("%w: %s is the zero time, which the graph reads as no time", errBadTime, s)
		}
		return t, nil
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

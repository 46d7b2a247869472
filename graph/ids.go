package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/google/uuid"
)

// STIXNamespace is the UUIDv5 namespace of STIX 2.1 deterministic
// identifiers (STIX 2.1 section 2.9).
var STIXNamespace = uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7")

// Namespace is the UUIDv5 namespace of the ids of non-observable nodes
// (named objects, hashes, sightings): id = UUIDv5(Namespace, kind + "--" + key).
var Namespace = uuid.MustParse("7a3e6c2e-4a8f-5b8e-9a51-52616e736f6d")

// idContributing lists, per STIX cyber-observable type, the properties that
// contribute to its deterministic identifier (STIX 2.1, each SCO's "ID
// Contributing Properties"). Types not listed get no deterministic id.
var idContributing = map[string][]string{
	"artifact":             {"hashes", "payload_bin"},
	"autonomous-system":    {"number"},
	"directory":            {"path"},
	"domain-name":          {"value"},
	"email-addr":           {"value"},
	"email-message":        {"from_ref", "subject", "body"},
	"file":                 {"hashes", "name", "extensions", "parent_directory_ref"},
	"ipv4-addr":            {"value"},
	"ipv6-addr":            {"value"},
	"mac-addr":             {"value"},
	"mutex":                {"name"},
	"network-traffic":      {"start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"},
	"software":             {"name", "cpe", "swid", "vendor", "version"},
	"url":                  {"value"},
	"user-account":         {"account_type", "user_id", "account_login"},
	"windows-registry-key": {"key", "values"},
	"x509-certificate":     {"hashes", "serial_number"},
}

// hashPreference is the order in which one hash is chosen when "hashes"
// contributes to an id: the first algorithm present wins.
var hashPreference = []string{"MD5", "SHA-1", "SHA-256", "SHA-512"}

// HasDeterministicID reports whether the STIX type has ID-contributing
// properties, so its id can be computed.
func HasDeterministicID(stixType string) bool {
	_, ok := idContributing[stixType]
	return ok
}

// ObservableID computes the STIX 2.1 deterministic identifier of a
// cyber-observable object given as decoded JSON (numbers as json.Number or
// float64). It returns false when the type has no ID-contributing properties
// or the object has none of them (the specification then uses UUIDv4).
func ObservableID(stixType string, obj map[string]any) (uuid.UUID, bool) {
	contrib := ContributingProperties(stixType, obj)
	if contrib == nil {
		return uuid.Nil, false
	}
	return uuid.NewSHA1(STIXNamespace, Canonical(contrib)), true
}

// ContributingProperties returns the object's ID-contributing properties as
// the specification selects them (one hash, by preference, out of "hashes"),
// or nil when there are none.
func ContributingProperties(stixType string, obj map[string]any) map[string]any {
	props, ok := idContributing[stixType]
	if !ok {
		return nil
	}
	contrib := map[string]any{}
	for _, p := range props {
		v, ok := obj[p]
		if !ok || v == nil {
			continue
		}
		if p == "hashes" {
			hashes, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if chosen := chooseHash(hashes); chosen != nil {
				contrib[p] = chosen
			}
			continue
		}
		contrib[p] = v
	}
	if len(contrib) == 0 {
		return nil
	}
	return contrib
}

func chooseHash(hashes map[string]any) map[string]any {
	for _, alg := range hashPreference {
		if v, ok := hashes[alg]; ok {
			return map[string]any{alg: v}
		}
	}
	// No preferred algorithm: the specification leaves the choice open; take
	// the first in key order so the id is at least stable.
	keys := make([]string, 0, len(hashes))
	for k := range hashes {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	return map[string]any{keys[0]: hashes[keys[0]]}
}

// Canonical serializes a decoded JSON value as RFC 8785 (JCS) canonical
// JSON: object keys sorted by UTF-16 code units, no insignificant white
// space, no HTML escaping, numbers in their shortest form.
func Canonical(v any) []byte {
	var buf bytes.Buffer
	writeCanonical(&buf, v)
	return buf.Bytes()
}

func writeCanonical(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case string:
		writeString(buf, x)
	case json.Number:
		if f, err := x.Float64(); err == nil {
			writeNumber(buf, f)
		} else {
			buf.WriteString(x.String())
		}
	case float64:
		writeNumber(buf, x)
	case int:
		buf.WriteString(strconv.Itoa(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonical(buf, e)
		}
		buf.WriteByte(']')
	case []string:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, e)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			switch {
			case a == b:
				return 0
			case utf16Less(a, b):
				return -1
			}
			return 1
		})
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeCanonical(buf, x[k])
		}
		buf.WriteByte('}')
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		writeCanonical(buf, m)
	default:
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

// writeNumber writes f as RFC 8785 requires: the shortest decimal that
// round-trips, formatted as ECMAScript's Number.prototype.toString does
// (plain notation for magnitudes from 1e-6 up to 1e21, otherwise an
// exponent such as 1e+21 or 1.5e-7; -0 is 0).
func writeNumber(buf *bytes.Buffer, f float64) {
	if f == 0 {
		buf.WriteByte('0')
		return
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		buf.WriteString("null") // not representable in JSON
		return
	}
	if f < 0 {
		buf.WriteByte('-')
		f = -f
	}
	// Shortest round-trip digits and exponent: d.ddde±x.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expText, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expText)
	k, n := len(digits), exp+1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		buf.WriteString(digits)
		buf.WriteString(strings.Repeat("0", n-k))
	case 0 < n && n <= 21:
		buf.WriteString(digits[:n])
		buf.WriteByte('.')
		buf.WriteString(digits[n:])
	case -6 < n && n <= 0:
		buf.WriteString("0.")
		buf.WriteString(strings.Repeat("0", -n))
		buf.WriteString(digits)
	default:
		buf.WriteString(digits[:1])
		if k > 1 {
			buf.WriteByte('.')
			buf.WriteString(digits[1:])
		}
		buf.WriteByte('e')
		if n-1 >= 0 {
			buf.WriteByte('+')
		}
		buf.WriteString(strconv.Itoa(n - 1))
	}
}

// writeString writes s as an RFC 8785 string: only '"', '\\' and control
// characters are escaped (\b \f \n \r \t, others as \u00xx); everything
// else, U+2028 and U+2029 included, is written as UTF-8. Invalid UTF-8
// becomes U+FFFD.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[r>>4])
			buf.WriteByte(hex[r&0xf])
		default:
			buf.WriteRune(r) // utf8.RuneError for invalid bytes
		}
	}
	buf.WriteByte('"')
}

// utf16Less orders strings by their UTF-16 code units, as RFC 8785 sorts
// member names, without converting them (invalid UTF-8 counts as U+FFFD).
func utf16Less(a, b string) bool {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			a1, a2 := utf16.EncodeRune(ra)
			b1, b2 := utf16.EncodeRune(rb)
			if a1 == utf8.RuneError { // not a surrogate pair: one unit
				a1, a2 = ra, -1
			}
			if b1 == utf8.RuneError {
				b1, b2 = rb, -1
			}
			if a1 != b1 {
				return a1 < b1
			}
			return a2 < b2
		}
		a, b = a[na:], b[nb:]
	}
	return a == "" && b != ""
}

// NamedID is the id of a node that is not a STIX observable: a UUIDv5 over
// its kind and key, so every source naming the same key meets in one node.
func NamedID(kind Kind, key string) uuid.UUID {
	return uuid.NewSHA1(Namespace, []byte(string(kind)+"--"+key))
}

var (
	spaces  = regexp.MustCompile(`\s+`)
	cveID   = regexp.MustCompile(`(?i)^CVE-\d{4}-\d{4,}$`)
	attckID = regexp.MustCompile(`^(T\d{4}(\.\d{3})?|[GSCM]\d{4}|TA\d{4})$`)
)

// NormalizeName is the merge key of a named object: trimmed, white space
// collapsed, lower-cased.
func NormalizeName(name string) string {
	return strings.ToLower(spaces.ReplaceAllString(strings.TrimSpace(name), " "))
}

// IsCVE reports whether s is a CVE id such as CVE-2021-44228.
func IsCVE(s string) bool { return cveID.MatchString(strings.TrimSpace(s)) }

// IsATTACKID reports whether s is a MITRE ATT&CK id (technique T1059 or
// T1059.001, tactic TA0001, group G0007, software S0001, campaign C0001,
// mitigation M1036).
func IsATTACKID(s string) bool { return attckID.MatchString(strings.TrimSpace(s)) }

// attackSuffix is the " - G0007" ATT&CK id that MISP galaxies and
// MISP's STIX exports append to names ("APT16 - G0023").
var attackSuffix = regexp.MustCompile(`\s+-\s+((?:T\d{4}(?:\.\d{3})?)|(?:TA|[GSMC])\d{4})\s*$`)

// SplitATTACKSuffix splits "APT16 - G0023" into "APT16" and "G0023"; a name
// without such a suffix comes back trimmed, with an empty id.
func SplitATTACKSuffix(name string) (string, string) {
	name = strings.TrimSpace(name)
	if m := attackSuffix.FindStringSubmatchIndex(name); m != nil {
		return strings.TrimSpace(name[:m[0]]), name[m[2]:m[3]]
	}
	return name, ""
}

// NamedKey returns the merge key of a named object of kind with the given
// name and external ids (CVE ids, ATT&CK ids from external_references):
//   - vulnerability: the CVE id (upper case) when the name or an external id
//     is one, else the normalized name;
//   - attack-pattern: the ATT&CK technique id when one is given (technique
//     names repeat across ATT&CK domains), else the normalized name;
//   - every other kind: the normalized name.
//
// A trailing ATT&CK id in the name ("APT16 - G0023") is not part of the key:
// it counts as an external id, so the name merges with ATT&CK's own "APT16".
func NamedKey(kind Kind, name string, externalIDs ...string) string {
	name, suffix := SplitATTACKSuffix(name)
	if suffix != "" {
		externalIDs = append(externalIDs, suffix)
	}
	switch kind {
	case KindVulnerability:
		if IsCVE(name) {
			return strings.ToUpper(strings.TrimSpace(name))
		}
		for _, id := range externalIDs {
			if IsCVE(id) {
				return strings.ToUpper(strings.TrimSpace(id))
			}
		}
	case KindAttackPattern:
		for _, id := range externalIDs {
			if strings.HasPrefix(id, "T") && IsATTACKID(id) {
				return id
			}
		}
	}
	return NormalizeName(name)
}

// HashKey is the key of a hash node: the algorithm in STIX spelling
// (MD5, SHA-1, SHA-256, SHA-512, SSDEEP, TLSH, ...) and the lower-case value,
// e.g. "SHA-256:e3b0c442...".
func HashKey(algorithm, value string) string {
	return NormalizeHashAlgorithm(algorithm) + ":" + strings.ToLower(strings.TrimSpace(value))
}

// NormalizeHashAlgorithm maps the spellings feeds use (sha256, SHA256,
// 'SHA-256', sha-1) to the STIX hash algorithm names.
func NormalizeHashAlgorithm(alg string) string {
	a := strings.ToUpper(strings.Trim(strings.TrimSpace(alg), `'"`))
	switch strings.ReplaceAll(a, "-", "") {
	case "MD5":
		return "MD5"
	case "SHA1":
		return "SHA-1"
	case "SHA224":
		return "SHA-224"
	case "SHA256":
		return "SHA-256"
	case "SHA384":
		return "SHA-384"
	case "SHA512":
		return "SHA-512"
	case "SHA3256":
		return "SHA3-256"
	case "SHA3512":
		return "SHA3-512"
	}
	return a
}

// Ref names a relationship endpoint: a source identifier as a feed wrote it
// (a STIX id "malware--…", a MISP uuid with a prefix), resolved through the
// node aliases, or a node id written by NodeRef.
type Ref = string

// NodeRef is the Ref of a node known by id rather than by a source
// identifier.
func NodeRef(id uuid.UUID) Ref { return "node--" + id.String() }

// ParseNodeRef returns the node id of a Ref made by NodeRef.
func ParseNodeRef(ref Ref) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(ref, "node--")
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}

// STIXID returns "type--uuid", the STIX identifier form.
func STIXID(stixType string, id uuid.UUID) string {
	return fmt.Sprintf("%s--%s", stixType, id)
}

package graph

import (
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// Namespace is the UUIDv5 namespace of the ids of non-observable nodes
// (named objects, hashes, sightings): id = UUIDv5(Namespace, kind + "--" + key).
var Namespace = uuid.MustParse("7a3e6c2e-4a8f-5b8e-9a51-52616e736f6d")

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

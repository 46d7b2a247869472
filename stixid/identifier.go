package stixid

import (
	"strings"

	"github.com/google/uuid"
)

// ParseID splits a STIX identifier "<type>--<uuid>": a type part of no
// upper-case letter (STIX 2.1 section 2.7 allows only a-z, 0-9 and
// hyphens; a type is never folded, so "MALWARE--…" is no identifier) and a
// UUID part in its 36-character 8-4-4-4-12 form, hex digits of either case
// (RFC 4122: case-insensitive on input).
func ParseID(s string) (typ string, id uuid.UUID, ok bool) {
	i := strings.Index(s, "--")
	if i <= 0 || len(s)-i-2 != 36 {
		return "", uuid.Nil, false
	}
	typ = s[:i]
	for j := 0; j < len(typ); j++ {
		if 'A' <= typ[j] && typ[j] <= 'Z' {
			return "", uuid.Nil, false
		}
	}
	id, err := uuid.Parse(s[i+2:])
	if err != nil {
		return "", uuid.Nil, false
	}
	return typ, id, true
}

// CanonicalID returns the canonical spelling of a STIX identifier, the one
// identifiers are compared and stored in: the type part as written (it has
// no upper-case letter, see ParseID), the UUID part lower-case (RFC 4122: lower case on output), so
// "malware--ABCDEF00-…" and "malware--abcdef00-…" are one identifier. It
// returns s unchanged and false when s is not a STIX identifier (ParseID),
// and s itself, without allocating, when it is canonical already.
func CanonicalID(s string) (string, bool) {
	typ, u, ok := ParseID(s)
	if !ok {
		return s, false
	}
	if !strings.ContainsAny(s[len(typ)+2:], "ABCDEF") {
		return s, true
	}
	return STIXID(typ, u), true
}

// CanonicalUUID returns a UUID in RFC 4122's canonical form, lower-case
// 8-4-4-4-12 (from any form uuid.Parse reads: braces, urn:uuid:, 32
// digits), and false when s is not a UUID. It is the rule CanonicalID
// applies to the UUID part of a STIX identifier, for the bare UUIDs feeds
// give (MISP).
func CanonicalUUID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

package stixid

import (
	"fmt"
	"sort"

	"github.com/google/uuid"
)

// STIXNamespace is the UUIDv5 namespace of STIX 2.1 deterministic
// identifiers (STIX 2.1 section 2.9).
var STIXNamespace = uuid.MustParse("00abedb4-aa42-466c-9c01-fed23315a9b7")

// idContributing lists, per STIX cyber-observable type, the properties that
// contribute to its deterministic identifier (STIX 2.1, each SCO's "ID
// Contributing Properties"). Types not listed get no deterministic id.
var idContributing = map[string][]string{
	"artifact":          {"hashes", "payload_bin"},
	"autonomous-system": {"number"},
	// OpenCTI's own observable type (its STIX extension SCO), whose ids
	// OpenCTI derives from its value as STIX does a url's.
	"cryptocurrency-wallet": {"value"},
	"directory":             {"path"},
	"domain-name":           {"value"},
	"email-addr":            {"value"},
	"email-message":         {"from_ref", "subject", "body"},
	"file":                  {"hashes", "name", "extensions", "parent_directory_ref"},
	"ipv4-addr":             {"value"},
	"ipv6-addr":             {"value"},
	"mac-addr":              {"value"},
	"mutex":                 {"name"},
	"network-traffic":       {"start", "end", "src_ref", "dst_ref", "src_port", "dst_port", "protocols", "extensions"},
	"software":              {"name", "cpe", "swid", "vendor", "version"},
	"url":                   {"value"},
	"user-account":          {"account_type", "user_id", "account_login"},
	"windows-registry-key":  {"key", "values"},
	"x509-certificate":      {"hashes", "serial_number"},
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

// STIXID returns "type--uuid", the STIX identifier form.
func STIXID(stixType string, id uuid.UUID) string {
	return fmt.Sprintf("%s--%s", stixType, id)
}

// Package stixid computes STIX 2.1 deterministic identifiers (section 2.9:
// a UUIDv5 in the STIX namespace over the canonical JSON of an observable's
// ID-contributing properties) and writes RFC 8785 (JCS) canonical JSON, the
// serialisation those identifiers hash. It takes decoded JSON and returns
// UUIDs; it knows nothing of the graph or the database.
//
// It also owns the spelling of identifiers: ParseID reads "<type>--<uuid>",
// and CanonicalID is the one rule by which identifiers from feeds are
// compared and stored (the UUID part lower-case, RFC 4122; the type part
// never folded), CanonicalUUID the same rule for a bare UUID (MISP).
package stixid

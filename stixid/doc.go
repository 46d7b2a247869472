// Package stixid computes STIX 2.1 deterministic identifiers (section 2.9:
// a UUIDv5 in the STIX namespace over the canonical JSON of an observable's
// ID-contributing properties) and writes RFC 8785 (JCS) canonical JSON, the
// serialisation those identifiers hash. It takes decoded JSON and returns
// UUIDs; it knows nothing of the graph or the database.
package stixid

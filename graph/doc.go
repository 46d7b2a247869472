// Package graph is the threat graph's domain model: Node, Relation,
// Sighting, TelemetryEdge, the node kinds, Ref, TLP, the deterministic node
// ids, and Merge — the merge contract written once. It imports no database
// package; package store writes and reads these types in PostgreSQL.
//
// Identity is decided here and nowhere else. Observables (addresses, domains,
// URLs, files, ...) get the STIX 2.1 deterministic identifier (package
// stixid: a UUIDv5 in the STIX namespace over the canonical JSON of the
// type's ID-contributing properties), so the same observable from a STIX feed, a MISP feed or an
// agent is one node. File hashes are nodes of their own (kind "hash"), so a
// file, an indicator pattern and a MISP attribute that name the same SHA-256
// meet there. Named objects (malware, intrusion sets, threat actors, tools,
// vulnerabilities, ...) are keyed by a normalized name or external id
// (CVE-2021-44228, T1059.001).
//
// Every identifier a source used (a STIX id, a MISP uuid) is kept as an alias
// of the node it maps to, and relationships name their endpoints by such
// references (see Ref), so a relationship whose endpoint has not arrived yet
// is kept pending and resolved when it does.
//
// Every relation type has a class (ClassOf): intelligence, containment,
// provenance or lifecycle. A walk (RelatedOptions) follows intelligence and
// containment by default, provenance on request, lifecycle only when named.
package graph

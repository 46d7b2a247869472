// Package graph is the threat graph's domain model: Node, Relation,
// Sighting, TelemetryEdge, the node kinds, Ref, TLP, the deterministic node
// ids, and Merge — the merge contract written once. It imports no database
// package; package store writes and reads these types in PostgreSQL.
//
// Identity is decided here and nowhere else. Every observable value goes
// through the one normaliser of its kind (normalize.go: domains, URLs, IPs,
// e-mail addresses, MAC addresses, hashes), whichever source names it.
// Observables (addresses, domains, URLs, files, ...) then get an id derived
// from their STIX 2.1 deterministic identifier (package stixid: a UUIDv5 in
// the STIX namespace over the canonical JSON of the type's ID-contributing
// properties; ObservableID hashes it with the type, so a url and a
// domain-name of one value are two nodes), so the same observable from a
// STIX feed, a MISP feed or an agent is one node. File hashes are nodes of
// their own (kind "hash"), so a file, an indicator pattern and a MISP
// attribute that name the same SHA-256 meet there. Named objects (malware,
// intrusion sets, threat actors, tools, campaigns, attack patterns,
// vulnerabilities, ...) are keyed by their ATT&CK or CVE id first
// (NamedKey: S0606, G0007, T1059.001, CVE-2021-44228), else a normalized
// name; threat actors and intrusion sets share one id space (one actor
// entity). Lookup aliases (NameAlias, ExternalIDAlias, TacticAlias) let a
// name, an alias or an ATT&CK id find an entity keyed otherwise, and
// lifecycle marks (Lifecycle: revoked, deprecated) rank a withdrawn record
// below every live one; a node or relation any of whose records is
// withdrawn keeps the mark, and walks leave it out. A reference to a revoked object resolves to its
// replacement (RelRevokedBy; Resolution says what was followed); a name
// alias (IsNameAlias) that two entities with ids of their own claim is
// ambiguous (AmbiguousAlias), never merged. A named object keyed by its
// name gives its names as NameUses: the store makes it the one entity with
// an id that claims them, if exactly one does (Resolution.SameAs,
// NodeDetails.Entity), order-independently. Relationship records keep the
// ids their feed gave them (Relation.IDs, RelationRecord).
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

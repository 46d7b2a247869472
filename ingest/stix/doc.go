// Package stix loads STIX 2.0 and 2.1 threat-intelligence feeds into the
// threat graph.
//
// # Reading
//
// Load reads a feed token by token (github.com/go-json-experiment/json's
// jsontext decoder) and never holds it whole. A feed may be a bundle (its
// "objects" array may come before or after "type", "id" and
// "spec_version"), a bare JSON array of objects, a single bare object, or
// NDJSON — one object or one bundle per line — in any mix (see Errors for
// how NDJSON is told from a document). A record is one element of a
// bundle's "objects" or of a top-level array, or one top-level object. At
// most a bounded number of records are in memory at once (a few chunks of up
// to 256 records or 1 MiB per worker), and a record larger than
// Options.MaxRecordBytes (64 MiB by default) is skipped without being
// buffered whole: the decoder's input is cut off at the limit, the rest of
// the record is scanned past, and decoding resumes behind it. A record
// nested deeper than Options.MaxDepth (1,000 levels from the top of the
// feed) is dropped as engine.ReasonTooDeep, the deep value skipped in
// constant memory, and runs of white space are squeezed before the decoder
// sees them (ingest/internal/jsonguard), so memory stays within the record
// limit whatever the feed holds.
//
// Records go through the engine (package engine): they are decoded and
// mapped by Options.Workers goroutines (1 unless the caller passes tuning's
// figure, as the CLI does) and batched in feed order, so the batches
// written do not depend on the number of workers, and all the records one
// object maps to (its node with its aliases, the nodes it implies and its
// relations) go to the sink in the same batch.
//
// # Errors
//
// A record that is valid JSON but not valid STIX is dropped alone: it is
// logged at WARN with the feed name, record index, byte offset, id and
// reason, and counted in the report's Dropped under one of the Reason*
// constants here or the shared ones of package engine. Checked are what
// every STIX object has: type and id ("<type>--<uuid>", the type
// matching; an identifier whose type part has an upper-case letter, such
// as "MALWARE--…", is no STIX identifier, see Identifiers; an id that is a
// UUID alone, as ThreatConnect's TAXII 2.1 server writes its indicators,
// is read as "<type>--<uuid>" of the object's type, with a warning), timestamps (RFC 3339; modified not before created, last_seen
// not before first_seen, ...), the JSON types of
// the common properties (labels, confidence 0-100 but a cyber-observable's,
// which is no STIX property, created_by_ref,
// object_marking_refs, external_references, granular_markings, extensions,
// name), and what a relationship (relationship_type, source_ref, target_ref
// as STIX identifiers) and a sighting (sighting_of_ref) cannot do without.
// A reference that is not a STIX identifier elsewhere (an unconverted STIX 1
// id in object_refs) is kept in props and logged at WARN, and the object
// loads.
//
// A JSON syntax error, a truncated feed or a read error makes the rest of
// the feed unreadable: Load stops with an *engine.OffsetError (wrapping
// engine.ErrSyntax or engine.ErrRead) that names the byte offset, after
// writing everything before it.
//
// NDJSON is the exception: there a line that is not valid JSON (a
// truncated object, garbage, stray text after a value, bytes that are not
// UTF-8 outside a string, an unterminated string) is dropped alone, logged at
// WARN with its line number and byte offset and counted under
// engine.ReasonInvalidJSON, and reading goes on with the next line; the records
// of a bundle line before the point where it breaks are kept. The reader
// tells NDJSON from a document by the top-level values it has read: once it
// has read one that lay on a single line (the first line of an NDJSON feed,
// or a whole one-line bundle), it reads every later top-level value as an
// NDJSON line, which must end on the line it starts on. The bytes of a bad
// line are scanned to the next newline, never buffered whole. A line holding
// nothing but the '{' or '[' that opens a value starts a pretty-printed
// document, which is read as such, so pretty-printed JSON after NDJSON lines
// still loads. A syntax error in the first top-level value — inside a
// single bundle or array, pretty-printed or on one line, or in the first
// line of an NDJSON feed, which cannot be told from a one-line bundle — or
// in a value after a multi-line one stops the load as before. Invalid UTF-8
// inside strings is no error anywhere: its bytes are read as Windows-1252
// (textenc.RepairString), which Windows tools that do not write UTF-8
// almost always mean, so "M\xe4rz" and "M\xfcrz" stay two names ("März",
// "Mürz") instead of both becoming "M\uFFFDrz".
//
// # Identifiers
//
// Identifiers are compared case-insensitively in their UUID part and
// stored lower-case: before an object is validated, its id, every value of
// a property named *_ref or *_refs at any depth (relationship source_ref
// and target_ref, sighting_of_ref, where_sighted_refs,
// observed_data_refs, object_refs, created_by_ref, object_marking_refs,
// granular markings' marking_ref, references inside extensions and STIX
// 2.0 observed-data objects) and the keys of extensions dictionaries are
// rewritten to their canonical spelling (stixid.CanonicalID: UUID hex
// digits lower-case, as RFC 4122 prints them and python-stix2 and OpenCTI
// read them). So a relationship naming "malware--abcdef00-…" reaches the
// object whose id is "malware--ABCDEF00-…", a predefined TLP marking named
// in upper case counts, and an observable's deterministic id is the same
// whatever the case of the references it is computed over (unchanged for
// lower-case input). The type part is not folded: STIX 2.1 allows only
// lower-case types, and "MALWARE--…" is no STIX identifier (an object with
// it is dropped as ReasonInvalidID, a relationship or sighting naming it
// as ReasonInvalidReference, and elsewhere it stays in props, as any
// reference that is not a STIX identifier does).
//
// # Mapping
//
// Every object becomes graph records; every object's STIX id becomes an
// alias of its node, so relationships naming the id resolve to it. So do
// the other STIX ids OpenCTI lists for it (x_opencti_stix_ids, or stix_ids
// in OpenCTI's extension: the ids of copies merged into it, by which
// OpenCTI deduplicates), and a relationship's are its relation ids: what
// another feed names by an old id reaches the object. A copy another feed
// defines under the old id and another name shares that source id with the
// object, as a renamed object's versions do (its older version).
//
//   - Cyber-observable objects (ipv4-addr, domain-name, url, file, ...) become
//     nodes with the id of their STIX 2.1 deterministic id
//     (graph.ObservableNode: values normalised as every source normalises
//     them, then UUIDv5 over the ID-contributing properties, then
//     graph.ObservableID with the type), whatever id the feed used, so the
//     same observable from any feed is one node. A reference among those
//     properties (a network-traffic's src_ref and dst_ref, an
//     email-message's from_ref, a file's parent_directory_ref) counts as
//     what the object it names resolves to, that object's deterministic
//     id, not as the id the feed made up for it: the loader keys such an
//     observable once the feed has given the objects it names, in any
//     order, or at the end of the feed (loader.rekey). A defanged value, whether
//     the object says so ("defanged": true) or not, is the node of the
//     value refanged (graph.Refang: "198.51.100[.]7", "hxxp://…" read as
//     198.51.100.7, http://…), its props keeping the value as written;
//     so is a defanged value a pattern compares. A value that is
//     no value of its kind (ipv4-addr "999.1.1.1") is logged at WARN and
//     keyed as written, since other objects name the object. A
//     network-traffic's start and end count as the instant they name and
//     its ports as integers ("…55.000000Z" is "…55Z", "443" is 443), and a
//     file that gives a hash counts without its extensions (a PE header
//     describes the content its hashes name), so one flow or file of any
//     producer is one node (graph.ObservableNode). Types without
//     ID-contributing properties (process) are keyed by their id. Files,
//     artifacts and certificates also get one hash node per hash
//     (graph.HashNode; a certificate's fingerprints, colons allowed),
//     linked file -has-hash-> hash, certificate -has-hash-> hash.
//   - malware, intrusion-set, threat-actor, tool, campaign and attack-pattern
//     key on their ATT&CK id (from external references of ATT&CK itself, not
//     CAPEC's mappings to it, or an id of their kind the name carries:
//     in brackets ending it, as CISA's AIS advisories name attack patterns
//     "Credential Access - Steal Web Session Cookie [T1539]", or leading
//     it, "T1190 - Exploit Public-Facing Application": graph.NameATTACKID),
//     else their normalized
//     name; vulnerability on
//     its CVE id (name or external_references) (graph.NamedNode). A live
//     ATT&CK-keyed object carries its name, aliases and x_mitre_aliases as
//     lookup aliases (graph.NameAlias); an alias two entities of the feed
//     claim is reported (WARN "ambiguous alias"), never merged, and the
//     store records every claim (alias_claims), across feeds too.
//   - A relationship keeps its STIX id (graph.Relation.IDs; the store's
//     relation_ids), so a later object naming the relationship finds it.
//     A revoked or deprecated relationship gets props "lifecycle" as an
//     object does, which withdraws the relation: walks do not follow it.
//   - Every object's ATT&CK ids are lookup aliases ("mitre-attack:S0606").
//     A revoked ("revoked": true) or deprecated ("x_mitre_deprecated": true,
//     or CAPEC's "x_capec_status": "Deprecated" or "Obsolete": objectLifecycle)
//     object gets props "lifecycle": "revoked" or "deprecated", ranks below
//     any live record of the same entity and claims no name alias; the two
//     count as booleans also as the strings "true"/"false" (any case). An
//     object's own property named "lifecycle" (or another graph.IsReservedProp
//     key) is kept under graph.SourcePropKey ("x_source_lifecycle"), with a
//     warning: it marks nothing. An ATT&CK
//     kill_chain_phases entry links the object to its tactic (relation
//     "tactic" to the alias graph.TacticAlias, which the x-mitre-tactic
//     carries for each of its x_mitre_domains); so does a MITRE ATLAS
//     entry (kill chain "mitre-atlas", whose tactics name mitre-atlas in
//     their external_references).
//   - What an object states through its own properties (embedded
//     references, kill chain phases, pattern observables, a sighting's and
//     an observed-data's links) it states in its version, its modified time
//     (graph.Node.Versions, graph.Relation.StatedBy): a newer version of
//     the object that no longer states a link supersedes it (store,
//     migration 00030). A relationship object states its own link in its
//     version: a newer version of it that changed its relationship_type,
//     source_ref or target_ref supersedes the older version's link, and
//     the relationship id names the newest version's ends (relation_ids).
//   - An indicator's STIX pattern gives the observables it compares for
//     equality; a file:name compared without any file hash gives the file
//     node of that name (as a MISP filename attribute does).
//   - Every other object — indicator, report, note, opinion, grouping,
//     observed-data, identity, location, course-of-action, infrastructure,
//     incident, malware-analysis, marking-definition, extension-definition,
//     and any custom (x-...) or extension-defined type (OpenCTI's
//     case-incident, case-rfi, case-rft, task, feedback, channel,
//     narrative, data-source, data-component, ...) — is a node of that
//     kind keyed by its STIX id (graph.SourceNode); a container's
//     object_refs are object relations (see embedded references below).
//     A location that is a country and nothing narrower
//     (graph.LocationCountry: "France", {"country": "fr"}) is the
//     country's node instead, keyed by its ISO 3166-1 alpha-2 code
//     (graph.CountryNode), its names and codes lookup aliases
//     (mapLocation).
//     A report or grouping labelled misp:tool="…" (a MISP event as
//     misp-stix or MISP's misp2stix2 exports it, the event's uuid in its
//     id) is the MISP event's node instead: kind report, keyed
//     "misp--<uuid>" as ingest/misp keys the event, its STIX id an alias.
//   - relationship becomes a graph.Relation from source_ref to target_ref typed
//     by relationship_type in STIX's spelling (graph.RelationType: lower
//     case, words written with spaces or underscores joined by hyphens, as
//     Cortex XSOAR's "related to" is related-to). One relation stands for every
//     relationship object with the same source, type and target, so the
//     relationship's created and modified are not kept (the times are
//     folded into first/last seen) and its ids are the relation's IDs
//     (see above); its other properties are the relation's props.
//   - sighting becomes a graph.Sighting: a sighting node linked sighting-of,
//     where-sighted and observed. An OpenCTI negative sighting
//     ("x_opencti_negative": true, or "negative" in OpenCTI's extension) is
//     a false positive: linked false-positive-of, counted as no sighting.
//     A sighting whose sighting_of_ref is OpenCTI's placeholder indicator
//     (indicator--c1034564-…, which its connectors write for a sighting of
//     an observable or another object) is of its x_opencti_sighting_of_ref,
//     as OpenCTI's worker reads it; the placeholder stays in props.
//   - A TAXII 2.1 envelope (no "type", an "objects" array) is read as a
//     bundle; one without objects (an empty page, {"more": false}) is a
//     bundle of no objects: like an empty bundle, it counts no record and
//     no drop. A bundle or envelope read as one record (an
//     element of an array, a line of NDJSON) counts its objects as the
//     records, and a bad object of it is dropped alone, as one of a
//     top-level bundle is.
//   - OpenCTI's hostname and x-opencti-hostname observables, and the
//     hostname object of a pattern, are domain-names keyed by value
//     (graph.ProducerObservableKind), as MISP's hostname attribute is, so
//     one host name from both producers is one node.
//   - A cryptocurrency-wallet (OpenCTI's observable, its value;
//     stix2extensions', its address) and misp-stix's x-misp-attribute of
//     x_misp_type btc, xmr or dash are one wallet node keyed by the address
//     (graph.NormalizeWallet), as MISP's attribute of that type is.
//   - An object keyed by its id that has no name but a "value" (a
//     producer's own observable type: OpenCTI's text, user-agent,
//     ...) is named by the value; one with neither
//     by the property its producer shows it by (OpenCTI's bank-account
//     iban or account_number, payment-card card_number, media-content
//     title or url, persona persona_name; a malware-analysis's result_name
//     or product). The objects STIX lets go without a name are named as
//     OpenCTI shows them: a location by its city, administrative area,
//     country or region (else its coordinates), an indicator by its
//     pattern, a note by its abstract or content, an opinion by its
//     opinion; an autonomous-system without a name is "AS<number>"
//     (graph.ObservableNode), as MISP names it. Bare UUIDs in
//     x_opencti_* properties and OpenCTI's extensions are OpenCTI internal
//     ids: kept in props without a warning.
//   - Embedded references become relations from the node: every property
//     named *_ref or *_refs (at any depth, extensions included) gives one
//     relation per STIX identifier, typed by the property name without the
//     suffix, underscores as hyphens: created_by_ref → created-by,
//     object_refs → object, sample_refs → sample, parent_directory_ref →
//     parent-directory, src_ref → src, resolves_to_refs → resolves-to.
//     A reference to a relationship object (an edge, not a node: a report's
//     or note's object_refs naming relationship--…) is a relation to that id,
//     which the store links to both ends of the relationship once it is
//     known (PendingRelationExpand), the ends of its newest version (a
//     newer version naming other ends moves the links). Values that are
//     not STIX identifiers
//     stay in props.
//   - Markings are TLP, not relations: object_marking_refs and the
//     marking_ref of granular markings that name the predefined TLP 1.0
//     (STIX 2.0/2.1) or TLP 2.0 marking definitions (and OpenCTI's fixed id of
//     TLP:AMBER+STRICT, marking-definition--826578e1-…), or a TLP marking
//     definition of the feed, give the node's TLP (the strictest of them;
//     TLP:WHITE is clear); a relationship's goes into its props as tlp. A
//     marking defined after objects that name it marks them when it is
//     read (a record of the TLP alone for each, at most 262,144 kept per
//     load). Other marking references stay in props as object_marking_refs.
//   - Indicators with a STIX pattern (pattern_type stix, or none as in STIX
//     2.0) are linked indicator -based-on-> to the observables the pattern
//     compares for equality (= or IN, not negated), across all observation
//     expressions and whatever joins them: ipv4-addr, ipv6-addr,
//     domain-name, url, email-addr, mac-addr values, mutex names, directory
//     paths, registry keys, autonomous systems, file or artifact hashes
//     as hash nodes (also one compared through a reference:
//     process:binary_ref.hashes.MD5, email-message:body_multipart[*].
//     body_raw_ref.hashes.MD5), and certificate fingerprints (x509-certificate
//     hashes) as the certificate node a MISP x509-fingerprint-* gives; a
//     certificate an observation expression describes by two fingerprints
//     or more, or by a fingerprint and its serial number, with AND alone,
//     is that one certificate, the node an x509-certificate object of those
//     hashes and serial number gives, its fingerprints in its props
//     (describedCertificates; also for stix.PatternObservables). Every
//     certificate of a pattern is linked has-hash to its fingerprints' hash
//     nodes, which the indicator is based on too (patternGraph,
//     graph.CertificateFingerprints): a certificate known by one
//     fingerprint and one known by two are two nodes, as their STIX
//     deterministic ids make them, that meet at the fingerprint. A
//     file an observation expression describes by its name and a hash, or
//     by hashes of several algorithms, with AND alone
//     ([(file:name = '123.ps1') AND file:hashes.'SHA-256' = '…']) is also
//     that file, the node a file object of those name and hashes gives,
//     linked has-hash to its hash nodes (patternGraph). Other pattern
//     languages (snort, yara, sigma, ...) stay in props only.
//   - STIX 2.0 observed-data with an "objects" dictionary: each embedded
//     object becomes a node as if it were a STIX 2.1 SCO (references between
//     them rewritten to 2.1 identifiers before the id is computed), linked
//     observed-data -object->; the 2.0 and 2.1 exports of the same data give
//     the same nodes.
//   - Nodes take labels, confidence (not a cyber-observable's, embedded
//     or not: STIX gives them none, so a producer's "confidence" there, as
//     stix-shifter's x-crowdstrike detection confidence, stays in props),
//     first and last seen (the earliest and
//     latest of created, modified, first_seen, last_seen, first_observed,
//     last_observed, valid_from, start_time, stop_time and published; the Unix
//     epoch and 5138-11-16T09:46:40Z, OpenCTI's sentinels for an unknown time,
//     are no time and only stay in props) and the
//     feed name as source; nodes derived from an object (observables of a
//     pattern, hashes of a file, embedded observables) take its times and
//     TLP. An object with none of those times (a STIX 2.1 SCO) leaves them
//     zero, which the Store reads as the time of writing, unless a STIX
//     2.1 observed-data names it in object_refs: it was observed then, and
//     gets the observed-data's times, as the objects a 2.0 observed-data
//     embeds do, in whichever order the two come in the feed (a record of
//     its times alone, graph.NodeBrief.SeenRecord; the load remembers up
//     to 65,536 SCOs and as many references waiting for one). A relationship's
//     first and last seen are its start_time and stop_time where given
//     (when the relationship held, STIX 2.1 section 3.2; created and
//     modified are about the object), a sighting's its first_seen and
//     last_seen, each falling back to the rule above when absent. Every other
//     property, custom x_ ones included, is kept in props.
//
// # Report
//
// Load returns an engine.Report: records read, mapped and dropped (by
// reason), nodes, relations and sightings sent to the sink, what the sink
// did with them, bytes, duration and MB/s.
package stix

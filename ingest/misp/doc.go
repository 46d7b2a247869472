// Package misp loads MISP threat intelligence — events, REST search output,
// feed directories, galaxies and galaxy cluster files — into the threat
// graph by streaming it.
//
// # Reading
//
// The input is read token by token with jsontext. What is held in memory is
// one record per worker (an attribute, an object with its attributes and
// references, a galaxy, a galaxy cluster) and the small members of the
// event around it; a record larger than Options.MaxRecordBytes (64 MiB by
// default) or nested deeper than Options.MaxDepth (1,000 levels) is cut
// short, skipped in constant memory and dropped with a WARN (too-large,
// too-deep), and so is an event member that is; runs of white space are
// squeezed before the decoder sees them. An event of any size therefore streams:
// its attributes are mapped and written while the rest of it is read.
//
// Accepted shapes, at any nesting the REST API produces: a single event
// wrapped ({"Event": {…}}) or bare ({"info": …, "Attribute": […]}), REST
// search output ({"response": […]} of events, of {"Object": …} or of
// {"Attribute": […]}: an attribute or object search result is linked from the event
// it names in "Event" (uuid, info) or event_uuid, as the event's own file
// links it), a bare array of events (events/index gives one, each
// event's tags in "EventTag" rows, {"Tag": {"name": …}}, read as its Tag
// list; an object with an "Event" member is that event's wrapper, not an
// event, also with an Orgc beside it as a ZMQ misp_json_event message
// gives it; the Orgc and the tags of an EventTag list beside the event are
// the event's creator and tags, except tags read after an event holding
// attributes or objects was written, which are said at WARN, not
// applied), a galaxy in API form
// ({"GalaxyCluster": […]}), a galaxy cluster file ({"type": …, "values":
// […]}; the type must precede the values, as misp-galaxy writes it) and a
// galaxy definition (no records). A list of attributes, objects,
// sightings or event reports written as an object of indexed entries
// ({"0": {…}, "2": {…}}: MISP's PHP after removing entries, as an
// attribute search with enforceWarninglist gives it) is read as the list
// of its entries. Feed directories (manifest.json and one
// <uuid>.json per event) are read by LoadDir; ReadManifest, Manifest.Changed
// and Options.Only let a feed manager load only the events whose manifest
// timestamp changed. hashes.csv is not read. Nothing outside a feed
// directory is read: its files are opened through os.Root, non-blocking,
// and only when they are regular files (OpenFile), so a symbolic link
// out of the directory, a FIFO or a device is refused unread
// (ReasonUnsafeEventFile); a manifest is capped at MaxManifestBytes and
// MaxManifestEntries and read entry by entry. A leading UTF-8 byte order
// mark is read as white space.
//
// Trailing commas ("},\n ]") are read as white space unless Options.Strict
// is set, with a WARN naming the byte offset: ESET's published export of
// malicious PyPI packages has one before its final "]". Offsets are kept,
// so a later syntax error still names the right byte. Any other syntax
// error stops the load with an *engine.OffsetError naming the byte offset
// (wrapping engine.ErrSyntax); what was
// read before it — including the event it interrupted, with the members
// read so far — is written.
//
// Records go through the engine (package engine): they are decoded and
// mapped by Options.Workers goroutines (1 unless the caller passes tuning's
// figure) and written to the graph.Sink in feed order in batches of
// Options.BatchSize, so the batches do not depend on the worker count. The
// links of records read before their event node are kept, in feed order,
// until the event's end.
//
// # Identity
//
// Every MISP uuid — of an event, attribute, object, galaxy cluster or
// sighting — becomes the alias "misp--<uuid>" of the node it maps to. MISP
// uuids are unique across record types, so one prefix lets an
// ObjectReference or a cluster relation name its target without knowing
// whether it is an attribute or an object. A uuid that clusters of
// different values of one galaxy list share (MISP exported every cluster
// of a galaxy with one uuid before clusters had their own) names none of
// them: they are keyed by their names alone, said at WARN. Every uuid read (those above,
// an object reference's referenced_uuid, a sighting's attribute_uuid, a
// cluster relation's target, an organisation's uuid) is compared and
// stored in canonical lower-case form (stixid.CanonicalUUID, the rule of
// the UUIDs of STIX identifiers), so a reference in another case than the
// record it names still reaches it. Only valid uuids make keys and
// aliases (PyMISP's test fixtures use "a" and "b"); every key stays under
// 2 kB, so no record can break the store's unique indexes.
//
// # Mapping
//
// Events are nodes of kind report keyed "misp--<uuid>" (graph.SourceNode),
// named by info, with date, timestamp, threat level, analysis and creator in
// props; first seen is the event date, last seen its timestamp. The event is
// linked "object" (as the STIX loader maps a report's object_refs) to the
// nodes of its attributes, objects and galaxy clusters, and "created-by" to
// its creator organisation (an identity keyed "identity--<org uuid>", the
// id MISP's STIX export gives it). Because an export lists the event's tags
// after its attributes, the event node is written once early (uuid, title
// and times, as soon as they are known) so that links find it, and again at
// its end with everything. Links of records read before that are kept (up
// to 1<<20 per event) and written with the event node. RelatedEvent (MISP's
// own correlation) and ShadowAttribute (unaccepted proposals, at event
// level or inside an attribute) are not loaded: a proposal is no fact of
// the event. Nor is an attribute's decay_score (what a restSearch with
// includeDecayScore adds: the score MISP's decaying models gave it when
// the search ran, no fact of the source either), its Feed, its
// RelatedAttribute or an event's Org (the instance's local owner; Orgc,
// its creator, is kept). An EventReport (an analyst's write-up in Markdown) is a note, as
// misp-stix exports it: keyed "note--<uuid>" (alias "misp--<uuid>"), named
// by the report's name, its Markdown in props "content", linked "object"
// from its event and "object" to each attribute and object its content
// mentions (@[attribute](<uuid>), @[object](<uuid>)); the event's TLP
// marks it, and a deleted report is counted under "deleted". Analyst data
// (the "Note" and "Opinion" lists of an event, object or attribute) are
// notes ("note--<uuid>", the text in props "content") and opinions
// ("opinion--<uuid>", props "opinion" as misp-stix grades the 0-100 score,
// and "x_misp_opinion"), aliased "misp--<uuid>", linked "object" to the
// event, the attribute's node or, for an object's attribute, the object's
// node, as misp-stix exports them; an opinion that is no score from 0 to
// 100 is an invalid-value drop. An analyst relationship (a "Relationship"
// list) is a relation, as an ObjectReference is, from the record that
// keeps it to "misp--<related_object_uuid>", typed by relationship_type,
// its own uuid its id.
//
// Who MISP lets see a record (its distribution level and sharing group,
// and an attribute's disable_correlation) is kept beside it, as
// sharing.go says.
//
// Attributes map to the nodes and deterministic ids of STIX observables,
// so the same value from MISP and from a STIX feed is one node:
//
//	ip-src, ip-dst                  ipv4-addr or ipv6-addr by address family (canonical form)
//	ip-src|port, ip-dst|port        the address (the port on the link); also written
//	                                "addr:port" or "[IPv6]:port", as MISP accepts them
//	domain, hostname                domain-name (lower case, no final dot, IDNA ASCII;
//	                                one label, as MISP refuses it, is invalid)
//	hostname|port                   domain-name (the port on the link); also "host:port"
//	domain|ip                       domain-name -resolves-to-> address, each of
//	                                several ("d|a1|a2", "d|a1, a2")
//	url, uri                        url, scheme and host lower case, the rest (spaces
//	                                included) as written
//	link                            a reference (the page an analyst read): the
//	                                attribute's own x-misp-attribute node, a
//	                                property inside an object; to_ids, the
//	                                indicator of the url
//	email-src, email-dst, email, …  email-addr; "Name <addr>" is the address, the
//	                                display name on the link (display_name)
//	md5, sha1, sha256, sha512, sha224, sha384, sha3-*, sha512/*, ssdeep,
//	tlsh, imphash, authentihash, …  hash node (graph.HashNode), the node a STIX
//	                                pattern [file:hashes.'SHA-256' = '…'] yields
//	filename|<hash>, malware-sample file (graph.FileNode) -has-hash-> hash; an
//	                                event's attributes of one name are one file
//	                                with all their hashes (samplefiles.go)
//	filename, attachment            file by name (attachment data is not kept)
//	mutex, regkey, regkey|value     mutex, windows-registry-key (value on the link)
//	mac-address, AS                 mac-addr, autonomous-system
//	btc, xmr, dash                  cryptocurrency-wallet keyed by the address
//	                                (graph.NormalizeWallet), as OpenCTI's wallet
//	                                observable and misp-stix's export of it are
//	x509-fingerprint-*              x509-certificate by hash, has-hash the hash node
//	vulnerability, threat-actor,
//	campaign-name                   named nodes (graph.NamedNode), merged with STIX's
//	yara, snort, sigma, …           indicator keyed "indicator--<uuid>", the rule in props
//	stix2-pattern                   the same, based-on the observables the pattern
//	                                compares (stix.PatternGraph, as in STIX)
//	anything else (text, comment,
//	port, datetime, unknown types)  x-misp-attribute keyed "x-misp-attribute--<uuid>"
//
// Types and object relations are read in any case ("IP-DST" is ip-dst,
// canonicalType). Values go through graph's normalisers
// (graph.NormalizeDomain, URL, IP, Email, Hash), the ones the STIX and
// telemetry mappers use; a defanged value ("hxxp://evil[.]example") is
// refanged (graph.Refang), the value as written on the link
// (defanged_value). Galaxy
// clusters key on their ATT&CK id when they have one: the " - T1059"
// suffix, meta external_id, else the one ATT&CK id of the cluster's kind
// among its synonyms and attack.mitre.org refs (the threat-actor galaxy's
// APT28 is ATT&CK's G0007); when those name two or more, the cluster keys
// on its name and props "ambiguous_attack_ids" lists them. A cluster so
// keyed carries its value and synonyms as lookup aliases
// (graph.NameAlias); keyed by the id its refs or synonyms name, it is
// named "<value> - <id>", as a mitre galaxy names its clusters, so that
// ATT&CK's own name ranks above it (graph.NamesItsKey). A cluster keyed by its name is resolved by the store:
// when its value and synonyms (graph.NameUses) are claimed by exactly one
// entity with an id of its own (a threat-actor cluster whose synonyms name
// an ATT&CK group), it is that entity in lookups and walks.
//
// Unknown types are kept, not dropped: MISP adds types often and losing
// them would lose data. The keys of indicator and x-misp-attribute nodes are
// the ids misp-stix's STIX 2.1 export gives the same attributes.
//
// An event-level attribute flagged to_ids whose type maps to an
// observable (not vulnerability, threat-actor or campaign-name, which
// misp-stix exports as such objects) is an indicator as well, as misp-stix
// exports it: keyed "indicator--<uuid>", its STIX pattern the one
// misp-stix writes for the type, based-on the observables the pattern
// compares and the file one observation describes by its name and a
// hash or by two hashes, which has-hash them (stix.PatternGraph: the STIX
// loader's rule, so both loaders give one graph), stating them in its version (the
// attribute's timestamp, as a STIX indicator states its pattern's links at
// its modified time). The indicator is the attribute's node: its alias
// misp--<uuid>, its event's link, details, labels, TLP, clusters,
// sightings and analyst data are the indicator's; the value's node is
// written beside it, marked with the attribute's TLP (indicator.go). So
// an event and its misp-stix export state one set of records for it.
//
// An object flagged the same way (one of its attributes to_ids), of a
// kind misp-stix exports as one indicator of the whole object whose
// pattern compares what its attributes do (asn, domain-ip, email, file,
// ip-port, mutex, network-connection, network-socket, registry-key, url,
// x509: indicatorObjects), is that indicator: keyed "indicator--<object
// uuid>", aliased misp--<object uuid>, its pattern one observation ANDing
// the comparisons of its to_ids attributes in the object's terms (a file's
// hashes then its name, a domain then the addresses it resolves to),
// based-on what the pattern compares, in the object's version (its
// timestamp). The indicator stands for the object: its event's link, its
// details, labels and TLP, its has-attribute links, references and
// analyst data are the indicator's; the object's observable (a file keyed
// by its hashes, a domain resolving to its addresses, a url) is written
// beside it, reached through what the pattern compares (the domain, the
// url; a file through its hashes, and itself when its name and a hash or
// two hashes are compared), without the object's uuid; a node of the
// object alone (x-misp-object-<name>) is not written. An http-request,
// process, user-account or credential object with a to_ids attribute is
// the indicator misp-stix exports of it as well (propertyObjects), its
// pattern comparing every attribute of the object on the STIX object it
// describes (network-traffic and its http-request-ext, process,
// user-account; x_misp_<type>_<relation> for attributes misp-stix maps
// on no property), based-on the observables it compares (an
// http-request's addresses and host), possibly none; and a to_ids port
// attribute is the indicator [network-traffic:dst_port = '<port>'],
// based on nothing; an account object of a social network or forge
// (facebook-account, github-user, gitlab-user, parler-account,
// reddit-account, telegram-account, twitter-account) with a to_ids
// attribute is misp-stix's indicator of it ([user-account:account_type =
// 'twitter' AND user-account:user_id = '…' AND …], accountObjects),
// based on nothing; so are a to_ids email-subject ([email-message:subject
// = '…']), email-body, email-header, email-x-mailer, user-agent
// ([network-traffic:extensions.'http-request-ext'.request_header.'User-Agent'
// = '…']), http-method, size-in-bytes, email-attachment
// ([email-message:body_multipart[*].body_raw_ref.name = '…']) and
// github-username ([user-account:account_type = 'github' AND
// user-account:account_login = '…']), misp-stix's patterns of them; a
// to_ids email-reply-to is the indicator
// [email-message:additional_header_fields.reply_to = '…'], based on the
// address. An android-app, cpe-asset or netflow object with a to_ids
// attribute is misp-stix's indicator of the whole object (wholeObjects:
// [software:cpe = '…' AND … AND software:x_misp_<relation> = '…'], a
// netflow's addresses with their AS numbers, protocol, ports, times and
// flags), a netflow's based on its addresses; an object of the legacy
// names domain|ip and ip|port is a domain-ip's and an ip-port's; an lnk
// or image object with a to_ids attribute is misp-stix's indicator of the
// file it describes (an lnk's times, names, directories, hashes, sample
// and size; an image's name, MIME type, attachment name and url; an
// attachment's data, which the graph does not keep, is not compared). A
// yara, sigma, suricata or stix2-pattern object is, to_ids or not, the
// indicator of its rule, as misp-stix exports it and as a yara, sigma or
// snort attribute is here (detection.go): keyed "indicator--<object
// uuid>", its pattern the rule, its pattern_type the rule attribute's type
// (yara, sigma, snort, stix), named by the rule name, its comment the
// description, its version the pattern_version; a STIX pattern is based
// on what it compares. The other objects stay as below, to_ids or not.
//
// A node made from a value is shared by every attribute, event and feed
// naming that value, so what is particular to one attribute — its type,
// category, to_ids, comment, port, registry value — is not a prop of the
// node but of the link to it from its event ("object") or object
// ("has-attribute"), under the attribute's uuid: props {"<uuid>":
// {"misp_type": "ip-dst", "to_ids": true, …}}. Two attributes of one event
// naming one value keep both entries, and loading the event again changes
// nothing. (Attributes outside any event, from an attribute search, have no
// link and so keep only their node.) Nodes keyed by the attribute's uuid
// (indicator, x-misp-attribute) carry the details themselves. Every node
// and relation carries times from its record: first_seen/last_seen, else
// the attribute's or object's timestamp, else the event's date and
// timestamp; only inputs without any time (galaxy cluster files) leave them
// to the store, which stamps the time of loading.
//
// Objects are nodes too: a file object is the file (graph.FileNode over its
// hashes and file name; a malware-sample attribute's MD5 is one of its
// hashes and, without a filename attribute, its name the file's), and so
// are an lnk object (the shortcut file) and an image object (the image
// file, by its name), as misp-stix exports them; url, domain-ip (the domain, resolving to its
// addresses), x509 (has-hash each fingerprint), registry-key and vulnerability objects are the
// corresponding observable or named node; any other object is a node of
// kind "x-misp-object-<name>" (as MISP's STIX 2.0 export types them) keyed
// by its uuid. An object's attributes that name entities are mapped as
// above and linked "has-attribute" from the object; the others
// (size-in-bytes, text, entropy, …) become props named by their
// object_relation — of the object's own node, or, for a shared node, of the
// event's link to it (size, mime type and entropy stay on a file node). A
// file object's filename is its file's name, not a link: the file of that
// name alone, which every file object of the name would share, is not
// written for it (two unrelated setup.exe files would be related through
// it), and the filename attribute's uuid names the file; the uuid of an
// attribute kept as a property names the object's node (or its
// indicator). A
// name the graph reserves for its marks (object_relation "lifecycle", see
// graph.IsReservedProp) is kept under graph.SourcePropKey
// ("x_source_lifecycle"), with a warning.
// ObjectReference entries are relations from the object to
// "misp--<referenced_uuid>", typed by relationship_type, that keep the
// reference's own uuid as their id ("misp--<uuid>", graph.Relation.IDs;
// the store's relation_ids), so a record naming the reference finds it.
//
// Tags become labels; tlp:* tags set the TLP (tlp:white is clear; the most
// restrictive wins). Event tags mark the event node and attribute tags the
// attribute's node. A TLP on the event marks the event's own content too
// (attributes keyed by their uuid, objects, sightings: a tlp:red event's
// text, yara rule or person object is red, also when the event's tags come
// after its attributes, as MISP exports them: a record of the TLP alone is
// written at the event's end; the own content and that record are the
// event's in its version, so a newer version without the tag takes the
// TLP away), but it is not copied to the observable,
// identity and cluster nodes other events share. Galaxy clusters (attached to events or attributes,
// named by misp-galaxy:type="value" tags, or listed in cluster files) become
// named nodes merged with STIX's: threat-actor galaxies → threat-actor,
// mitre-*intrusion-set → intrusion-set, attack patterns → attack-pattern
// keyed by ATT&CK technique id, malware/malpedia/ransomware/banker/… →
// malware, tool/exploit-kit → tool, course of action → course-of-action,
// country → location, others → x-misp-galaxy-cluster. " - G0007"-style
// ATT&CK suffixes are stripped from names (the id kept as an external id).
// Description, synonyms, refs and the whole meta come from galaxy cluster
// files and galaxies in API form, the clusters' own source; the copies
// embedded in events differ by the galaxy version each event was made with
// and only name the cluster (their synonyms still count as name uses,
// graph.Node.OtherNames, not stored). Events link to clusters "object",
// attributes "indicates" (to_ids) or "related-to", unless the cluster or
// tag carries a relationship_type (a boolean, as MISP's REST export
// writes false for none, is none). Cluster relations ("related",
// GalaxyClusterRelation) name their targets "misp--<uuid>", except that a
// cluster of MITRE's galaxies (mitre-attack-pattern, mitre-intrusion-set,
// …), whose uuid is that of the ATT&CK STIX object it was made from, also
// carries that STIX id (attack-pattern--<uuid>) as an alias and names the
// targets of its revoked-by and subtechnique-of relations (clusters of its
// own galaxy) by it, so they meet ATT&CK's STIX from any feed. A cluster
// with a revoked-by relation (related, or an event copy's
// GalaxyClusterRelation) is marked revoked.
//
// Sightings are graph.Sighting records keyed "misp--<uuid>" of the
// attribute's node (of an object's attribute whose node is not written, a
// property or a file's name, the object's node: the file for its name;
// such an attribute's uuid is an alias of that node, so a sighting naming
// it by attribute_uuid, in its event's Sighting list or a ZMQ message,
// lands there too, as MISP shows it: on the attribute, in its object),
// where-sighted the organisation, with the sighting type (sighting,
// false-positive, expiration) in props. A sighting is marked
// with its attribute's own TLP tag (a sighting of a tlp:red attribute of a
// tlp:green event is red), whether it is in the attribute's Sighting list
// or in its event's, naming the attribute by attribute_uuid before or
// after it (applied at the event's end: frame.sightingTLPs). A sighting
// outside its event, whose attribute another document holds (a ZMQ
// misp_json_sighting message: {"Sighting": {…, "Attribute": {"uuid": …},
// "Event": {"uuid": …}}}, read as attribute_uuid and event_uuid), names
// its attribute and event in props graph.PropTLPFrom: the explanation of
// its link takes their TLPs (the strictest), whichever was loaded first;
// its node's own TLP is only what its document says. Such a message with
// "action": "delete" (MISP deleted the sighting) is counted under
// "deleted", not loaded; a sighting loaded before from its "add" message
// stays. So is the event of a ZMQ misp_json_event message with "action":
// "delete" ({"Event": <the event's row, no Attribute or Object list>,
// "action": "delete"}, MISP's Event::beforeDelete): not loaded as a live
// report; an event loaded before stays. Only type 0 (and any
// type MISP adds) is a sighting (sighting-of, counted in the report's
// sightings): a false positive links false-positive-of and an expiration
// expiration-of (lifecycle, not walked), since neither saw the value; the
// earliest expiration sighting of a node ends its validity in intel show
// (graph.NodeDetails.Expiration), whichever document gave it. A
// sighting written without a uuid (PyMISP's add_sighting before a server
// saves it, scripts writing feeds) is keyed by a uuid derived from what it
// says: the attribute's uuid, date_sighting, type, source and organisation
// (sightingUUID), the same on every load.
//
// # Records and drops
//
// The report counts as records events, attributes, object attributes,
// objects, object references, galaxy clusters, sightings, event reports
// and analyst notes, opinions and relationships: each is either
// mapped or dropped with a reason (the Reason* constants here and the
// shared ones of package engine), so RecordsRead =
// RecordsMapped + the dropped total. A dropped record is logged at WARN with
// the feed, file, event uuid, record uuid, record index, byte offset and
// reason, and dropped alone: an object keeps its other attributes, an event
// its other records. Records flagged deleted are counted under "deleted"
// and logged at DEBUG only (an attribute or object deleted whose node was
// an indicator withdraws it: withdrawDeleted); a document whose every record is (a ZMQ
// message deleting a sighting) loads nothing, says so at WARN and is no
// failure (ingest.NoRecords). An event written without a uuid (VMRay's MISP
// feed, PyMISP's MISPEvent before a server saves it) is keyed by a uuid
// derived from its creator organisation, info and date (derivedEventUUID);
// one without info, or whose uuid is given and not valid, is dropped as
// "missing-id" while its attributes and objects load unlinked. An object
// without a uuid whose node is its own (not an observable keyed by its
// value) is keyed by a uuid derived from what it says (objectUUID: its name
// and its attributes), the same on every load and in any key order; one
// given and not valid drops the object as "missing-id".
//
// An event's links (to its attributes' values, objects, tags' clusters and
// creator) and its objects' links (to their attributes and references) are
// stated by the event in its version, its timestamp (graph.Node.Versions,
// graph.Relation.StatedBy): reloading the event after an attribute or a
// whole object was deleted, or a value changed, supersedes the links the
// newer version no longer states (store, migration 00030), in either load
// order; so do an event report's mentions and analyst data's links. An
// attribute read outside its event (a search result, a ZMQ message) is
// versioned by itself: its own node (x-misp-attribute--<uuid>, its
// indicator) is its record at its timestamp, by that id (misp-stix's id
// and modified for it), so a newer copy of it replaces what an older one
// gave the node (a comment, a TLP tag, a pattern's based-on links) and an
// older one changes nothing; the restriction of its event's copy or
// summary beside it is part of that record (a ZMQ misp_json_attribute
// message's Event's too: its one attribute waits for the message's end).
// A
// copy of an event without Attribute, Object and EventReport lists (MISP's
// metadata-only results, the Event of a ZMQ attribute message) says
// nothing of what the event holds: it states no version, its links stand
// alone (frame.members). A record beside such a copy (a ZMQ
// misp_json_attribute message: {"Attribute": …, "Event": …}) is linked
// from that event as the event itself links it (the relation, direction
// and props its Attribute list gives), stated by no version, as an
// attribute search result naming its event (endFrameRecords); an attribute
// of an object (object_relation given) read outside its event is not
// linked from the event, which links its object, and maps as its object
// maps it: its value's node (aliased misp--<uuid>), never an indicator of
// its own (a to_ids one is its object's, indicator--<object uuid>, which
// only the whole object says) nor a node for what the object keeps as a
// property (text, port, …: read and mapped to nothing; so is a file,
// lnk or image object's filename, the name of the file its object keys
// by its hashes), so one attribute gives the same nodes from its event, a
// search or ZMQ; the SharingGroup and the
// AttributeTag list's tags beside the message's one attribute are the
// attribute's (it waits for the message's end to know them). A copy of an object
// without its Attribute list read outside its event (the object row MISP
// publishes beside an object's attribute on ZeroMQ, or alone as a
// misp_json_object message) says not what the object is and writes no
// node (mapped to nothing). What
// an object, report or analyst note read before its event's uuid or
// timestamp states (sorted keys put both after "Object") is kept for the
// end of the event and stated there (up to maxDeferred relations; past
// it, and in an event without a uuid, an object or report states its
// links by its own uuid); so are the records of its own nodes (an
// attribute's or object's node, its indicator, a sighting) it writes,
// with the relations naming them: the event's end writes them as the
// event's records in its version, as if read after it, so a newer version
// replaces them (past maxHeld, written at once without a version, said
// at WARN).
// In practice nothing is held so: an event whose keys are sorted, as
// PyMISP's to_json(sort_keys=True) writes it, gives its Attribute,
// EventReport, Galaxy and Object lists before its "timestamp" and "uuid"
// and, bare (no "Event" wrapper), before anything says it is an event
// ("Orgc", "info"). The records of a list read before the frame is known
// to be an event with a uuid and a timestamp (at the top of the document,
// as an element of an array, or wrapped) wait for the frame's end
// (spool.go: 4 MiB in memory, the rest in an unlinked temporary file) and
// are mapped there as what the frame turned out to be: an event's
// records, with its uuid (derived, when it gives none) and version, as
// in an event written in any other key order, or records of no event. A
// search result's list ({"response": {"Attribute": […]}}) is read as it
// comes.
// The has-hash links of the file a to_ids file object's pattern describes
// are stated as the object's own has-hash links are: by the event.
package misp

package graph

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/stixid"
)

// Node is one entity of the threat graph.
type Node struct {
	// ID is deterministic: see ObservableNode, NamedNode and HashNode.
	ID uuid.UUID `json:"id"`
	// Kind is the node kind (a STIX type name where one exists).
	Kind Kind `json:"kind"`
	// Key is the natural key the id derives from, unique within Kind.
	Key string `json:"key"`
	// Name is the display name.
	Name string `json:"name,omitempty"`
	// Props holds every property without a field of its own, custom x_
	// properties included. Values must marshal to JSON.
	Props map[string]any `json:"props,omitempty"`
	// Labels are free-form labels (STIX labels, MISP tags).
	Labels []string `json:"labels,omitempty"`
	// Confidence is 0-100, or nil when the source gave none.
	Confidence *int `json:"confidence,omitempty"`
	// TLP is the Traffic Light Protocol marking: clear, green, amber,
	// amber+strict or red; empty when unmarked.
	TLP TLP `json:"tlp,omitempty"`
	// FirstSeen and LastSeen bound when the source saw the entity; zero
	// values mean "now" when written.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Sources names the feeds or agents that reported the entity.
	Sources []string `json:"sources,omitempty"`
	// Aliases are the source identifiers (STIX ids, MISP uuids) that map to
	// this node; relationships can name the node by any of them.
	Aliases []string `json:"aliases,omitempty"`
	// OtherNames are names the source gives the object that its props do
	// not keep (an event's copy of a MISP galaxy cluster lists the synonyms
	// of the galaxy version it was made with; the node keeps the cluster
	// file's). NameUses counts them with the props' aliases; they are not
	// stored.
	OtherNames []string `json:"-"`
	// Versions holds the version (STIX modified, a MISP event's timestamp)
	// of each source object this record comes from, by the object's id;
	// empty when the source gives none. The relations such an object states
	// through its own properties carry the same entry (Relation.StatedBy);
	// once a newer version of the object is written, those the newer one
	// does not state again are superseded: kept, no longer walked (README,
	// "Newer versions"). Merged: the latest per id. Not stored on the node.
	Versions map[string]time.Time `json:"versions,omitempty"`

	// ranks are set by MergeNode: which records the name and props came
	// from (see Ranks).
	ranks *Ranks
}

// Ref returns the Ref that names this node by id.
func (n Node) Ref() Ref { return NodeRef(n.ID) }

// Validate checks what the database would reject.
func (n Node) Validate() error {
	switch {
	case n.ID == uuid.Nil:
		return fmt.Errorf("node %s:%s: %w", n.Kind, n.Key, ErrNoID)
	case n.Kind == "":
		return fmt.Errorf("node %s: %w: kind", n.ID, ErrInvalidNode)
	case n.Key == "":
		return fmt.Errorf("node %s: %w: key", n.ID, ErrInvalidNode)
	case n.Confidence != nil && (*n.Confidence < 0 || *n.Confidence > 100):
		return fmt.Errorf("node %s: %w: confidence %d outside 0-100", n.ID, ErrInvalidNode, *n.Confidence)
	case !n.FirstSeen.IsZero() && !n.LastSeen.IsZero() && n.LastSeen.Before(n.FirstSeen):
		return fmt.Errorf("node %s: %w: last_seen before first_seen", n.ID, ErrInvalidNode)
	}
	return nil
}

// Relation is a relationship between two nodes named by Refs.
type Relation struct {
	Src  Ref    `json:"src"`
	Type string `json:"type"`
	Dst  Ref    `json:"dst"`
	// Confidence is 0-100, or nil when the source gave none.
	Confidence *int           `json:"confidence,omitempty"`
	FirstSeen  time.Time      `json:"first_seen,omitzero"`
	LastSeen   time.Time      `json:"last_seen,omitzero"`
	Sources    []string       `json:"sources,omitempty"`
	Props      map[string]any `json:"props,omitempty"`
	// IDs are the identifiers the feed gave the relationship records that
	// say this relation (STIX relationship ids). They are no part of the
	// relation's row: the store keeps them in relation_ids, so a later
	// object naming a relationship finds it.
	IDs []string `json:"ids,omitempty"`
	// StatedBy is set on a relation that a source object states through
	// its own properties (a STIX object's embedded references, kill chain
	// phases and pattern; a MISP event's attributes, objects and tags), Src
	// being that object's node, and on the relation a STIX relationship
	// object states (Src its source_ref as written): the object's id and
	// the version of it that states the relation (as in the node's
	// Versions). The relation is superseded once every object stating it
	// has a newer version that does not (a relationship whose newer version
	// changed its type or its ends). Empty for relations that stand on
	// their own (telemetry, a copy of the object without a version), which
	// are never superseded. Merged: the latest per id, and StandsAlone
	// when either record has none (a link one source states on its own
	// stays, whatever versions of an object stating it too come later).
	StatedBy map[string]time.Time `json:"stated_by,omitempty"`

	// ranks are set by MergeRelation (see Ranks).
	ranks *Ranks
}

// Validate checks what the database would reject.
func (r Relation) Validate() error {
	switch {
	case r.Src == "" || r.Dst == "":
		return fmt.Errorf("relation %q: %w: empty endpoint", r.Type, ErrInvalidRelation)
	case r.Type == "":
		return fmt.Errorf("relation %s -> %s: %w: empty type", r.Src, r.Dst, ErrInvalidRelation)
	case r.Confidence != nil && (*r.Confidence < 0 || *r.Confidence > 100):
		return fmt.Errorf("relation %s -%s-> %s: %w: confidence %d outside 0-100", r.Src, r.Type, r.Dst, ErrInvalidRelation, *r.Confidence)
	}
	return nil
}

// Sighting says that something (an indicator, malware, ...) was seen, how
// often, when, and by or where.
type Sighting struct {
	// SourceID is the sighting's own identifier (STIX sighting id, MISP
	// sighting uuid).
	SourceID string `json:"source_id"`
	// Of is what was sighted.
	Of Ref `json:"of"`
	// OfRelation links the sighting's node to Of: RelSightingOf when empty;
	// RelFalsePositiveOf or RelExpirationOf for a MISP sighting of those
	// types, which reports on the value rather than seeing it.
	OfRelation string `json:"of_relation,omitempty"`
	// Where are the identities or locations that sighted it.
	Where []Ref `json:"where,omitempty"`
	// Observed are observed-data (or observable) refs backing the sighting.
	Observed   []Ref          `json:"observed,omitempty"`
	Count      int            `json:"count,omitempty"`
	Confidence *int           `json:"confidence,omitempty"`
	FirstSeen  time.Time      `json:"first_seen,omitzero"`
	LastSeen   time.Time      `json:"last_seen,omitzero"`
	Sources    []string       `json:"sources,omitempty"`
	Props      map[string]any `json:"props,omitempty"`
}

// Brief names the node that stores the sighting: kind sighting, keyed by
// its source id.
func (s Sighting) Brief() NodeBrief {
	return NodeBrief{ID: NamedID(KindSighting, s.SourceID), Kind: KindSighting, Key: s.SourceID}
}

// Graph returns the node and relations that store the sighting: a node of
// kind sighting keyed by the source id, linked sighting-of (or OfRelation),
// where-sighted and observed.
func (s Sighting) Graph() (Node, []Relation) {
	props := map[string]any{}
	for k, v := range s.Props {
		props[k] = v
	}
	if s.Count > 0 {
		props["count"] = s.Count
	}
	b := s.Brief()
	n := Node{
		ID: b.ID, Kind: b.Kind, Key: b.Key,
		Props: props, Confidence: s.Confidence, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen,
		Sources: s.Sources, Aliases: []string{s.SourceID},
	}
	rel := func(typ string, dst Ref) Relation {
		return Relation{Src: n.Ref(), Type: typ, Dst: dst, Confidence: s.Confidence,
			FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Sources: s.Sources}
	}
	rels := []Relation{rel(cmp.Or(s.OfRelation, RelSightingOf), s.Of)}
	for _, w := range s.Where {
		rels = append(rels, rel(RelWhereSighted, w))
	}
	for _, o := range s.Observed {
		rels = append(rels, rel(RelObserved, o))
	}
	return n, rels
}

// TelemetryEdge is one observation by an endpoint agent: Src did Relation
// to Dst at ObservedAt.
type TelemetryEdge struct {
	Src        Node           `json:"src"`
	Relation   string         `json:"relation"`
	Dst        Node           `json:"dst"`
	AgentID    string         `json:"agent_id"`
	ObservedAt time.Time      `json:"observed_at"`
	Props      map[string]any `json:"props,omitempty"`
	// Implied holds the nodes and relations that the endpoints bring with
	// them, such as a file's hash nodes and its has-hash relations (see
	// FileNode). They are written with the endpoint nodes, before the edge.
	Implied Batch `json:"implied,omitzero"`
}

// DropReason says why a record was dropped: by a loader (ingest/engine
// calls it Reason and keys every load report's Dropped by it) or by the
// store (an invalid telemetry edge). Reasons are a fixed set of constants,
// never text taken from the input, so counts keyed by reason stay small
// whatever the input; the details go to the log.
type DropReason string

// The reasons TelemetryEdge.InvalidReason gives.
const (
	ReasonMissingAgentID    DropReason = "missing-agent-id"
	ReasonMissingRelation   DropReason = "missing-relation"
	ReasonMissingObservedAt DropReason = "missing-observed-at"
	ReasonInvalidSrc        DropReason = "invalid-src-node"
	ReasonInvalidDst        DropReason = "invalid-dst-node"
	ReasonInvalidImplied    DropReason = "invalid-implied-record"
)

// ReasonBeforeRetention is the reason the store gives a telemetry edge
// observed before the retention horizon (a day already pruned): it is
// dropped rather than re-create the pruned day.
const ReasonBeforeRetention DropReason = "before-retention"

// InvalidReason returns why the edge cannot be stored, one of the Reason
// constants above, or "".
func (e TelemetryEdge) InvalidReason() DropReason {
	switch {
	case e.AgentID == "":
		return ReasonMissingAgentID
	case e.Relation == "":
		return ReasonMissingRelation
	case e.ObservedAt.IsZero():
		return ReasonMissingObservedAt
	case e.Src.Validate() != nil:
		return ReasonInvalidSrc
	case e.Dst.Validate() != nil:
		return ReasonInvalidDst
	}
	for i := range e.Implied.Nodes {
		if e.Implied.Nodes[i].Validate() != nil {
			return ReasonInvalidImplied
		}
	}
	for i := range e.Implied.Relations {
		if e.Implied.Relations[i].Validate() != nil {
			return ReasonInvalidImplied
		}
	}
	return ""
}

// Batch is a unit of writing: nodes (with their aliases) and the relations
// among them or to nodes written earlier.
type Batch struct {
	Nodes     []Node
	Relations []Relation
}

// Len is the number of records in the batch.
func (b Batch) Len() int { return len(b.Nodes) + len(b.Relations) }

// AddSighting adds a sighting's node and relations.
func (b *Batch) AddSighting(s Sighting) {
	n, rels := s.Graph()
	b.Nodes = append(b.Nodes, n)
	b.Relations = append(b.Relations, rels...)
}

// WriteStats counts what a write did.
type WriteStats struct {
	NodesInserted     int64 `json:"nodes_inserted"`
	NodesMerged       int64 `json:"nodes_merged"`
	NodesUnchanged    int64 `json:"nodes_unchanged"`
	RelationsInserted int64 `json:"relations_inserted"`
	RelationsMerged   int64 `json:"relations_merged"`
	RelationsPending  int64 `json:"relations_pending"`
	RelationsReleased int64 `json:"relations_released"`
	// RelationsExpanded counts the pending relations this write took out
	// of pending because the relationship id they named as an endpoint
	// became known (a report's or sighting's reference to relationship--…);
	// RelationsExpandedInto counts the relation records written for them,
	// to the ends of that relationship: those are counted as inserted,
	// merged or pending like any other, without being among the records
	// sent. So the rows pending_relations gained are RelationsPending -
	// RelationsReleased - RelationsExpanded, and those of RelationsStale
	// that wait for an end (kept, not counted pending).
	RelationsExpanded     int64 `json:"relations_expanded,omitempty"`
	RelationsExpandedInto int64 `json:"relations_expanded_into,omitempty"`
	// RelationsStale counts the relation records sent that only older
	// versions state than the newest written (Relation.StatedBy before the
	// Node.Versions stored): kept, not walked, neither inserted nor merged
	// (a record a newer version states too is merged or unchanged as any
	// other, not stale).
	// RelationsSuperseded counts the stored records this write superseded
	// by writing a newer version of the objects stating them that does not
	// state them (their relations are rebuilt without them, or deleted).
	// Pending records such versions state are kept, no longer counted.
	RelationsStale      int64 `json:"relations_stale,omitempty"`
	RelationsSuperseded int64 `json:"relations_superseded,omitempty"`
	// RelationsUnlinked counts the stored records of links naming a
	// relationship id (a report's object_refs, a sighting's
	// sighting_of_ref, written to the relationship's ends) that this write
	// took off ends a newer version of the relationship no longer names:
	// deleted, or kept for the other statements they have.
	RelationsUnlinked int64 `json:"relations_unlinked,omitempty"`
	AliasesWritten    int64 `json:"aliases_written"`
	// AliasesAmbiguous counts the name aliases this write made ambiguous:
	// claimed by two or more entities with external ids of their own
	// (recorded in alias_claims, never merged). It is counted when the
	// ambiguity begins: a later write that settles one (a revoked-by that
	// makes its claimants one entity) counts nothing and leaves earlier
	// reports as they were; the store's ambiguous_aliases is what is
	// ambiguous now.
	AliasesAmbiguous int64 `json:"aliases_ambiguous"`
	// Dropped counts the records the sink refused to write, by reason
	// (a record the database would reject); each is logged at WARN.
	Dropped map[DropReason]int64 `json:"dropped,omitempty"`
	// NodesRefused and RelationsRefused count the records of a batch
	// that the sink did not write because its validation or the
	// database refused them (by reason in Dropped): sent, but neither
	// inserted, merged, unchanged, pending nor repeated. A node's records
	// (one per source object that states it) are refused one by one: the
	// node is written with the others, and counted refused in no other
	// way; a node none of whose records is written counts each of them.
	NodesRefused     int64 `json:"nodes_refused,omitempty"`
	RelationsRefused int64 `json:"relations_refused,omitempty"`
}

// Add accumulates o into s.
func (s *WriteStats) Add(o WriteStats) {
	s.NodesInserted += o.NodesInserted
	s.NodesMerged += o.NodesMerged
	s.NodesUnchanged += o.NodesUnchanged
	s.RelationsInserted += o.RelationsInserted
	s.RelationsMerged += o.RelationsMerged
	s.RelationsPending += o.RelationsPending
	s.RelationsReleased += o.RelationsReleased
	s.RelationsExpanded += o.RelationsExpanded
	s.RelationsExpandedInto += o.RelationsExpandedInto
	s.RelationsStale += o.RelationsStale
	s.RelationsSuperseded += o.RelationsSuperseded
	s.RelationsUnlinked += o.RelationsUnlinked
	s.AliasesWritten += o.AliasesWritten
	s.AliasesAmbiguous += o.AliasesAmbiguous
	s.NodesRefused += o.NodesRefused
	s.RelationsRefused += o.RelationsRefused
	for reason, n := range o.Dropped {
		if s.Dropped == nil {
			s.Dropped = map[DropReason]int64{}
		}
		s.Dropped[reason] += n
	}
}

// Sink receives batches of graph records; the Store is one, a dry run uses
// a counting one.
type Sink interface {
	Write(ctx context.Context, b Batch) (WriteStats, error)
}

// ObservableNode returns the node of a STIX cyber-observable object given as
// decoded JSON. The key is the canonical JSON of the ID-contributing
// properties, except for single-value types (addresses, domains, URLs,
// mutexes, directories), whose key is the value, and a registry key of no
// values, keyed by RegistryKeyIdentity and named as written (with values:
// RegistryValuesIdentity). Values are normalised
// first, as every source normalises them (NormalizeValue for the value of
// a single-value type, NormalizeHash for hashes), so the same domain in
// any case from any feed is one node; an address's kind is its family's
// (ipKind). The id is ObservableID over the STIX
// 2.1 deterministic id of the normalised object, and that STIX id
// (kind--uuid, as python-stix2 and OpenCTI write it) is the node's alias,
// so a feed that names the observable by it (a relationship to an SCO the
// feed does not carry) reaches the node whichever source gave it. It
// returns false when the object has no ID-contributing properties.
func ObservableNode(stixType string, obj map[string]any) (Node, bool) {
	stixType = string(ipKind(Kind(stixType), obj))
	raw := obj
	obj = normalizedObservable(Kind(stixType), obj)
	sid, ok := stixid.ObservableID(stixType, obj)
	if !ok {
		return Node{}, false
	}
	contrib := stixid.ContributingProperties(stixType, obj)
	key := string(stixid.Canonical(contrib))
	name := ""
	if len(contrib) == 1 {
		for _, v := range contrib {
			if s, ok := v.(string); ok {
				key, name = s, s
			}
		}
	}
	if name == "" {
		if s, ok := obj["name"].(string); ok {
			name = s
		}
	}
	if k, ok := raw["key"].(string); ok && Kind(stixType) == KindWindowsRegistryKey {
		// Keyed case-insensitively (RegistryKeyIdentity), named with
		// its path as written.
		name = NormalizeRegistryKey(k)
	}
	if name == "" && Kind(stixType) == KindAutonomousSystem {
		name = asName(obj["number"])
	}
	return Node{ID: ObservableID(Kind(stixType), sid), Kind: Kind(stixType), Key: key, Name: name,
		Aliases: []string{stixid.STIXID(stixType, sid)}}, true
}

// ParseASNumber reads an autonomous system number written as text: its
// digits ("64500"), or "AS" (any case) and its digits ("AS64500"), as MISP
// and the regional registries write it; an error wrapping ErrInvalidValue
// for anything else, or a number past 32 bits (RFC 6793).
func ParseASNumber(v string) (uint32, error) {
	s := strings.TrimSpace(v)
	if len(s) > 2 && strings.EqualFold(s[:2], "AS") {
		s = s[2:]
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, invalidValue("%q is not an AS number", shorten(v, 80))
	}
	return uint32(n), nil
}

// asName is the name of an autonomous system that has none, as MISP and
// OpenCTI show it: "AS" and its number ("" when the number is none).
func asName(number any) string {
	var n float64
	switch v := number.(type) {
	case float64:
		n = v
	case int:
		n = float64(v)
	case int64:
		n = float64(v)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return ""
		}
		n = f
	default:
		return ""
	}
	if n < 0 || n > math.MaxUint32 || n != math.Trunc(n) {
		return ""
	}
	return "AS" + strconv.FormatUint(uint64(n), 10)
}

// Endpoint returns n as a telemetry endpoint: without the source ids
// ObservableNode gives an observable for feeds (its STIX id). Endpoints
// are written at telemetry rates, and an alias row per new endpoint would
// double what each costs; a feed's reference by STIX id reaches the nodes
// feeds gave.
func Endpoint(n Node) Node {
	n.Aliases = nil
	return n
}

// ipKind is the kind of an ipv4-addr or ipv6-addr object by its value: an
// IPv4-mapped IPv6 address (::ffff:198.51.100.7) is the IPv4 address, and
// an address given under the other family's type is of its own family, so
// that every source gives the one node. Other kinds are kept.
func ipKind(kind Kind, obj map[string]any) Kind {
	if kind != KindIPv4Addr && kind != KindIPv6Addr {
		return kind
	}
	if v, ok := obj["value"].(string); ok {
		if _, k, err := NormalizeIP(v); err == nil {
			return k
		}
	}
	return kind
}

// ObservableID is the node id of an observable whose STIX 2.1
// deterministic id is kind--stixUUID: a UUIDv5 (Namespace) over that
// identifier. STIX's own uuid hashes only the ID-contributing properties,
// not the type, so a url and a domain-name of the same value would share
// it; over the full identifier they are two nodes. (The feed's own id of
// the object, whatever it is, is an alias of the node.)
func ObservableID(kind Kind, stixUUID uuid.UUID) uuid.UUID {
	return NamedID(kind, stixUUID.String())
}

// normalizedObservable returns obj with the value of a single-value kind,
// the hashes, a registry key (RegistryKeyIdentity: hive in full, upper
// case; its values RegistryValuesIdentity) and a network-traffic's
// protocols, times and ports (normalizedFlow), an autonomous system's
// number written as text (ParseASNumber) and a certificate's serial
// number (normalizedSerial) and colon-separated fingerprints normalised,
// and a file
// that gives a hash without its extensions; obj itself is not changed.
func normalizedObservable(kind Kind, obj map[string]any) map[string]any {
	if k, ok := obj["key"].(string); ok && kind == KindWindowsRegistryKey {
		if n := RegistryKeyIdentity(k); n != k {
			obj = maps.Clone(obj)
			obj["key"] = n
		}
	}
	if values, ok := obj["values"].([]any); ok && kind == KindWindowsRegistryKey {
		obj = maps.Clone(obj)
		obj["values"] = RegistryValuesIdentity(values)
	}
	if kind == KindNetworkTraffic {
		obj = normalizedFlow(obj)
	}
	if s, ok := obj["serial_number"].(string); ok && kind == KindX509Certificate {
		if n := normalizedSerial(s); n != s {
			obj = maps.Clone(obj)
			obj["serial_number"] = n
		}
	}
	if s, ok := obj["number"].(string); ok && kind == KindAutonomousSystem {
		// STIX 2.1, 6.2: number is an integer. A producer's "64500" or
		// "AS64500" (the form MISP's AS attribute and the registries
		// write) is that number, the node every other source gives it.
		if n, err := ParseASNumber(s); err == nil {
			obj = maps.Clone(obj)
			obj["number"] = float64(n)
		}
	}
	if _, ok := obj["extensions"]; ok && kind == KindFile && hasHash(obj) {
		// A file's extensions (windows-pebinary-ext, archive-ext,
		// pdf-ext, raster-image-ext, ntfs-ext) describe the content its
		// hashes name, or the copy of it on one disk; every other source
		// (a MISP file object, a pattern's file, telemetry: FileNode)
		// knows the file by its hashes and name alone. Keyed by them, one
		// file from a feed that details its PE header (misp-stix's and
		// MISP's exports of a file with its pe object, the STIX
		// elevator's WinExecutableFile) and one that does not is one
		// node; a file known by no hash keeps its extensions in its key.
		obj = maps.Clone(obj)
		delete(obj, "extensions")
	}
	if a, ok := obj["address"].(string); ok && kind == KindCryptocurrencyWallet && obj["value"] == nil {
		// stix2extensions' cryptocurrency-wallet (an extension-definition
		// SCO) holds the address where OpenCTI's holds its value.
		obj = maps.Clone(obj)
		obj["value"] = a
	}
	prop, single := kind.ValueProperty()
	v, isString := obj[prop].(string)
	hashes, hasHashes := obj["hashes"].(map[string]any)
	if (!single || !isString) && !hasHashes {
		return obj
	}
	out := make(map[string]any, len(obj))
	for k, x := range obj {
		out[k] = x
	}
	if single && isString {
		out[prop] = normalizedValue(kind, v)
	}
	if hasHashes {
		out["hashes"] = normalizedHashes(kind, hashes)
	}
	return out
}

// normalizedHashes returns an observable's hashes normalised
// (NormalizeHash). A hash that is not valid for its algorithm (a
// 40-digit MD5: a SHA-1 under the MD5 key) is left out when another is
// valid, so the object is keyed by what it validly says (STIX's id takes
// one hash, MD5 first: the bad MD5 made the file another node than the
// same file from a feed giving its SHA-256 alone); when none is valid,
// they are kept, lower-cased, as written.
func normalizedHashes(kind Kind, hashes map[string]any) map[string]any {
	valid := make(map[string]any, len(hashes))
	written := make(map[string]any, len(hashes))
	for alg, x := range hashes {
		s, ok := x.(string)
		if !ok {
			written[alg] = x
			continue
		}
		if kind == KindX509Certificate {
			// A fingerprint as openssl and MISP's x509 object print
			// it, AB:CD:…, is the hex digits (CertificateFingerprints).
			s = strings.ReplaceAll(s, ":", "")
		}
		if a, hv, err := NormalizeHash(alg, s); err == nil {
			valid[a], written[a] = hv, hv
		} else {
			written[NormalizeHashAlgorithm(alg)] = strings.ToLower(strings.TrimSpace(s))
		}
	}
	if len(valid) > 0 {
		return valid
	}
	return written
}

// hasHash reports whether a file object gives a hash: a
// "hashes" dictionary with a value that is a non-empty string.
func hasHash(obj map[string]any) bool {
	hashes, _ := obj["hashes"].(map[string]any)
	for _, v := range hashes {
		if s, ok := v.(string); ok && strings.TrimSpace(s) != "" {
			return true
		}
	}
	return false
}

// normalizedFlow returns a network-traffic object with the properties that
// key it in one spelling per value, so that one flow from any producer is
// one node (obj itself is not changed):
//   - protocols in lower case: IANA's service names, which STIX 2.1
//     (section 6.12) asks for in lower case; producers write them in upper
//     case too (MISP's own STIX export: ["IP", "TCP", "HTTP"]);
//   - start and end, timestamps (STIX 2.1 section 3.2: any sub-second
//     precision, UTC), as the instant they name, in UTC with the fraction's
//     trailing zeros dropped: "2011-08-05T07:14:55.000000Z" (the STIX
//     elevator's microseconds), "…55.000Z" (JavaScript's toISOString, as
//     OpenCTI writes) and "…55Z" are one time, as python-stix2 formats it;
//   - src_port and dst_port, integers (section 6.12.1), also when written
//     as a string of digits ("443"), which python-stix2 reads as 443.
//
// A value that is none of these (a time that does not parse, a port out of
// range) keys as written.
func normalizedFlow(obj map[string]any) map[string]any {
	out, cloned := obj, false
	set := func(k string, v any) {
		if !cloned {
			out, cloned = maps.Clone(obj), true
		}
		out[k] = v
	}
	if protocols, ok := obj["protocols"].([]any); ok {
		lower := make([]any, len(protocols))
		for i, p := range protocols {
			if s, ok := p.(string); ok {
				p = strings.ToLower(strings.TrimSpace(s))
			}
			lower[i] = p
		}
		set("protocols", lower)
	}
	for _, k := range []string{"start", "end"} {
		if s, ok := obj[k].(string); ok {
			if t, err := ParseTimestamp(s); err == nil {
				set(k, t.Format(time.RFC3339Nano))
			}
		}
	}
	for _, k := range []string{"src_port", "dst_port"} {
		if s, ok := obj[k].(string); ok {
			if p, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && p >= 0 && p <= math.MaxUint16 {
				set(k, p)
			}
		}
	}
	return out
}

// ValueNode returns the observable node of a single-value STIX type
// (ipv4-addr, ipv6-addr, domain-name, url, email-addr, mac-addr; mutex uses
// "name", directory "path") with the given value, normalised
// (NormalizeValue; a value that does not normalise keys as written).
func ValueNode(kind Kind, value string) Node {
	prop, ok := kind.ValueProperty()
	if !ok {
		prop = "value"
	}
	n, ok := ObservableNode(string(kind), map[string]any{prop: value})
	if !ok {
		// Not a STIX single-value type: key it like a named object.
		return Node{ID: NamedID(kind, value), Kind: kind, Key: value, Name: value}
	}
	return n
}

// HashNode returns the node of a file hash (key HashKey).
func HashNode(algorithm, value string) Node {
	key := HashKey(algorithm, value)
	return Node{ID: NamedID(KindHash, key), Kind: KindHash, Key: key, Name: key}
}

// FileNode returns a file observable with the given hashes (algorithm →
// value, any spelling) and name, either of which may be empty, plus the
// hash nodes and file → hash relations that link it to them.
func FileNode(hashes map[string]string, name string) (Node, []Node, []Relation) {
	obj := map[string]any{}
	if len(hashes) > 0 {
		h := map[string]any{}
		for alg, v := range hashes {
			h[NormalizeHashAlgorithm(alg)] = v
		}
		obj["hashes"] = h
	}
	if name != "" {
		obj["name"] = name
	}
	file, ok := ObservableNode(string(KindFile), obj)
	if !ok {
		return Node{}, nil, nil
	}
	file.Name = name
	var hashNodes []Node
	var rels []Relation
	for _, alg := range slices.Sorted(maps.Keys(hashes)) {
		h := HashNode(alg, hashes[alg])
		hashNodes = append(hashNodes, h)
		rels = append(rels, Relation{Src: file.Ref(), Type: RelHasHash, Dst: h.Ref()})
	}
	if file.Name == "" && len(hashNodes) > 0 {
		file.Name = hashNodes[0].Key
	}
	return file, hashNodes, rels
}

// CertificateNode returns the x509-certificate observable with the given
// fingerprints (algorithm → value, any spelling: NormalizeHash) and serial
// number, either of which may be empty: the node a STIX x509-certificate
// object of those hashes and serial_number is (its deterministic id, over
// the preferred hash alone, MD5, SHA-1, SHA-256, SHA-512, and the serial
// number), named by that hash ("SHA-1:<hex>", as one fingerprint's node is
// named), the serial number when it has none. Its props keep every
// fingerprint and the serial number, which its key does not. A fingerprint
// that is no hash of its algorithm is left out; false when nothing is left.
func CertificateNode(hashes map[string]string, serial string) (Node, bool) {
	obj, h := map[string]any{}, map[string]any{}
	for alg, v := range hashes {
		if a, norm, err := NormalizeHash(alg, v); err == nil {
			h[a] = norm
		}
	}
	if len(h) > 0 {
		obj["hashes"] = h
	}
	if serial = strings.TrimSpace(serial); serial != "" {
		obj["serial_number"] = serial
	}
	n, ok := ObservableNode(string(KindX509Certificate), obj)
	if !ok {
		return Node{}, false
	}
	n.Name = serial
	if keyed, _ := stixid.ContributingProperties(string(KindX509Certificate), obj)["hashes"].(map[string]any); len(keyed) == 1 {
		for alg, v := range keyed {
			n.Name = alg + ":" + v.(string)
		}
	}
	n.Props = obj
	return n, true
}

// CertificateFingerprints returns the hash nodes of a certificate's
// fingerprints (the hashes of its props, as CertificateNode keeps them;
// colons allowed) and its has-hash relations to them, as a file has-hash
// its hashes (FileNode): a certificate known by one fingerprint and one
// known by two (two nodes, as their STIX deterministic ids key them) meet
// at the hash node of the fingerprint they share, whatever feed gave them.
// A fingerprint that is no hash of its algorithm gives nothing.
func CertificateFingerprints(cert Node) ([]Node, []Relation) {
	h, _ := cert.Props["hashes"].(map[string]any)
	var nodes []Node
	var rels []Relation
	seen := map[string]bool{}
	for _, alg := range slices.Sorted(maps.Keys(h)) {
		v, _ := h[alg].(string)
		a, norm, err := NormalizeHash(alg, strings.ReplaceAll(strings.TrimSpace(v), ":", ""))
		if err != nil {
			continue
		}
		n := HashNode(a, norm)
		if seen[n.Key] {
			continue
		}
		seen[n.Key] = true
		nodes = append(nodes, n)
		rels = append(rels, Relation{Src: cert.Ref(), Type: RelHasHash, Dst: n.Ref()})
	}
	return nodes, rels
}

// NamedNode returns the node of a named object (malware, intrusion-set,
// threat-actor, tool, vulnerability, attack-pattern, campaign, ...) keyed by
// NamedKey.
// Threat actors and intrusion sets share their ids (one actor entity).
func NamedNode(kind Kind, name string, externalIDs ...string) Node {
	key := NamedKey(kind, name, externalIDs...)
	return Node{ID: NamedID(identityKind(kind), key), Kind: kind, Key: key, Name: strings.TrimSpace(name)}
}

// SourceNode returns the node of an object identified only by its source
// identifier (an indicator, a report, a note, a custom object): keyed by
// that identifier.
func SourceNode(kind Kind, sourceID string) Node {
	return Node{ID: NamedID(kind, sourceID), Kind: kind, Key: sourceID, Aliases: []string{sourceID}}
}

// RegistryValuesIdentity returns the values of a registry key (STIX
// windows-registry-value-type objects) as its identity takes them: each
// value's name in upper case, as Windows compares value names
// (case-insensitively), its data and data type as written, and the list in
// one order (by canonical JSON), since the order a producer lists a key's
// values in says nothing. values itself is not changed.
func RegistryValuesIdentity(values []any) []any {
	out := make([]any, len(values))
	for i, v := range values {
		if m, ok := v.(map[string]any); ok {
			if name, ok := m["name"].(string); ok {
				m = maps.Clone(m)
				m["name"] = strings.ToUpper(name)
			}
			v = m
		}
		out[i] = v
	}
	slices.SortStableFunc(out, func(a, b any) int {
		return strings.Compare(string(stixid.Canonical(a)), string(stixid.Canonical(b)))
	})
	return out
}

package graph

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ExternalID is an identifier another catalogue gives an object: an
// ATT&CK id (source mitre-attack, T1059.001), a CVE, a CAPEC id, ...
type ExternalID struct {
	Source string `json:"source,omitempty"`
	ID     string `json:"id"`
	URL    string `json:"url,omitempty"`
}

// NodeBrief names a node in a list: id, kind, key and name.
type NodeBrief struct {
	ID   uuid.UUID `json:"id"`
	Kind Kind      `json:"kind"`
	Key  string    `json:"key"`
	Name string    `json:"name,omitempty"`
}

// TLPRecord is a record of the node that says its TLP alone: merged into
// the node's other records it makes the node's TLP at least tlp (the
// strictest wins) and changes nothing else. The mappers write one when a
// TLP becomes known only after the node was mapped (a MISP event's tags
// after its attributes, a STIX marking defined after its use).
func (b NodeBrief) TLPRecord(tlp TLP, sources []string) Node {
	return Node{ID: b.ID, Kind: b.Kind, Key: b.Key, TLP: tlp, Sources: sources}
}

// SeenRecord is a record of the node that says when it was seen, alone:
// merged into the node's other records it widens the node's first and last
// seen to include first..last (earliest first, latest last) and changes
// nothing else (it has no name nor props). The STIX mapper writes one for
// a cyber-observable, which has no time of its own, with the times of the
// observed-data naming it.
func (b NodeBrief) SeenRecord(first, last time.Time, sources []string) Node {
	first, last = Seen(first, last, time.Time{})
	return Node{ID: b.ID, Kind: b.Kind, Key: b.Key, FirstSeen: first, LastSeen: last, Sources: sources}
}

// Label is how the node is shown to a person: kind and name (or key).
func (b NodeBrief) Label() string {
	name := b.Name
	if name == "" {
		name = b.Key
	}
	return string(b.Kind) + " " + name
}

// SourceID is an identifier a feed used for a node (a STIX id, a MISP
// uuid) and the feed that last mapped it.
type SourceID struct {
	ID   string `json:"id"`
	Feed string `json:"feed,omitempty"`
	// Version is the newest version stored of the object (STIX modified,
	// a MISP event's timestamp; Node.Versions), when it has one: what it
	// states in older versions and no longer does is superseded.
	Version *time.Time `json:"version,omitempty"`
}

// RelationDegree is how many relations of one type a node has in one
// direction ("out": the node is the source), read as the walks read them:
// the edges of the entity the node is (those stored on the nodes that
// stand for it too, each peer once), plus the relations stored on the node
// that the walks do not follow (Withdrawn, Itself).
type RelationDegree struct {
	Relation  string        `json:"relation"`
	Class     RelationClass `json:"class"`
	Direction string        `json:"direction"`
	Edges     int64         `json:"edges"`
	// Withdrawn counts the Edges whose relationship a source revoked or
	// deprecated (Lifecycle of the relation's props), or whose peer is
	// withdrawn (a deprecated object, one revoked without a replacement):
	// walks do not follow them unless RelatedOptions.IncludeWithdrawn.
	Withdrawn int64 `json:"withdrawn,omitempty"`
	// Through counts the Edges the walks read on the node as an entity
	// that no relation stored on the node itself gives: links stored on
	// the revoked objects it replaces or on the name-keyed nodes that are
	// it (NodeDetails.Replaces, SameEntity, OlderVersions).
	Through int64 `json:"through,omitempty"`
	// Itself counts the Edges stored on the node that link it to a node
	// standing for it (the revoked-by of an object it replaces): no edge
	// of the entity, not walked.
	Itself int64 `json:"itself,omitempty"`
}

// NodeDetails is what intel show prints about a node.
type NodeDetails struct {
	Node Node `json:"node"`
	// SourceIDs are the node's aliases in node_aliases.
	SourceIDs []SourceID `json:"source_ids"`
	// Names are the other names its props give (aliases, x_mitre_aliases,
	// synonyms, ...), see AliasNames.
	Names []string `json:"names,omitempty"`
	// ExternalIDs come from its props, see ExternalIDs.
	ExternalIDs []ExternalID `json:"external_ids,omitempty"`
	// Revoked and Deprecated are the lifecycle markers of its props
	// (revoked, x_mitre_deprecated); RevokedBy are the nodes its
	// revoked-by relations name.
	Revoked    bool        `json:"revoked"`
	Deprecated bool        `json:"deprecated"`
	RevokedBy  []NodeBrief `json:"revoked_by,omitempty"`
	// Replaces are the revoked nodes whose revoked-by chain ends at this
	// one; a reference to one of them resolves to this node, and the walk
	// shows their links on it.
	Replaces []NodeBrief `json:"replaces,omitempty"`
	// SameEntity are the nodes keyed by their name that are this entity:
	// it is the one entity with an id of its own claiming their names.
	SameEntity []NodeBrief `json:"same_entity,omitempty"`
	// OlderVersions are the nodes keyed by their name that are older
	// versions of this one under other names (a renamed object: a source
	// id both were given), and stand for it.
	OlderVersions []NodeBrief `json:"older_versions,omitempty"`
	// Entity is, for a node keyed by its name, the one entity claiming its
	// names, or its newest version when it was renamed (EntityVersionOf:
	// the source id both were given); references to it resolve to Entity.
	Entity          *NodeBrief `json:"entity,omitempty"`
	EntityVersionOf string     `json:"entity_version_of,omitempty"`
	// Sighted sums its sightings (nil when nothing sighted it).
	Sighted *Sighted `json:"sighted,omitempty"`
	// Expiration sums the MISP expiration sightings of it (RelExpirationOf,
	// read as Sighted is; nil for none): an organisation said the
	// attribute stops being valid at the sighting's time, so its
	// FirstSeen, the earliest, ends its validity (intel show says
	// "expired" once it has passed), as a STIX indicator's valid_until
	// does.
	Expiration *Sighted `json:"expiration,omitempty"`
	// Degree counts its relations per class; Relations per type and
	// direction (see RelationDegree: as the walks read the entity).
	Degree    map[RelationClass]int64 `json:"degree"`
	Relations []RelationDegree        `json:"relations"`
	// Superseded counts per type (direction out) the links from the node
	// that only older versions of the objects stating them state: kept,
	// not counted in Degree, not walked (README, "Newer versions").
	Superseded []RelationDegree `json:"superseded,omitempty"`
	// Ambiguous lists the name aliases the node claims that other entities
	// with external ids of their own claim too, never merged; for a node
	// keyed by its name whose names several entities claim, those names
	// and entities (the node stays itself).
	Ambiguous []AmbiguousAlias `json:"ambiguous,omitempty"`
	// WithdrawnClaims lists the name aliases the node claims that
	// withdrawn (revoked or deprecated) entities claim too: theirs do not
	// count beside a live claimant, so the names are the node's.
	WithdrawnClaims []AmbiguousAlias `json:"withdrawn_claims,omitempty"`
	// ResolvedFrom and Note say, when the reference named a revoked node,
	// the revoked nodes followed to this one (see Resolution).
	ResolvedFrom []NodeBrief `json:"resolved_from,omitempty"`
	Note         string      `json:"note,omitempty"`
}

// Sighted is what the sightings of a node say (the live nodes linked to it
// by RelSightingOf, as the walks read the entity): how many sightings, how
// many times in all (each sighting's count: STIX count, 1 for a MISP
// sighting; a sighting without a count counts once, Uncounted says how many
// had none), and the earliest and latest time a sighting gives.
type Sighted struct {
	Sightings int64     `json:"sightings"`
	Times     int64     `json:"times"`
	Uncounted int64     `json:"uncounted"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// AmbiguousAlias is a name alias (NameAlias) that several entities with
// external ids of their own claim: Others are the claimants besides the
// node it is listed on.
type AmbiguousAlias struct {
	Alias  string      `json:"alias"`
	Others []NodeBrief `json:"others"`
}

// Resolution is the node a reference names. When the reference named a
// revoked object, Node is its live replacement, found by following
// revoked-by relations (chains too), and Replaced lists the revoked nodes
// followed, in order: Replaced[0] is the one named, each replaced by the
// next, the last by Node.
type Resolution struct {
	Node     Node        `json:"node"`
	Replaced []NodeBrief `json:"replaced,omitempty"`
	// Cycle is set when the revoked-by chain came back to a node already
	// followed; Node is then the last node reached before it.
	Cycle bool `json:"cycle,omitempty"`
	// SameAs is set when the node reached (named, or the end of the
	// revoked-by chain) is keyed by its name and stands for Node, the one
	// entity with an id of its own that claims its names (a MISP
	// threat-actor cluster "Sofacy" and APT28, G0007).
	SameAs *NodeBrief `json:"same_as,omitempty"`
	// VersionOf is set with SameAs when the node reached is an older
	// version of Node under another name (a renamed object): a source id
	// (STIX id, misp--<uuid>) both were given.
	VersionOf string `json:"version_of,omitempty"`
}

// Brief returns the node's id, kind, key and name.
func (n Node) Brief() NodeBrief { return NodeBrief{ID: n.ID, Kind: n.Kind, Key: n.Key, Name: n.Name} }

// Short is how a note names a node: its key when that is an ATT&CK or CVE
// id (T1059.001), else its name (or key).
func (b NodeBrief) Short() string {
	if IsATTACKID(b.Key) || IsCVE(b.Key) || b.Name == "" {
		return b.Key
	}
	return b.Name
}

// Note says what the resolution followed: "T1086 revoked by T1059.001"
// (each step of a chain, "; "-separated), or "" when the reference named
// the node itself.
func (r Resolution) Note() string {
	if len(r.Replaced) == 0 && r.SameAs == nil {
		return ""
	}
	chain := append([]NodeBrief{}, r.Replaced...)
	if r.SameAs != nil {
		chain = append(chain, *r.SameAs)
	} else {
		chain = append(chain, r.Node.Brief())
	}
	steps := make([]string, 0, len(r.Replaced)+1)
	for i := 0; i+1 < len(chain); i++ {
		steps = append(steps, chain[i].Short()+" revoked by "+chain[i+1].Short())
	}
	if r.Cycle && len(steps) > 0 {
		steps[len(steps)-1] += " (revoked-by cycle: stopped)"
	}
	switch {
	case r.SameAs != nil && r.VersionOf != "":
		steps = append(steps, fmt.Sprintf("%s %q is %s, its newer version (%s renamed)", r.SameAs.Kind, r.SameAs.Short(), r.Node.Brief().Short(), r.VersionOf))
	case r.SameAs != nil:
		steps = append(steps, fmt.Sprintf("%s %q is %s, the one entity claiming its names", r.SameAs.Kind, r.SameAs.Short(), r.Node.Brief().Short()))
	}
	return strings.Join(steps, "; ")
}

// aliasProps are the props that list other names of an object.
var aliasProps = []string{"aliases", "x_mitre_aliases", "x_opencti_aliases", "synonyms"}

// AliasNames returns the other names props give an object (STIX aliases,
// ATT&CK x_mitre_aliases, OpenCTI x_opencti_aliases, MISP galaxy
// synonyms), without the object's own name, each once, in order of
// appearance.
func AliasNames(name string, props map[string]any) []string {
	var out []string
	seen := map[string]bool{strings.ToLower(strings.TrimSpace(name)): true}
	for _, p := range aliasProps {
		for _, s := range Strings(props[p]) {
			s = strings.TrimSpace(s)
			if s == "" || seen[strings.ToLower(s)] {
				continue
			}
			seen[strings.ToLower(s)] = true
			out = append(out, s)
		}
	}
	return out
}

// Strings reads a property that holds one string or a list of strings,
// as a mapper builds it ([]string) or as JSON decodes it ([]any, whose
// other members are skipped): a node's props are read both before they are
// stored and after, and feeds give one value where a list is due.
func Strings(v any) []string {
	switch l := v.(type) {
	case string:
		return []string{l}
	case []string:
		return l
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// ExternalIDs returns the external ids props give an object: each
// external_references entry with an external_id, the MISP galaxy
// meta.external_id list and ATT&CK's x_mitre_old_attack_id, each once.
func ExternalIDs(props map[string]any) []ExternalID {
	var out []ExternalID
	seen := map[ExternalID]bool{}
	add := func(e ExternalID) {
		e.ID = strings.TrimSpace(e.ID)
		if e.ID == "" || seen[ExternalID{Source: e.Source, ID: e.ID}] {
			return
		}
		seen[ExternalID{Source: e.Source, ID: e.ID}] = true
		out = append(out, e)
	}
	refs, _ := props["external_references"].([]any)
	for _, r := range refs {
		m, _ := r.(map[string]any)
		id, _ := m["external_id"].(string)
		src, _ := m["source_name"].(string)
		url, _ := m["url"].(string)
		add(ExternalID{Source: src, ID: id, URL: url})
	}
	if meta, ok := props["meta"].(map[string]any); ok {
		switch v := meta["external_id"].(type) {
		case string:
			add(ExternalID{Source: "misp-galaxy", ID: v})
		case []any:
			for _, x := range v {
				if s, ok := x.(string); ok {
					add(ExternalID{Source: "misp-galaxy", ID: s})
				}
			}
		}
	}
	if old, ok := props["x_mitre_old_attack_id"].(string); ok {
		add(ExternalID{Source: "mitre-attack (old)", ID: old})
	}
	return out
}

// SearchOptions bound a search.
type SearchOptions struct {
	// Kinds, when not empty, are the only kinds searched.
	Kinds []Kind
	// Limit is the most results (default 20).
	Limit int
	// Exact turns fuzzy matching off: only entries equal to the text or
	// starting with it.
	Exact bool
}

// DefaultSearchLimit is SearchOptions.Limit's default.
const DefaultSearchLimit = 20

// SearchHit is a node a search found, with the name, alias or external id
// that matched (lower-cased) and how: "exact", "prefix" or "fuzzy"
// (Similarity is pg_trgm's word similarity, 0 to 1).
type SearchHit struct {
	NodeBrief
	Sources    []string `json:"sources,omitempty"`
	Matched    string   `json:"matched"`
	Match      string   `json:"match"`
	Similarity float64  `json:"similarity"`
	// Withdrawn is the node's lifecycle when it is not live (Lifecycle:
	// revoked or deprecated), as RelatedNode.Withdrawn.
	Withdrawn string `json:"withdrawn,omitempty"`
}

// SortRelationDegrees orders degrees by class rank, relation and direction.
func SortRelationDegrees(d []RelationDegree) {
	sort.SliceStable(d, func(i, j int) bool {
		if d[i].Class.Rank() != d[j].Class.Rank() {
			return d[i].Class.Rank() < d[j].Class.Rank()
		}
		if d[i].Relation != d[j].Relation {
			return d[i].Relation < d[j].Relation
		}
		return d[i].Direction < d[j].Direction
	})
}

// RelationRecord is a relationship a feed named by an id of its own (a
// STIX relationship id, a MISP object reference uuid): the references it
// wrote and, once known, the nodes they resolve to.
type RelationRecord struct {
	ID       string `json:"id"`
	Src      Ref    `json:"src"`
	Relation string `json:"relation"`
	Dst      Ref    `json:"dst"`
	Feed     string `json:"feed,omitempty"`
	// SrcNode and DstNode are nil while the endpoint is not known.
	SrcNode *NodeBrief `json:"src_node,omitempty"`
	DstNode *NodeBrief `json:"dst_node,omitempty"`
}

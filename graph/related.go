package graph

import (
	"slices"
	"time"

	"github.com/google/uuid"
)

// Defaults of RelatedOptions.
const (
	DefaultDepth     = 4
	DefaultFanout    = 200
	DefaultMaxNodes  = 5000
	DefaultSinceDays = 7
)

// RelatedOptions bound a FindRelated walk. Its JSON members are named as
// intel related's flags are (max_nodes for --max-nodes).
type RelatedOptions struct {
	// Depth is the number of hops (default 4; a negative value means 0: the
	// start node only).
	Depth int `json:"depth"`
	// Fanout is the most edges followed from one node (default 200).
	Fanout int `json:"fanout"`
	// MaxNodes is the most nodes returned (default 5,000).
	MaxNodes int `json:"max_nodes"`
	// Since and Until bound the telemetry edges walked, by observed_at
	// (default: the last 7 days through tomorrow). Only the day partitions in
	// the window are scanned. Relations from feeds are walked whatever their
	// dates.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Relations, when not empty, are the only relation types walked
	// (whatever their class: naming created-by here walks it).
	Relations []string `json:"relations,omitempty"`
	// ExcludeRelations are relation types never walked.
	ExcludeRelations []string `json:"exclude_relations,omitempty"`
	// Kinds, when not empty, are the only kinds of node the walk reaches
	// (the start is always returned).
	Kinds []Kind `json:"kinds,omitempty"`
	// IncludeProvenance walks provenance relations (created-by, markings,
	// ...) too. Without it, and for lifecycle relations (revoked-by, ...)
	// always, a walk follows them only when Relations names them.
	IncludeProvenance bool `json:"include_provenance,omitempty"`
	// IncludeWithdrawn returns and expands withdrawn nodes (revoked or
	// deprecated, see Lifecycle) too, each marked in RelatedNode.Withdrawn,
	// and follows withdrawn relations (a relationship whose source revoked
	// or deprecated it: Lifecycle of the relation's props). Without it a
	// walk treats withdrawn relations and the edges to withdrawn nodes as
	// absent, so those nodes are neither returned nor expanded (the start
	// node always is).
	IncludeWithdrawn bool `json:"include_withdrawn,omitempty"`
}

// SkippedRelations returns, sorted, the relation types the walk must not
// follow: ExcludeRelations, and the provenance (unless IncludeProvenance)
// and lifecycle relation types that Relations does not name.
func (o RelatedOptions) SkippedRelations() []string {
	skip := append([]string{}, o.ExcludeRelations...)
	for _, c := range []RelationClass{ClassProvenance, ClassLifecycle} {
		if c == ClassProvenance && o.IncludeProvenance {
			continue
		}
		for _, r := range RelationsOfClass(c) {
			if !slices.Contains(o.Relations, r) {
				skip = append(skip, r)
			}
		}
	}
	slices.Sort(skip)
	return slices.Compact(skip)
}

// Walks reports whether a walk with these options may follow a relation
// type (the relation filters of SkippedRelations and Relations).
func (o RelatedOptions) Walks(relation string) bool {
	if len(o.Relations) > 0 && !slices.Contains(o.Relations, relation) {
		return false
	}
	return !slices.Contains(o.SkippedRelations(), relation)
}

// WithDefaults fills the options left zero with their defaults, the time
// window relative to now.
func (o RelatedOptions) WithDefaults(now time.Time) RelatedOptions {
	switch {
	case o.Depth == 0:
		o.Depth = DefaultDepth
	case o.Depth < 0:
		o.Depth = 0
	}
	if o.Fanout <= 0 {
		o.Fanout = DefaultFanout
	}
	if o.MaxNodes <= 0 {
		o.MaxNodes = DefaultMaxNodes
	}
	if o.Until.IsZero() {
		o.Until = UTCDay(now).AddDate(0, 0, 2)
	}
	if o.Since.IsZero() {
		o.Since = UTCDay(now).AddDate(0, 0, -DefaultSinceDays)
	}
	return o
}

// Step is the edge that first reached a node in a walk.
type Step struct {
	// From is the node the walk came from.
	From uuid.UUID `json:"from"`
	// Relation is the relationship or telemetry relation followed.
	Relation string `json:"relation"`
	// Direction is "out" (From -Relation-> node), "in" (node -Relation->
	// From), "telemetry-out" or "telemetry-in".
	Direction string `json:"direction"`
}

// RelatedNode is a node reached by a walk.
type RelatedNode struct {
	Node
	// Depth is the number of hops from the start.
	Depth int `json:"depth"`
	// Via is the edge that first reached the node; nil for the start.
	Via *Step `json:"via,omitempty"`
	// Degree and EdgesCut are set when the fan-out cap cut the node's
	// edges: Degree is how many edges the walk could follow from it (its
	// relations and in-window telemetry edges that the relation and kind
	// filters allow), EdgesCut how many of them were not followed
	// (Degree - Fanout). The cap keeps intelligence edges before
	// containment (see RelationClass).
	Degree   int `json:"degree,omitempty"`
	EdgesCut int `json:"edges_cut,omitempty"`
	// Withdrawn is the node's Lifecycle (LifecycleRevoked or
	// LifecycleDeprecated) when it is withdrawn, else empty: set only on the
	// start node and on nodes a walk with IncludeWithdrawn reached.
	Withdrawn string `json:"withdrawn,omitempty"`
	// Expiration is, for an indicator or a MISP attribute's own node, what
	// its expiration sightings say (NodeDetails.Expiration: the earliest
	// is when it stops being valid); set only when the caller asked why
	// nodes are related (store.ExplainEdges), nil when none.
	Expiration *Sighted `json:"expiration,omitempty"`
}

// Edge is a relation or an aggregate of telemetry edges between two
// reached nodes.
type Edge struct {
	Src      uuid.UUID `json:"src"`
	Relation string    `json:"relation"`
	Dst      uuid.UUID `json:"dst"`
	// Telemetry is true for agent observations (Count of them, from Agents
	// distinct agents), false for intelligence relations.
	Telemetry  bool      `json:"telemetry"`
	Count      int64     `json:"count,omitempty"`
	Agents     int64     `json:"agents,omitempty"`
	Confidence *int      `json:"confidence,omitempty"`
	Sources    []string  `json:"sources,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	// StatedBy says which records state the edge; set only when the
	// caller asked for it (store.ExplainEdges), so a walk's answer is
	// unchanged without it.
	StatedBy []Statement `json:"stated_by,omitempty"`
}

// Statement is one record behind an edge of a walk's answer. For a
// relation: one relationship record a feed gave (relation_records, keyed
// by the references the feed wrote), with the relationship ids that name
// it (STIX relationship ids, misp--<uuid> of MISP object references; none
// for a link an object states through its own properties, which Objects
// names), the feeds
// that gave it and its own confidence, TLP, times and lifecycle. Src and
// Dst are the stored relation's nodes when they are not the edge's own: an
// edge between entities (a revoked object and its replacement, a
// name-keyed node and the group it is) may be stated by relations stored
// on the nodes that stand for them. For telemetry: the edge's
// observations inside the walk's window (Telemetry set).
type Statement struct {
	IDs []string `json:"ids,omitempty"`
	// Objects are the objects (STIX ids, misp--<uuid>) whose own
	// properties state the record: an indicator's pattern (based-on), a
	// report's object_refs, a MISP event's attributes and objects.
	Objects []string   `json:"objects,omitempty"`
	SrcRef  string     `json:"src_ref,omitempty"`
	DstRef  string     `json:"dst_ref,omitempty"`
	Src     *uuid.UUID `json:"src,omitempty"`
	Dst     *uuid.UUID `json:"dst,omitempty"`
	Feeds   []string   `json:"feeds,omitempty"`
	TLP     TLP        `json:"tlp,omitempty"`
	// Confidence is 0-100, or nil when the record gave none.
	Confidence *int `json:"confidence,omitempty"`
	// Withdrawn is true for a record a source revoked or deprecated (only
	// in a walk with IncludeWithdrawn).
	Withdrawn bool `json:"withdrawn,omitempty"`
	// Props are the record's own properties as its feed gave them (a STIX
	// relationship's description, external references and x_ properties;
	// a MISP object reference's comment, under the reference's uuid): what
	// the source said about the link. Nil for telemetry.
	Props        map[string]any `json:"props,omitempty"`
	Telemetry    bool           `json:"telemetry,omitempty"`
	Observations int64          `json:"observations,omitempty"`
	Agents       int64          `json:"agents,omitempty"`
	FirstSeen    time.Time      `json:"first_seen"`
	LastSeen     time.Time      `json:"last_seen"`
}

// Neighbourhood is the result of FindRelated.
type Neighbourhood struct {
	Start   uuid.UUID      `json:"start"`
	Options RelatedOptions `json:"options"`
	// Nodes are ordered by depth, then kind and key; the start comes first.
	Nodes []RelatedNode `json:"nodes"`
	// Edges are every relation and telemetry aggregate among Nodes.
	Edges []Edge `json:"edges"`
	// Truncated is true when the fan-out or node cap left something out
	// (the nodes the fan-out cap cut have EdgesCut set).
	Truncated bool `json:"truncated"`
	// MaxNodesReached is true when the node cap (Options.MaxNodes) left
	// nodes out; Truncated without it means the fan-out cap alone.
	MaxNodesReached bool `json:"max_nodes_reached"`
	// PathsTo, when set, are the kinds KeepPathsTo cut the answer to: only
	// the nodes of those kinds and the nodes on the path that first reached
	// each are left (the walk itself went through every kind).
	PathsTo []Kind `json:"paths_to,omitempty"`
}

// KeepPathsTo returns the neighbourhood cut to the nodes of the given kinds
// and the nodes on the path that first reached each (PathTo), the start
// always: the branches of the walk's tree that end at those kinds, such as
// file -has-hash-> hash <-based-on- indicator -indicates-> malware
// -attributed-to-> intrusion-set for the kinds intrusion-set and
// threat-actor. Unlike RelatedOptions.Kinds, which keeps the walk itself
// to those kinds (so it reaches only what is one hop of such nodes from
// the start), the walk went through every kind. Edges are those among the
// nodes left; the caps' marks (Truncated, Degree, EdgesCut) stay as the
// walk set them.
func (nb *Neighbourhood) KeepPathsTo(kinds []Kind) *Neighbourhood {
	at := make(map[uuid.UUID]int, len(nb.Nodes))
	for i, n := range nb.Nodes {
		at[n.ID] = i
	}
	keep := map[uuid.UUID]bool{nb.Start: true}
	want := PathKinds(kinds)
	for _, n := range nb.Nodes {
		if !slices.Contains(want, n.Kind) {
			continue
		}
		// Up the first path until a node already kept (each at most once).
		for id, steps := n.ID, 0; !keep[id] && steps <= len(nb.Nodes); steps++ {
			keep[id] = true
			i, ok := at[id]
			if !ok || nb.Nodes[i].Via == nil {
				break
			}
			id = nb.Nodes[i].Via.From
		}
	}
	out := *nb
	out.PathsTo = slices.Clone(kinds)
	out.Nodes = make([]RelatedNode, 0, len(keep))
	for _, n := range nb.Nodes {
		if keep[n.ID] {
			out.Nodes = append(out.Nodes, n)
		}
	}
	out.Edges = make([]Edge, 0, len(nb.Edges))
	for _, e := range nb.Edges {
		if keep[e.Src] && keep[e.Dst] {
			out.Edges = append(out.Edges, e)
		}
	}
	return &out
}

// Node returns the reached node with the given id.
func (nb *Neighbourhood) Node(id uuid.UUID) (RelatedNode, bool) {
	for _, n := range nb.Nodes {
		if n.ID == id {
			return n, true
		}
	}
	return RelatedNode{}, false
}

// PathTo returns the nodes from the start to id along the edges that first
// reached each, or nil when id was not reached.
func (nb *Neighbourhood) PathTo(id uuid.UUID) []RelatedNode {
	var path []RelatedNode
	for range len(nb.Nodes) + 1 {
		n, ok := nb.Node(id)
		if !ok {
			return nil
		}
		path = append([]RelatedNode{n}, path...)
		if n.Via == nil {
			return path
		}
		id = n.Via.From
	}
	return nil
}

// PathKinds returns the kinds KeepPathsTo keeps for kinds: each of them
// and, for an intrusion set or a threat actor, the other, as the two are
// one actor entity (a MISP threat-actor cluster and ATT&CK's intrusion set
// of one name are one node).
func PathKinds(kinds []Kind) []Kind {
	out := slices.Clone(kinds)
	for _, k := range kinds {
		if identityKind(k) == KindIntrusionSet {
			out = append(out, KindIntrusionSet, KindThreatActor)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// UTCDay returns the start of t's day in UTC, the unit of telemetry
// partitions and time windows.
func UTCDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/db/gen"
)

// Defaults of RelatedOptions.
const (
	DefaultDepth     = 4
	DefaultFanout    = 200
	DefaultMaxNodes  = 5000
	DefaultSinceDays = 7
)

// RelatedOptions bound a FindRelated walk.
type RelatedOptions struct {
	// Depth is the number of hops (default 4; a negative value means 0: the
	// start node only).
	Depth int
	// Fanout is the most edges followed from one node (default 200).
	Fanout int
	// MaxNodes is the most nodes returned (default 5,000).
	MaxNodes int
	// Since and Until bound the telemetry edges walked, by observed_at
	// (default: the last 7 days through tomorrow). Only the day partitions in
	// the window are scanned. Relations from feeds are walked whatever their
	// dates.
	Since, Until time.Time
}

func (o RelatedOptions) withDefaults(now time.Time) RelatedOptions {
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
		o.Until = utcDay(now).AddDate(0, 0, 2)
	}
	if o.Since.IsZero() {
		o.Since = utcDay(now).AddDate(0, 0, -DefaultSinceDays)
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
}

// Neighbourhood is the result of FindRelated.
type Neighbourhood struct {
	Start   uuid.UUID      `json:"start"`
	Options RelatedOptions `json:"options"`
	// Nodes are ordered by depth, then kind and key; the start comes first.
	Nodes []RelatedNode `json:"nodes"`
	// Edges are every relation and telemetry aggregate among Nodes.
	Edges []Edge `json:"edges"`
	// Truncated is true when the fan-out or node cap left something out.
	Truncated bool `json:"truncated"`
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

// FindRelated returns what is related to the node start, up to opts.Depth
// hops, in one SQL statement (see the FindRelated query): relations in both
// directions and telemetry edges inside the time window, each node expanded
// at most once, with fan-out and size caps. It returns ErrNotFound when start
// does not exist.
func (s *Store) FindRelated(ctx context.Context, start uuid.UUID, opts RelatedOptions) (*Neighbourhood, error) {
	opts = opts.withDefaults(s.now())
	rows, err := s.q.FindRelated(ctx, gen.FindRelatedParams{
		StartID:  start,
		MaxDepth: int32(opts.Depth),
		Fanout:   int32(opts.Fanout),
		MaxNodes: int32(opts.MaxNodes),
		Since:    opts.Since,
		Until:    opts.Until,
	})
	if err != nil {
		return nil, fmt.Errorf("find related to %s: %w", start, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("find related to %s: node %w", start, ErrNotFound)
	}
	nb := &Neighbourhood{Start: start, Options: opts, Nodes: make([]RelatedNode, 0, len(rows)), Edges: []Edge{}}
	for _, r := range rows {
		rn := RelatedNode{Node: nodeFromRow(gen.Node{
			ID: r.ID, Kind: r.Kind, Key: r.Key, Name: r.Name, Props: r.Props, Labels: r.Labels,
			Confidence: r.Confidence, Tlp: r.Tlp, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Sources: r.Sources,
		}), Depth: int(r.Depth)}
		if r.ViaID != uuid.Nil {
			rn.Via = &Step{From: r.ViaID, Relation: r.ViaRelation, Direction: r.ViaDirection}
		}
		nb.Nodes = append(nb.Nodes, rn)
		nb.Truncated = nb.Truncated || r.Truncated
		edges, err := decodeEdges(r.ID, r.RelationsOut, false)
		if err != nil {
			return nil, err
		}
		nb.Edges = append(nb.Edges, edges...)
		edges, err = decodeEdges(r.ID, r.TelemetryOut, true)
		if err != nil {
			return nil, err
		}
		nb.Edges = append(nb.Edges, edges...)
	}
	return nb, nil
}

type edgeJSON struct {
	Relation   string    `json:"relation"`
	Dst        uuid.UUID `json:"dst"`
	Confidence *int      `json:"confidence"`
	Sources    []string  `json:"sources"`
	Count      int64     `json:"count"`
	Agents     int64     `json:"agents"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
}

func decodeEdges(src uuid.UUID, raw []byte, telemetry bool) ([]Edge, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var in []edgeJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode edges of %s: %w", src, err)
	}
	out := make([]Edge, 0, len(in))
	for _, e := range in {
		out = append(out, Edge{Src: src, Relation: e.Relation, Dst: e.Dst, Telemetry: telemetry,
			Count: e.Count, Agents: e.Agents, Confidence: e.Confidence, Sources: e.Sources,
			FirstSeen: e.FirstSeen, LastSeen: e.LastSeen})
	}
	return out, nil
}

func nodeFromRow(r gen.Node) Node {
	n := Node{ID: r.ID, Kind: Kind(r.Kind), Key: r.Key, Name: r.Name, Labels: r.Labels,
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Sources: r.Sources}
	if len(r.Props) > 0 && string(r.Props) != "{}" {
		_ = json.Unmarshal(r.Props, &n.Props)
	}
	if r.Confidence != nil {
		c := int(*r.Confidence)
		n.Confidence = &c
	}
	if r.Tlp != nil {
		n.TLP = *r.Tlp
	}
	return n
}

// GetNode returns the node with the given id.
func (s *Store) GetNode(ctx context.Context, id uuid.UUID) (Node, error) {
	r, err := s.q.NodeGet(ctx, id)
	if err != nil {
		return Node{}, interpretError(fmt.Sprintf("get node %s", id), err)
	}
	return nodeFromRow(r), nil
}

// ResolveNode finds a node from what a person would type: a node id, a
// source identifier (STIX id, MISP uuid) known as an alias, or kind:key
// (ipv4-addr:198.51.100.7, malware:lockbit, hash:SHA-256:<hex>; the key is
// normalized as the mappers do for named kinds and hashes).
func (s *Store) ResolveNode(ctx context.Context, ref string) (Node, error) {
	ref = strings.TrimSpace(ref)
	if id, err := uuid.Parse(ref); err == nil {
		return s.GetNode(ctx, id)
	}
	if id, ok := ParseNodeRef(ref); ok {
		return s.GetNode(ctx, id)
	}
	rows, err := s.q.NodeAliasResolve(ctx, []string{ref})
	if err != nil {
		return Node{}, fmt.Errorf("resolve %q: %w", ref, err)
	}
	if len(rows) > 0 {
		return s.GetNode(ctx, rows[0].NodeID)
	}
	kind, key, ok := strings.Cut(ref, ":")
	if !ok || kind == "" || key == "" {
		return Node{}, fmt.Errorf("resolve %q: %w (want a node id, a source id, or kind:key such as ipv4-addr:198.51.100.7)", ref, ErrNotFound)
	}
	for _, candidate := range keyCandidates(Kind(kind), key) {
		r, err := s.q.NodeGetByKey(ctx, gen.NodeGetByKeyParams{Kind: kind, Key: candidate})
		if err == nil {
			return nodeFromRow(r), nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return Node{}, fmt.Errorf("resolve %q: %w", ref, err)
		}
	}
	return Node{}, fmt.Errorf("resolve %q: no %s node with key %q: %w", ref, kind, key, ErrNotFound)
}

// keyCandidates lists the keys kind:key may be stored under: as typed, and
// normalized the way the mappers key that kind.
func keyCandidates(kind Kind, key string) []string {
	c := []string{key}
	switch {
	case kind == KindHash:
		if alg, v, ok := strings.Cut(key, ":"); ok {
			c = append(c, HashKey(alg, v))
		}
	case !kind.IsObservable():
		c = append(c, NamedKey(kind, key))
	}
	return c
}

// interpretError turns database errors into the package's errors.
func interpretError(what string, err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// FindRelated returns what is related to the node start, up to opts.Depth
// hops, in one SQL statement (see the FindRelated query): relations in both
// directions and telemetry edges inside the time window, each node expanded
// at most once, with fan-out and size caps, following the relation types
// opts allows (by default intelligence and containment, never provenance
// or lifecycle: see graph.RelationClass), and reaching no withdrawn node
// (revoked or deprecated) unless opts.IncludeWithdrawn. It returns ErrNotFound when start
// does not exist.
func (s *Store) FindRelated(ctx context.Context, start uuid.UUID, opts graph.RelatedOptions) (*graph.Neighbourhood, error) {
	opts = opts.WithDefaults(s.now())
	kinds := make([]string, 0, len(opts.Kinds))
	for _, k := range opts.Kinds {
		kinds = append(kinds, string(k))
	}
	// Arrays are never nil: pgx would send NULL, and NULL filters out
	// every edge.
	rows, err := s.q.FindRelated(ctx, gen.FindRelatedParams{
		StartID:          start,
		MaxDepth:         int32(opts.Depth),
		Fanout:           int32(opts.Fanout),
		MaxNodes:         int32(opts.MaxNodes),
		Since:            opts.Since,
		Until:            opts.Until,
		OnlyRelations:    append([]string{}, opts.Relations...),
		SkipRelations:    opts.SkippedRelations(),
		Kinds:            kinds,
		Containment:      graph.RelationsOfClass(graph.ClassContainment),
		Provenance:       graph.RelationsOfClass(graph.ClassProvenance),
		Lifecycle:        graph.RelationsOfClass(graph.ClassLifecycle),
		IncludeWithdrawn: opts.IncludeWithdrawn,
	})
	if err != nil {
		return nil, Interpret(fmt.Sprintf("find related to %s", start), err)
	}
	return neighbourhood(start, opts, rows)
}

// neighbourhood builds the walk's result from the rows of the FindRelated
// query (ErrNotFound when there are none: the start does not exist).
func neighbourhood(start uuid.UUID, opts graph.RelatedOptions, rows []gen.FindRelatedRow) (*graph.Neighbourhood, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("find related to %s: node %w", start, ErrNotFound)
	}
	nb := &graph.Neighbourhood{Start: start, Options: opts, Nodes: make([]graph.RelatedNode, 0, len(rows)), Edges: []graph.Edge{}}
	for _, r := range rows {
		rn := graph.RelatedNode{Node: nodeFromRow(gen.Node{
			ID: r.ID, Kind: r.Kind, Key: r.Key, Name: r.Name, Props: r.Props, Labels: r.Labels,
			Confidence: r.Confidence, TLP: r.TLP, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Sources: r.Sources,
		}), Depth: int(r.Depth), Degree: int(r.Degree), EdgesCut: int(r.EdgesCut)}
		rn.Withdrawn = graph.Lifecycle(rn.Props)
		if r.ViaID != uuid.Nil {
			rn.Via = &graph.Step{From: r.ViaID, Relation: r.ViaRelation, Direction: r.ViaDirection}
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

func decodeEdges(src uuid.UUID, raw []byte, telemetry bool) ([]graph.Edge, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var in []edgeJSON
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("decode edges of %s: %w", src, err)
	}
	out := make([]graph.Edge, 0, len(in))
	for _, e := range in {
		out = append(out, graph.Edge{Src: src, Relation: e.Relation, Dst: e.Dst, Telemetry: telemetry,
			Count: e.Count, Agents: e.Agents, Confidence: e.Confidence, Sources: e.Sources,
			FirstSeen: e.FirstSeen, LastSeen: e.LastSeen})
	}
	return out, nil
}

func nodeFromRow(r gen.Node) graph.Node {
	n := graph.Node{ID: r.ID, Kind: graph.Kind(r.Kind), Key: r.Key, Name: r.Name, Labels: r.Labels,
		FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Sources: r.Sources}
	if len(r.Props) > 0 && string(r.Props) != "{}" {
		_ = json.Unmarshal(r.Props, &n.Props)
	}
	if r.Confidence != nil {
		c := int(*r.Confidence)
		n.Confidence = &c
	}
	if r.TLP != nil {
		n.TLP = graph.TLP(*r.TLP)
	}
	return n
}

// GetNode returns the node with the given id.
func (s *Store) GetNode(ctx context.Context, id uuid.UUID) (graph.Node, error) {
	r, err := s.q.NodeGet(ctx, id)
	if err != nil {
		return graph.Node{}, Interpret(fmt.Sprintf("get node %s", id), err)
	}
	return nodeFromRow(r), nil
}

package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// FindRelatedLevels is FindRelated run level by level: one statement per
// hop (the WalkLevel query), the frontier and the visited set passed as
// arrays, then one statement for the reached nodes and the edges among
// them (WalkLevelsResult). It returns exactly what FindRelated returns for
// the same graph and options (the same-answer tests hold them to it).
//
// It is the walk for Citus, which refuses FindRelated's recursive CTE over
// the distributed telemetry_edges: each of its statements is planned there
// with the telemetry scans pushed down to the shards. On one server it
// costs a round trip per level.
func (s *Store) FindRelatedLevels(ctx context.Context, start uuid.UUID, opts graph.RelatedOptions) (*graph.Neighbourhood, error) {
	opts = opts.WithDefaults(s.now())
	what := fmt.Sprintf("find related to %s (level by level)", start)
	kinds := make([]string, 0, len(opts.Kinds))
	for _, k := range opts.Kinds {
		kinds = append(kinds, string(k))
	}
	// Arrays are never nil: pgx would send NULL, and NULL filters out
	// every edge.
	only := append([]string{}, opts.Relations...)
	skip := opts.SkippedRelations()
	visited := []uuid.UUID{start}
	depths := []int32{0}
	frontier := []uuid.UUID{start}
	via := map[uuid.UUID]graph.Step{}
	cuts := map[uuid.UUID]int{}
	truncated, capped := false, false
	for depth := 0; depth < opts.Depth && len(frontier) > 0; depth++ {
		rels, err := s.q.WalkEntityRelations(ctx, gen.WalkEntityRelationsParams{IDs: frontier, IncludeWithdrawn: opts.IncludeWithdrawn})
		if err != nil {
			return nil, Interpret(what, err)
		}
		p := gen.WalkLevelParams{
			Frontier:         frontier,
			Visited:          visited,
			Since:            opts.Since,
			Until:            opts.Until,
			OnlyRelations:    only,
			SkipRelations:    skip,
			Kinds:            kinds,
			IncludeWithdrawn: opts.IncludeWithdrawn,
			Containment:      graph.RelationsOfClass(graph.ClassContainment),
			Provenance:       graph.RelationsOfClass(graph.ClassProvenance),
			Lifecycle:        graph.RelationsOfClass(graph.ClassLifecycle),
			Fanout:           int64(opts.Fanout),
			RelParents:       make([]uuid.UUID, 0, len(rels)),
			RelNbrs:          make([]uuid.UUID, 0, len(rels)),
			RelRelations:     make([]string, 0, len(rels)),
			RelDirections:    make([]string, 0, len(rels)),
			RelDords:         make([]int32, 0, len(rels)),
		}
		for _, r := range rels {
			p.RelParents, p.RelNbrs = append(p.RelParents, r.Parent), append(p.RelNbrs, r.Nbr)
			p.RelRelations, p.RelDirections, p.RelDords = append(p.RelRelations, r.Relation), append(p.RelDirections, r.Direction), append(p.RelDords, r.Dord)
		}
		rows, err := s.q.WalkLevel(ctx, p)
		if err != nil {
			return nil, Interpret(what, err)
		}
		room := opts.MaxNodes - len(visited)
		next := []uuid.UUID{}
		for _, r := range rows {
			switch {
			case r.Cut:
				cuts[r.ID] = int(r.Degree)
				truncated = true
			case len(next) < room:
				next = append(next, r.ID)
				via[r.ID] = graph.Step{From: r.Parent, Relation: r.Relation, Direction: r.Direction}
			default:
				truncated, capped = true, true
			}
		}
		for _, id := range next {
			visited = append(visited, id)
			depths = append(depths, int32(depth+1))
		}
		frontier = next
	}
	rows, err := s.q.WalkLevelsResult(ctx, gen.WalkLevelsResultParams{
		IDs: visited, Depths: depths, Since: opts.Since, Until: opts.Until,
		OnlyRelations: only, SkipRelations: skip,
	})
	if err != nil {
		return nil, Interpret(what, err)
	}
	relsOut, err := s.q.WalkLevelsRelationsOut(ctx, gen.WalkLevelsRelationsOutParams{
		IDs: visited, IncludeWithdrawn: opts.IncludeWithdrawn, OnlyRelations: only, SkipRelations: skip,
	})
	if err != nil {
		return nil, Interpret(what, err)
	}
	relationsOut := make(map[uuid.UUID]edgeArrays, len(relsOut))
	for _, r := range relsOut {
		relationsOut[r.SrcID] = edgeArrays{relations: r.Relations, dsts: r.Dsts, confidences: r.Confidences,
			sources: r.Sources, firstSeen: r.FirstSeen, lastSeen: r.LastSeen}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%s: node %w", what, ErrNotFound)
	}
	edges := 0 // the edges' slice made once at its size, as neighbourhood does
	for _, r := range rows {
		edges += len(relationsOut[r.ID].relations) + len(r.TelRelations)
	}
	nb := &graph.Neighbourhood{Start: start, Options: opts, Nodes: make([]graph.RelatedNode, 0, len(rows)),
		Edges: make([]graph.Edge, 0, edges), Truncated: truncated, MaxNodesReached: capped}
	nodes := make([]gen.Node, 0, len(rows))
	for _, r := range rows {
		nodes = append(nodes, gen.Node{ID: r.ID, Kind: r.Kind, Key: r.Key, Name: r.Name, Props: r.Props, Labels: r.Labels,
			Confidence: r.Confidence, TLP: r.TLP, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Sources: r.Sources})
	}
	var dec edgeDecoder
	for i, n := range nodesFromRows(nodes) {
		r := rows[i]
		rn := graph.RelatedNode{Node: n, Depth: int(r.Depth)}
		rn.Withdrawn = graph.Lifecycle(rn.Props)
		if d, ok := cuts[r.ID]; ok {
			rn.Degree, rn.EdgesCut = d, d-opts.Fanout
		}
		if v, ok := via[r.ID]; ok {
			rn.Via = &v
		}
		nb.Nodes = append(nb.Nodes, rn)
		nb.Edges, err = dec.edges(nb.Edges, r.ID, relationsOut[r.ID], edgeArrays{relations: r.TelRelations, dsts: r.TelDsts,
			counts: r.TelCounts, agents: r.TelAgents, firstSeen: r.TelFirstSeen, lastSeen: r.TelLastSeen})
		if err != nil {
			return nil, err
		}
	}
	return nb, nil
}

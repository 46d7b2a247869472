package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
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
	// The edges' slice is made once at its size: grown by append, its
	// copies were a fifth of a 3,600-node walk's client CPU (docs/benchmarks.md).
	edges := 0
	for _, r := range rows {
		edges += len(r.OutRelations) + len(r.TelRelations)
	}
	nb := &graph.Neighbourhood{Start: start, Options: opts, Nodes: make([]graph.RelatedNode, 0, len(rows)), Edges: make([]graph.Edge, 0, edges)}
	nodes := make([]gen.Node, 0, len(rows))
	for _, r := range rows {
		nodes = append(nodes, gen.Node{ID: r.ID, Kind: r.Kind, Key: r.Key, Name: r.Name, Props: r.Props, Labels: r.Labels,
			Confidence: r.Confidence, TLP: r.TLP, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen, Sources: r.Sources})
	}
	var dec edgeDecoder
	for i, n := range nodesFromRows(nodes) {
		r := rows[i]
		rn := graph.RelatedNode{Node: n, Depth: int(r.Depth), Degree: int(r.Degree), EdgesCut: int(r.EdgesCut)}
		rn.Withdrawn = graph.Lifecycle(rn.Props)
		if r.ViaID != uuid.Nil {
			rn.Via = &graph.Step{From: r.ViaID, Relation: r.ViaRelation, Direction: r.ViaDirection}
		}
		nb.Nodes = append(nb.Nodes, rn)
		nb.Truncated = nb.Truncated || r.Truncated
		nb.MaxNodesReached = nb.MaxNodesReached || r.MaxNodesReached
		var err error
		nb.Edges, err = dec.edges(nb.Edges, r.ID,
			edgeArrays{relations: r.OutRelations, dsts: r.OutDsts, confidences: r.OutConfidences, sources: r.OutSources,
				firstSeen: r.OutFirstSeen, lastSeen: r.OutLastSeen},
			edgeArrays{relations: r.TelRelations, dsts: r.TelDsts, counts: r.TelCounts, agents: r.TelAgents,
				firstSeen: r.TelFirstSeen, lastSeen: r.TelLastSeen})
		if err != nil {
			return nil, err
		}
	}
	return nb, nil
}

// edgeArrays are one node's outgoing edges as the walk queries return them
// (FindRelated, WalkLevelsResult, WalkLevelsRelationsOut): parallel
// arrays, one element per edge, in no particular order (the queries
// aggregate without ORDER BY, which would sort once per array). Relations
// fill confidences (-1 for none) and sources (each edge's sources as a
// PostgreSQL array literal); telemetry edges fill counts and agents.
type edgeArrays struct {
	relations           []string
	dsts                []uuid.UUID
	confidences         []int16
	sources             []string
	counts, agents      []int64
	firstSeen, lastSeen []time.Time
}

// edgeDecoder turns edgeArrays into edges. Its zero value is ready; it
// keeps the type map that parses the sources literals, so one decoder
// serves one walk (a pgtype.Map is not safe for concurrent use).
type edgeDecoder struct {
	types   *pgtype.Map
	sources map[string][]string // literal -> parsed: a walk's edges share a few source lists
}

// edges appends src's relations, then its telemetry edges, each part in
// (relation, peer) order: a reached node's edges as both walks return them.
func (d *edgeDecoder) edges(out []graph.Edge, src uuid.UUID, relations, telemetry edgeArrays) ([]graph.Edge, error) {
	out, err := d.relations(out, src, relations)
	if err != nil {
		return nil, err
	}
	return d.telemetry(out, src, telemetry)
}

// relations appends src's relations to out, in (relation, peer) order.
func (d *edgeDecoder) relations(out []graph.Edge, src uuid.UUID, a edgeArrays) ([]graph.Edge, error) {
	n := len(a.relations)
	if len(a.dsts) != n || len(a.confidences) != n || len(a.sources) != n || len(a.firstSeen) != n || len(a.lastSeen) != n {
		return nil, fmt.Errorf("decode relations of %s: arrays of different lengths", src)
	}
	from := len(out)
	for i := range n {
		if a.dsts[i] == src {
			// A relation stored between two records that merged into one
			// node (a galaxy's APT10 "similar" to menuPass, G0045, both
			// the node G0045) links the node to itself: no edge (README,
			// ATT&CK answers; intel show counts it as "to itself").
			continue
		}
		e := graph.Edge{Src: src, Relation: a.relations[i], Dst: a.dsts[i], FirstSeen: a.firstSeen[i], LastSeen: a.lastSeen[i]}
		if c := a.confidences[i]; c >= 0 {
			conf := int(c)
			e.Confidence = &conf
		}
		srcs, err := d.parseSources(a.sources[i])
		if err != nil {
			return nil, fmt.Errorf("decode sources of %s -[%s]-> %s: %w", src, e.Relation, e.Dst, err)
		}
		e.Sources = srcs
		out = append(out, e)
	}
	sortEdges(out[from:])
	return out, nil
}

// parseSources parses an edge's sources literal ('{a,"b c"}'), each
// distinct literal once per walk; every edge gets its own copy.
func (d *edgeDecoder) parseSources(lit string) ([]string, error) {
	if parsed, ok := d.sources[lit]; ok {
		return slices.Clone(parsed), nil
	}
	if d.types == nil {
		d.types, d.sources = pgtype.NewMap(), map[string][]string{}
	}
	var parsed []string
	if err := d.types.Scan(pgtype.TextArrayOID, pgtype.TextFormatCode, []byte(lit), &parsed); err != nil {
		return nil, err
	}
	d.sources[lit] = parsed
	return slices.Clone(parsed), nil
}

// telemetry appends src's telemetry edges to out, in (relation, peer)
// order.
func (d *edgeDecoder) telemetry(out []graph.Edge, src uuid.UUID, a edgeArrays) ([]graph.Edge, error) {
	n := len(a.relations)
	if len(a.dsts) != n || len(a.counts) != n || len(a.agents) != n || len(a.firstSeen) != n || len(a.lastSeen) != n {
		return nil, fmt.Errorf("decode telemetry edges of %s: arrays of different lengths", src)
	}
	from := len(out)
	for i := range n {
		out = append(out, graph.Edge{Src: src, Relation: a.relations[i], Dst: a.dsts[i], Telemetry: true,
			Count: a.counts[i], Agents: a.agents[i], FirstSeen: a.firstSeen[i], LastSeen: a.lastSeen[i]})
	}
	sortEdges(out[from:])
	return out, nil
}

// sortEdges puts one node's edges in (relation, peer) order: relation
// names bytewise, peers as PostgreSQL orders uuids.
func sortEdges(es []graph.Edge) {
	slices.SortFunc(es, func(a, b graph.Edge) int {
		if c := strings.Compare(a.Relation, b.Relation); c != 0 {
			return c
		}
		return bytes.Compare(a.Dst[:], b.Dst[:])
	})
}

// nodesFromRows converts rows to nodes, decoding their props on every core
// when there are many: a walk that reaches thousands of ATT&CK objects
// spent a third of its client time in json.Unmarshal of their props, after
// the server had finished.
func nodesFromRows(rows []gen.Node) []graph.Node {
	out := make([]graph.Node, len(rows))
	workers := min(runtime.GOMAXPROCS(0), len(rows)/256+1)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(rows); i += workers {
				out[i] = nodeFromRow(rows[i])
			}
		})
	}
	wg.Wait()
	return out
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

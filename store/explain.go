package store

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// explainKey names an edge of a walk's answer.
type explainKey struct {
	src, dst uuid.UUID
	relation string
}

// ExplainEdges sets StatedBy on every edge of nb: for a relation, each
// relationship record behind it (graph.Statement: its relationship ids,
// feeds, TLP, confidence, times, lifecycle, and the stored nodes it links
// when the edge is between entities and the record is stored on nodes that
// stand for them), read in one statement for all the edges (the
// EdgeStatements query), following the walk's nb.Options.IncludeWithdrawn
// as the walk does; for a telemetry edge, its observations in the walk's
// window, as the walk counted them (no query). An edge between entities
// lists every stored relation between them, so its feeds may be more than
// the edge's Sources, which are one relation's. It also sets the
// Expiration of the indicators (and MISP attributes' own nodes) expiration
// sightings end (explainExpirations). FindRelated never calls it:
// an answer without explanation costs nothing more.
func (s *Store) ExplainEdges(ctx context.Context, nb *graph.Neighbourhood) error {
	var p gen.EdgeStatementsParams
	p.IncludeWithdrawn = nb.Options.IncludeWithdrawn
	for i := range nb.Edges {
		e := &nb.Edges[i]
		if e.Telemetry {
			e.StatedBy = []graph.Statement{{Telemetry: true, Observations: e.Count, Agents: e.Agents,
				FirstSeen: e.FirstSeen, LastSeen: e.LastSeen}}
			continue
		}
		e.StatedBy = []graph.Statement{}
		p.Srcs = append(p.Srcs, e.Src)
		p.Relations = append(p.Relations, e.Relation)
		p.Dsts = append(p.Dsts, e.Dst)
	}
	if err := s.explainExpirations(ctx, nb); err != nil {
		return err
	}
	if len(p.Srcs) == 0 {
		return nil
	}
	rows, err := s.q.EdgeStatements(ctx, p)
	if err != nil {
		return Interpret(fmt.Sprintf("explain %d edges", len(p.Srcs)), err)
	}
	stated := make(map[explainKey][]graph.Statement, len(p.Srcs))
	for _, r := range rows {
		k := explainKey{src: r.EdgeSrc, dst: r.EdgeDst, relation: r.EdgeRelation}
		st, err := statementFromRow(r)
		if err != nil {
			return err
		}
		stated[k] = append(stated[k], st)
	}
	for i := range nb.Edges {
		e := &nb.Edges[i]
		if !e.Telemetry {
			if st, ok := stated[explainKey{src: e.Src, dst: e.Dst, relation: e.Relation}]; ok {
				e.StatedBy = st
			}
		}
	}
	return nil
}

// explainExpirations sets the Expiration of the indicators and MISP
// attributes' own nodes (x-misp-attribute) of nb that expiration
// sightings name, as NodeDetails reads them: why a node is related
// includes that it expired (a MISP expiration sighting). One statement
// for all of them.
func (s *Store) explainExpirations(ctx context.Context, nb *graph.Neighbourhood) error {
	var ids []uuid.UUID
	for _, n := range nb.Nodes {
		if n.Kind == graph.KindIndicator || n.Kind == graph.Kind("x-misp-attribute") {
			ids = append(ids, n.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	expired, err := s.sightings(ctx, ids, graph.RelExpirationOf)
	if err != nil {
		return err
	}
	for i := range nb.Nodes {
		nb.Nodes[i].Expiration = expired[nb.Nodes[i].ID]
	}
	return nil
}

// sightings returns what the sightings linked to each of ids by relation
// (graph.RelSightingOf, graph.RelExpirationOf) say (NodeSightings), for
// the nodes that have any.
func (s *Store) sightings(ctx context.Context, ids []uuid.UUID, relation string) (map[uuid.UUID]*graph.Sighted, error) {
	rows, err := s.q.NodeSightings(ctx, gen.NodeSightingsParams{NodeIDs: ids, Relation: relation})
	if err != nil {
		what := "sightings"
		if relation == graph.RelExpirationOf {
			what = "expiration sightings"
		}
		if len(ids) == 1 {
			what += " of " + ids[0].String()
		}
		return nil, Interpret(what, err)
	}
	out := make(map[uuid.UUID]*graph.Sighted, len(rows))
	for _, r := range rows {
		out[r.NodeID] = &graph.Sighted{Sightings: r.Sightings, Times: r.Times, Uncounted: r.Uncounted,
			FirstSeen: r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC()}
	}
	return out, nil
}

// statementFromRow converts one EdgeStatements row.
func statementFromRow(r gen.EdgeStatementsRow) (graph.Statement, error) {
	st := graph.Statement{IDs: r.IDs, Objects: r.Objects, SrcRef: r.SrcRef, DstRef: r.DstRef, Feeds: r.Sources, TLP: graph.TLP(r.TLP),
		Withdrawn: r.Withdrawn, FirstSeen: r.FirstSeen, LastSeen: r.LastSeen}
	// A link an object states is marked as the object is: the strictest
	// of the record's TLP and those of the objects stating it, or, when
	// neither a relationship id nor an object states it, of its source
	// (a sighting's sighting-of: the object the explanation names).
	for _, t := range r.ObjectTlps {
		st.TLP = st.TLP.Stricter(graph.TLP(t))
	}
	if len(r.IDs) == 0 && len(r.Objects) == 0 {
		st.TLP = st.TLP.Stricter(graph.TLP(r.SrcTlp))
		// and of the records the source takes its TLP from, stored
		// apart (graph.PropTLPFrom: a MISP sighting's attribute and
		// event, given by other documents)
		for _, t := range r.SrcTlpsFrom {
			st.TLP = st.TLP.Stricter(graph.TLP(t))
		}
	}
	if r.SrcID != r.EdgeSrc {
		id := r.SrcID
		st.Src = &id
	}
	if r.DstID != r.EdgeDst {
		id := r.DstID
		st.Dst = &id
	}
	if r.Confidence >= 0 {
		c := int(r.Confidence)
		st.Confidence = &c
	}
	if len(r.Props) > 0 {
		var props map[string]any
		if err := json.Unmarshal(r.Props, &props); err != nil {
			return graph.Statement{}, fmt.Errorf("props of the record %s %s %s: %w", r.SrcRef, r.EdgeRelation, r.DstRef, err)
		}
		if len(props) > 0 {
			st.Props = props
		}
	}
	return st, nil
}

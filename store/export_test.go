package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/db/gen"
	"github.com/ransomeye/intel/graph"
)

// FindRelatedWith is FindRelated run with another text of the query, for
// benchmarks that compare an earlier text with the current one on the same
// graph (store/testdata/related_*.sql). The text takes the parameters of
// the FindRelated query, in this order: fanout, start_id, max_nodes,
// containment, provenance, lifecycle, include_withdrawn, since, until,
// only_relations, skip_relations, kinds, max_depth; it returns the columns
// of the FindRelated query as it was at c48f4f4 (each node's edges as JSON:
// relations_out, telemetry_out).
func (s *Store) FindRelatedWith(ctx context.Context, query string, start uuid.UUID, opts graph.RelatedOptions) (*graph.Neighbourhood, error) {
	opts = opts.WithDefaults(s.now())
	kinds := make([]string, 0, len(opts.Kinds))
	for _, k := range opts.Kinds {
		kinds = append(kinds, string(k))
	}
	rows, err := s.pool.Query(ctx, query, int32(opts.Fanout), start, int32(opts.MaxNodes),
		graph.RelationsOfClass(graph.ClassContainment), graph.RelationsOfClass(graph.ClassProvenance),
		graph.RelationsOfClass(graph.ClassLifecycle), opts.IncludeWithdrawn, opts.Since, opts.Until,
		append([]string{}, opts.Relations...), opts.SkippedRelations(), kinds, int32(opts.Depth))
	if err != nil {
		return nil, fmt.Errorf("find related with another query: %w", err)
	}
	res, err := pgx.CollectRows(rows, pgx.RowToStructByPos[jsonRelatedRow])
	if err != nil {
		return nil, fmt.Errorf("find related with another query: %w", err)
	}
	plain := make([]gen.FindRelatedRow, 0, len(res))
	for _, r := range res {
		plain = append(plain, gen.FindRelatedRow{Depth: r.Depth, ID: r.ID, Kind: r.Kind, Key: r.Key, Name: r.Name,
			Props: r.Props, Labels: r.Labels, Confidence: r.Confidence, TLP: r.TLP, FirstSeen: r.FirstSeen,
			LastSeen: r.LastSeen, Sources: r.Sources, ViaID: r.ViaID, ViaRelation: r.ViaRelation,
			ViaDirection: r.ViaDirection, Truncated: r.Truncated, Degree: r.Degree, EdgesCut: r.EdgesCut})
	}
	nb, err := neighbourhood(start, opts, plain)
	if err != nil {
		return nil, err
	}
	for _, r := range res {
		for _, part := range []struct {
			raw       []byte
			telemetry bool
		}{{r.RelationsOut, false}, {r.TelemetryOut, true}} {
			var in []struct {
				Relation   string    `json:"relation"`
				Dst        uuid.UUID `json:"dst"`
				Confidence *int      `json:"confidence"`
				Sources    []string  `json:"sources"`
				Count      int64     `json:"count"`
				Agents     int64     `json:"agents"`
				FirstSeen  time.Time `json:"first_seen"`
				LastSeen   time.Time `json:"last_seen"`
			}
			if err := json.Unmarshal(part.raw, &in); err != nil {
				return nil, fmt.Errorf("decode edges of %s: %w", r.ID, err)
			}
			for _, e := range in {
				nb.Edges = append(nb.Edges, graph.Edge{Src: r.ID, Relation: e.Relation, Dst: e.Dst, Telemetry: part.telemetry,
					Count: e.Count, Agents: e.Agents, Confidence: e.Confidence, Sources: e.Sources,
					FirstSeen: e.FirstSeen, LastSeen: e.LastSeen})
			}
		}
	}
	return nb, nil
}

// jsonRelatedRow is a row of the FindRelated query as it was at c48f4f4:
// the node columns, then its edges as two JSON arrays.
type jsonRelatedRow struct {
	Depth                      int32
	ID                         uuid.UUID
	Kind, Key, Name            string
	Props                      json.RawMessage
	Labels                     []string
	Confidence                 *int16
	TLP                        *string
	FirstSeen, LastSeen        time.Time
	Sources                    []string
	ViaID                      uuid.UUID
	ViaRelation, ViaDirection  string
	Truncated                  bool
	Degree, EdgesCut           int64
	RelationsOut, TelemetryOut []byte
}

// WriterBatch and AgentRows are the TelemetryWriter tests' edges of one
// caller and the count of its stored rows, for the external fault tests;
// WriterState describes a writer for a test that waited too long.
var (
	WriterBatch = writerBatch
	AgentRows   = agentRows
	WriterState = (*TelemetryWriter).state
)

package store

import (
	"context"
	"fmt"

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
// of the FindRelated query.
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
	res, err := pgx.CollectRows(rows, pgx.RowToStructByPos[gen.FindRelatedRow])
	if err != nil {
		return nil, fmt.Errorf("find related with another query: %w", err)
	}
	return neighbourhood(start, opts, res)
}

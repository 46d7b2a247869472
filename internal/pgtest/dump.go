package pgtest

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// GraphQueries select every stored column of the graph tables in a stable
// order, without the bookkeeping timestamps created_at and updated_at.
var GraphQueries = []string{
	"SELECT id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources, name_rank, props_rank, props_key_ranks, timed FROM nodes ORDER BY id",
	"SELECT source_id, node_id, source FROM node_aliases ORDER BY source_id",
	"SELECT src_id, relation, dst_id, confidence, first_seen, last_seen, sources, props, props_rank, props_key_ranks, timed FROM relations ORDER BY 1, 2, 3",
	"SELECT src_ref, relation, dst_ref, confidence, first_seen, last_seen, sources, props, props_rank, props_key_ranks, timed FROM pending_relations ORDER BY 1, 2, 3",
	"SELECT src_ref, relation, dst_ref, src_id, dst_id, confidence, first_seen, last_seen, sources, props, props_rank, props_key_ranks, timed FROM relation_records ORDER BY 1, 2, 3",
	// The identity tables (README "Identity"): the sets they are computed
	// from and what identity_refresh computes.
	"SELECT alias, node_id FROM alias_claims ORDER BY 1, 2",
	"SELECT alias, node_id FROM name_uses ORDER BY 1, 2",
	"SELECT source_id, node_id FROM source_id_nodes ORDER BY 1, 2",
	"SELECT source_id, src_ref, relation, dst_ref, source FROM relation_ids ORDER BY 1",
	"SELECT node_id, entity_id, reason FROM node_entities ORDER BY 1",
	"SELECT alias FROM ambiguous_aliases ORDER BY 1",
	// A recorded node's records per source object (migration 00042),
	// without the bookkeeping column replaced.
	"SELECT node_id, source_id, version, name, name_rank, props, props_rank, props_key_ranks, labels, confidence, tlp FROM node_records ORDER BY 1, 2",
}

// GraphQueriesWithTimes are GraphQueries plus created_at and updated_at, to
// prove that nothing was rewritten.
var GraphQueriesWithTimes = []string{
	"SELECT id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources, name_rank, props_rank, props_key_ranks, timed, created_at, updated_at FROM nodes ORDER BY id",
	GraphQueries[1],
	"SELECT src_id, relation, dst_id, confidence, first_seen, last_seen, sources, props, props_rank, props_key_ranks, timed, created_at, updated_at FROM relations ORDER BY 1, 2, 3",
	GraphQueries[3],
	GraphQueries[4],
	GraphQueries[5],
	GraphQueries[6],
	GraphQueries[7],
	GraphQueries[8],
	GraphQueries[9],
	GraphQueries[10],
	GraphQueries[11],
}

// Dump runs the queries and returns their rows as text, one row a line, so
// two databases (or one database at two moments) can be compared.
func Dump(t testing.TB, pool *pgxpool.Pool, queries ...string) string {
	t.Helper()
	var out strings.Builder
	for _, q := range queries {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			t.Fatalf("pgtest: dump %q: %v", q, err)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatalf("pgtest: dump %q: %v", q, err)
			}
			fmt.Fprintln(&out, vals...)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("pgtest: dump %q: %v", q, err)
		}
	}
	return out.String()
}

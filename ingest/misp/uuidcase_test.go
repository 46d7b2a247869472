package misp

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestUUIDCase: MISP uuids are compared case-insensitively and stored
// lower-case, as STIX identifiers are: an object reference naming in lower
// case an attribute another event gave in upper case links the two in
// either load order, sightings by attribute_uuid find the attribute, and
// the reference's id is found in any case.
func TestUUIDCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ts = `"timestamp":"1704153600"`
	defs := `{"Event":{"uuid":"ABCDEF00-0000-4000-8000-0000000005A1","info":"upper","date":"2024-01-02",` + ts + `,
	  "Attribute":[{"uuid":"ABCDEF00-0000-4000-8000-0000000005A2","type":"ip-dst","category":"Network activity","value":"198.51.100.77",` + ts + `}]}}`
	refs := `{"Event":{"uuid":"abcdef00-0000-4000-8000-0000000005b1","info":"lower","date":"2024-01-02",` + ts + `,
	  "Object":[{"uuid":"ABCDEF00-0000-4000-8000-0000000005B2","name":"file","meta-category":"file",` + ts + `,
	    "Attribute":[{"uuid":"abcdef00-0000-4000-8000-0000000005b3","type":"filename","object_relation":"filename","value":"case.exe",` + ts + `}],
	    "ObjectReference":[{"uuid":"ABCDEF00-0000-4000-8000-0000000005B4","referenced_uuid":"abcdef00-0000-4000-8000-0000000005a2",
	      "relationship_type":"connects-to",` + ts + `}]}],
	  "Sighting":[{"uuid":"ABCDEF00-0000-4000-8000-0000000005B5","attribute_uuid":"abcdef00-0000-4000-8000-0000000005A2","date_sighting":"1704153600"}]}}`
	for _, order := range [][]string{{defs, refs}, {refs, defs}} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool)
		for i, ev := range order {
			opts := quiet(nil)
			opts.Feed = []string{"first", "second"}[i]
			_, err := LoadFile(ctx, strings.NewReader(ev), st, opts)
			require.NoError(t, err)
		}
		_, err := st.ReleasePending(ctx)
		require.NoError(t, err)
		var pending int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
		require.Zero(t, pending)
		rows, err := pool.Query(ctx, `SELECT source_id FROM node_aliases WHERE source_id ~ '[A-F]' AND source_id LIKE 'misp--%'`)
		require.NoError(t, err)
		upper, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Empty(t, upper, "MISP uuids are stored lower-case")
		for _, id := range []string{"misp--abcdef00-0000-4000-8000-0000000005b4", "misp--ABCDEF00-0000-4000-8000-0000000005B4"} {
			got, err := st.RelationByID(ctx, id)
			require.NoError(t, err, id)
			require.NotNil(t, got.DstNode)
			require.Equal(t, "198.51.100.77", got.DstNode.Key)
		}
		var sightings int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM relations r JOIN nodes d ON d.id = r.dst_id
			WHERE r.relation = 'sighting-of' AND d.key = '198.51.100.77'`).Scan(&sightings))
		require.Equal(t, 1, sightings, "the sighting names the attribute in another case")
	}
}

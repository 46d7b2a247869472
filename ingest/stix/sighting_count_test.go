package stix

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestSightingOfCountZeroIsNoSighting: a STIX 2.1 sighting's count is "the
// number of times the SDO referenced by sighting_of_ref was sighted"
// (5.2); a sighting of count 0 says the indicator was looked for, where and
// when it says, and not seen. Its node keeps the count and links
// no-sighting-of (with its where-sighted), not sighting-of; it is not
// counted among the load's sightings, and intel show's "sighted" sums
// only the real sightings (count 3 here). Before, it was a sighting-of
// link like any other and counted: a walk from the indicator showed it
// sighted by the sensor that never saw it.
func TestSightingOfCountZeroIsNoSighting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ind = "indicator--c0000000-0000-4000-8000-000000000001"
	feed := bundle(
		`{"type":"identity","spec_version":"2.1","id":"identity--c0000000-0000-4000-8000-000000000009","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","name":"sensor"}`,
		`{"type":"indicator","spec_version":"2.1","id":"`+ind+`","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","pattern":"[domain-name:value = 'looked-for.example']"}`,
		`{"type":"sighting","spec_version":"2.1","id":"sighting--c0000000-0000-4000-8000-000000000002","created":"2024-02-01T00:00:00Z","modified":"2024-02-01T00:00:00Z","first_seen":"2024-02-01T00:00:00Z","last_seen":"2024-02-07T00:00:00Z","count":0,"sighting_of_ref":"`+ind+`","where_sighted_refs":["identity--c0000000-0000-4000-8000-000000000009"]}`,
		`{"type":"sighting","spec_version":"2.1","id":"sighting--c0000000-0000-4000-8000-000000000003","created":"2024-03-01T00:00:00Z","modified":"2024-03-01T00:00:00Z","first_seen":"2024-03-01T00:00:00Z","last_seen":"2024-03-02T00:00:00Z","count":3,"sighting_of_ref":"`+ind+`"}`,
	)
	st, rep, _ := loadProducer(t, "count-zero", feed)
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 1, rep.Sightings, "the sighting of count 0 is no sighting")
	pool := st.Pool()

	rels := map[string]string{}
	rows, err := pool.Query(ctx, `SELECT s.key, r.relation FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
		WHERE d.key = $1`, ind)
	require.NoError(t, err)
	for rows.Next() {
		var k, rel string
		require.NoError(t, rows.Scan(&k, &rel))
		rels[k] = rel
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[string]string{
		"sighting--c0000000-0000-4000-8000-000000000002": graph.RelNoSightingOf,
		"sighting--c0000000-0000-4000-8000-000000000003": graph.RelSightingOf,
	}, rels)
	var count string
	require.NoError(t, pool.QueryRow(ctx, `SELECT props->>'count' FROM nodes WHERE key = 'sighting--c0000000-0000-4000-8000-000000000002'`).Scan(&count))
	require.Equal(t, "0", count, "the count is kept")
	var where int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM relations r JOIN nodes s ON s.id = r.src_id
		WHERE s.key = 'sighting--c0000000-0000-4000-8000-000000000002' AND r.relation = $1`, graph.RelWhereSighted).Scan(&where))
	require.Equal(t, 1, where, "where it was looked for is kept")

	n, err := st.ResolveNode(ctx, ind)
	require.NoError(t, err)
	d, err := st.NodeDetails(ctx, n.ID)
	require.NoError(t, err)
	require.NotNil(t, d.Sighted)
	require.EqualValues(t, 1, d.Sighted.Sightings)
	require.EqualValues(t, 3, d.Sighted.Times)
	require.Equal(t, graph.ClassIntelligence, graph.ClassOf(graph.RelNoSightingOf))
}

package stix

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestRelationshipIDsResolve: a relationship's STIX id is kept, so the id
// a later object names resolves to the relationship and its endpoints,
// whichever of the endpoints loaded (here the tool loads later).
func TestRelationshipIDsResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		set  = "intrusion-set--00000000-0000-4000-8000-0000000000b1"
		tool = "tool--00000000-0000-4000-8000-0000000000b2"
		rel  = "relationship--00000000-0000-4000-8000-0000000000b3"
	)
	st := store.NewStore(pgtest.Pool(t), store.WithLogger(quietLogger))
	opts := Options{Feed: "rel-ids", Logger: quietLogger}
	_, err := Load(ctx, strings.NewReader(bundle(
		`{"type":"intrusion-set","spec_version":"2.1","id":"`+set+`","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","name":"Some Set"}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+rel+`","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z",
		  "relationship_type":"uses","source_ref":"`+set+`","target_ref":"`+tool+`"}`,
	)), st, opts)
	require.NoError(t, err)
	got, err := st.RelationByID(ctx, rel)
	require.NoError(t, err)
	require.Equal(t, "uses", got.Relation)
	require.NotNil(t, got.SrcNode)
	require.Equal(t, "Some Set", got.SrcNode.Name)
	require.Nil(t, got.DstNode, "the tool is not loaded yet")

	opts.Feed = "rel-ids-2"
	_, err = Load(ctx, strings.NewReader(bundle(
		`{"type":"tool","spec_version":"2.1","id":"`+tool+`","created":"2020-01-01T00:00:00Z","modified":"2020-01-01T00:00:00Z","name":"Some Tool"}`,
	)), st, opts)
	require.NoError(t, err)
	got, err = st.RelationByID(ctx, rel)
	require.NoError(t, err)
	require.NotNil(t, got.DstNode, "the endpoint that arrived later resolves")
	require.Equal(t, "Some Tool", got.DstNode.Name)
	require.Equal(t, "rel-ids", got.Feed)
}

// TestReportNamingRelationshipLinksBothEnds: a report's or note's
// object_refs naming a relationship id link the report to both ends of the
// relationship (as the README says and the store does for sightings), in
// whichever order the two feeds load; the relationship keeps its
// confidence. Before, the STIX mapper left relationship ids in props and
// the report never reached the relationship's ends.
func TestReportNamingRelationshipLinksBothEnds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		set    = "intrusion-set--00000000-0000-4000-8000-0000000000c1"
		mal    = "malware--00000000-0000-4000-8000-0000000000c2"
		rel    = "relationship--00000000-0000-4000-8000-0000000000c3"
		report = "report--00000000-0000-4000-8000-0000000000c4"
		note   = "note--00000000-0000-4000-8000-0000000000c5"
	)
	linked := bundle(
		`{"type":"intrusion-set","spec_version":"2.1","id":"`+set+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","name":"Linked Set"}`,
		`{"type":"malware","spec_version":"2.1","id":"`+mal+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","name":"Linked Malware","is_family":true}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+rel+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z",
		  "relationship_type":"uses","source_ref":"`+set+`","target_ref":"`+mal+`","confidence":85}`,
	)
	naming := bundle(
		`{"type":"report","spec_version":"2.1","id":"`+report+`","created":"2021-02-01T00:00:00Z","modified":"2021-02-01T00:00:00Z",
		  "name":"Linking Report","published":"2021-02-01T00:00:00Z","object_refs":["`+rel+`"]}`,
		`{"type":"note","spec_version":"2.1","id":"`+note+`","created":"2021-02-01T00:00:00Z","modified":"2021-02-01T00:00:00Z",
		  "content":"about the link","object_refs":["`+rel+`"]}`,
	)
	var first string
	for i, order := range [][2]string{{linked, naming}, {naming, linked}} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool, store.WithLogger(quietLogger))
		for j, feed := range order {
			_, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: []string{"linked", "naming"}[(i+j)%2], Logger: quietLogger})
			require.NoError(t, err)
		}
		_, err := st.ReleasePending(ctx)
		require.NoError(t, err)
		rows, err := pool.Query(ctx, `SELECT s.kind || ' ' || r.relation || ' ' || d.name || ' ' || coalesce(r.confidence::text, '-')
			FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id ORDER BY 1`)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{
			"intrusion-set uses Linked Malware 85",
			"note object Linked Malware -", "note object Linked Set -",
			"report object Linked Malware -", "report object Linked Set -",
		}, got, "order %d", i)
		var pending int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
		require.Zero(t, pending, "order %d: nothing waits", i)
		all := strings.Join(got, "\n")
		if i == 0 {
			first = all
		}
		require.Equal(t, first, all)
	}
}

package stix

import (
	"context"
	"strings"
	"testing"

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

package misp

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestObjectReferenceIDsResolve: a MISP object reference's uuid is kept as
// the id of the relation it makes (misp--<uuid>), so a later record naming
// it finds the relation and its endpoints.
func TestObjectReferenceIDsResolve(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewStore(pgtest.Pool(t))
	opts := quiet(nil)
	opts.Feed = "ref-ids"
	event := `{"Event":{"uuid":"5c1e2f3a-0000-4000-8000-0000000000c1","info":"refs","date":"2024-01-02","timestamp":"1704153600",
	  "Attribute":[{"uuid":"5c1e2f3a-0000-4000-8000-0000000000c2","type":"ip-dst","category":"Network activity","value":"198.51.100.9","timestamp":"1704153600"}],
	  "Object":[{"uuid":"5c1e2f3a-0000-4000-8000-0000000000c3","name":"file","meta-category":"file","timestamp":"1704153600",
	    "Attribute":[{"uuid":"5c1e2f3a-0000-4000-8000-0000000000c4","type":"filename","object_relation":"filename","value":"a.exe","timestamp":"1704153600"}],
	    "ObjectReference":[{"uuid":"5c1e2f3a-0000-4000-8000-0000000000c5","referenced_uuid":"5c1e2f3a-0000-4000-8000-0000000000c2",
	      "relationship_type":"connects-to","timestamp":"1704153600"}]}]}}`
	_, err := LoadFile(ctx, strings.NewReader(event), st, opts)
	require.NoError(t, err)
	got, err := st.RelationByID(ctx, "misp--5c1e2f3a-0000-4000-8000-0000000000c5")
	require.NoError(t, err)
	require.Equal(t, "connects-to", got.Relation)
	require.NotNil(t, got.SrcNode)
	require.NotNil(t, got.DstNode)
	require.Equal(t, "198.51.100.9", got.DstNode.Key)
	require.Equal(t, "ref-ids", got.Feed)
}

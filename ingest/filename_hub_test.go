package ingest_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
)

// TestFileNameIsNoHub: two unrelated MISP file objects with one name
// (testdata/adv/misp-filename-hub.json: setup.exe with hash a…, and with
// hash b…) are not related through the file of that name alone: each
// object's file, keyed by its hash, carries the name, as a STIX file SCO
// does. A walk from one hash does not reach the other.
func TestFileNameIsNoHub(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	loadOneByOne(ctx, t, st, []ingest.Feed{{Name: "hub", Path: filepath.Join("..", "testdata", "adv", "misp-filename-hub.json")}})
	a, err := st.ResolveNode(ctx, "hash:SHA-256:"+strings.Repeat("a", 64))
	require.NoError(t, err)
	hood, err := st.FindRelated(ctx, a.ID, graph.RelatedOptions{Depth: 4})
	require.NoError(t, err)
	var files []string
	for _, n := range hood.Nodes {
		require.NotEqual(t, "SHA-256:"+strings.Repeat("b", 64), n.Key, "hash b is another file")
		if n.Kind == graph.KindFile {
			files = append(files, n.Name)
		}
	}
	require.Equal(t, []string{"setup.exe"}, files, "one file, named, keyed by its hash")
	byName, err := st.Search(ctx, "setup.exe", graph.SearchOptions{})
	require.NoError(t, err)
	require.Len(t, byName, 2, "search by the name finds both files")
}

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

// TestFileObjectNameAndHashAttribute: a file object whose filename is a
// filename|md5 attribute (testdata/adv/adv3-misp-fileobj.json) is the file
// of that name and hash. The attribute, taken for a name alone, was folded
// into a file keyed by the name: the md5 reached neither the file nor the
// event, and its has-hash link waited in pending_relations for ever.
func TestFileObjectNameAndHashAttribute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := newStore(t)
	loadOneByOne(ctx, t, st, []ingest.Feed{{Name: "fileobj", Path: filepath.Join("..", "testdata", "adv", "adv3-misp-fileobj.json")}})
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	require.Zero(t, pending, "every link of the event is written")
	md5, err := st.ResolveNode(ctx, "hash:MD5:"+strings.Repeat("d", 32))
	require.NoError(t, err)
	hood, err := st.FindRelated(ctx, md5.ID, graph.RelatedOptions{Depth: 2})
	require.NoError(t, err)
	var reached []string
	for _, n := range hood.Nodes {
		reached = append(reached, string(n.Kind)+" "+n.Name)
	}
	require.Contains(t, reached, "file adv3-composite.exe", "the hash is the named file's")
	require.Contains(t, reached, "report adv3 file objects", "and so the event's")
	// A filename alone still names the file keyed by its hash, with no
	// link to the file of that name alone.
	first, err := st.ResolveNode(ctx, "file:adv3-first.exe")
	require.NoError(t, err)
	require.Contains(t, first.Key, "SHA-256")
}

package ingest_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestRenamedAndRevokedObjectIsRevoked: a vendor renames a malware and
// revokes it in the same newer version (testdata/adv adv3-rename-revoke:
// Adv3Alpha, then Adv3Beta with "revoked": true). The old name stands for
// the revoked newest version, in either load order: a lookup of it
// reaches the revoked object, and the walk from the group that uses it
// shows nothing (before, migration 00026 ranked live versions first and
// Adv3Alpha stayed live, reached by the walk).
func TestRenamedAndRevokedObjectIsRevoked(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	v1 := ingest.Feed{Name: "rr-v1", Path: filepath.Join(dir, "adv3-rename-revoke-v1.json")}
	v2 := ingest.Feed{Name: "rr-v2", Path: filepath.Join(dir, "adv3-rename-revoke-v2.json")}
	var dumps []string
	for _, order := range [][]ingest.Feed{{v1, v2}, {v2, v1}} {
		ctx := context.Background()
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, order)
		r, err := st.Resolve(ctx, "malware:adv3alpha")
		require.NoError(t, err)
		require.Equal(t, "Adv3Beta", r.Node.Name, "%s first: the old name reaches the newest version", order[0].Name)
		require.Equal(t, graph.LifecycleRevoked, graph.Lifecycle(r.Node.Props))
		group, err := st.ResolveNode(ctx, "intrusion-set:adv3rengroup")
		require.NoError(t, err)
		hood, err := st.FindRelated(ctx, group.ID, graph.RelatedOptions{Depth: 2})
		require.NoError(t, err)
		require.Len(t, hood.Nodes, 1, "%s first: the revoked malware is not reached under its old name", order[0].Name)
		dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
	}
	require.Equal(t, dumps[0], dumps[1], "the same tables in either order")
}

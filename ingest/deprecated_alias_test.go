package ingest_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestWithdrawnClaimantLeavesTheNameToTheLiveOne: ATT&CK deprecates a
// malware (testdata/adv adv3-deprecated-alias: S9901 and S9902 both list
// "Adv3Shared" in v1; v2 deprecates S9901). Claims are only added, so
// S9901's claim stays; a name claimed by one live entity and only by
// withdrawn others is the live one's. Before, the name stayed ambiguous
// and `intel show Adv3Shared` was refused. In either load order and with
// both versions in one file (either order in it), the same tables; while
// both claimants are live (v1 alone) the name stays ambiguous.
func TestWithdrawnClaimantLeavesTheNameToTheLiveOne(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "adv")
	v1 := ingest.Feed{Name: "da-v1", Path: filepath.Join(dir, "adv3-deprecated-alias-v1.json")}
	v2 := ingest.Feed{Name: "da-v2", Path: filepath.Join(dir, "adv3-deprecated-alias-v2.json")}
	tmp := t.TempDir()
	oneFile := func(name string, first, second string) ingest.Feed {
		var objects []json.RawMessage
		for _, p := range []string{first, second} {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			var bundle struct {
				Objects []json.RawMessage `json:"objects"`
			}
			require.NoError(t, json.Unmarshal(b, &bundle))
			objects = append(objects, bundle.Objects...)
		}
		b, err := json.Marshal(map[string]any{"type": "bundle", "id": "bundle--32000000-0000-4000-8000-0000000000b3", "objects": objects})
		require.NoError(t, err)
		path := filepath.Join(tmp, name+".json")
		require.NoError(t, os.WriteFile(path, b, 0o600))
		return ingest.Feed{Name: name, Path: path}
	}
	both := oneFile("da-both", v1.Path, v2.Path)
	bothRev := oneFile("da-both-rev", v2.Path, v1.Path)

	ctx := context.Background()
	{
		st, _ := newStore(t)
		loadOneByOne(ctx, t, st, []ingest.Feed{v1})
		for _, ref := range []string{"Adv3Shared", "malware:Adv3Shared"} {
			_, err := st.Resolve(ctx, ref)
			require.ErrorIs(t, err, store.ErrAmbiguous, "%s: two live claimants stay ambiguous", ref)
		}
	}
	var dumps []string
	for _, order := range [][]ingest.Feed{{v1, v2}, {v2, v1}, {both}, {bothRev}} {
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, order)
		for _, ref := range []string{"Adv3Shared", "malware:Adv3Shared", "malware:adv3shared"} {
			r, err := st.Resolve(ctx, ref)
			require.NoError(t, err, "%s first: %s", order[0].Name, ref)
			require.Equal(t, "Adv3New", r.Node.Name, "%s first: %s finds the live S9902", order[0].Name, ref)
			n, err := st.ResolveNode(ctx, ref)
			require.NoError(t, err)
			require.Equal(t, r.Node.ID, n.ID)
		}
		live, err := st.ResolveNode(ctx, "malware:S9902")
		require.NoError(t, err)
		d, err := st.NodeDetails(ctx, live.ID)
		require.NoError(t, err)
		require.Len(t, d.WithdrawnClaims, 1, "%s first: show names the withdrawn claimant", order[0].Name)
		require.Equal(t, "malware:adv3shared", d.WithdrawnClaims[0].Alias)
		require.Len(t, d.WithdrawnClaims[0].Others, 1)
		require.Equal(t, "S9901", d.WithdrawnClaims[0].Others[0].Key)
		require.Empty(t, d.Ambiguous)
		old, err := st.ResolveNode(ctx, "malware:S9901")
		require.NoError(t, err)
		require.Equal(t, graph.LifecycleDeprecated, graph.Lifecycle(old.Props), "%s first", order[0].Name)
		if len(order) == 2 {
			dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
		}
	}
	require.Equal(t, dumps[0], dumps[1], "the same tables in either order")
}

package misp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestClustersSharingAUUIDAreNotOneEntity: in events MISP exported before
// its galaxies gave each cluster a uuid of its own, every cluster of a
// galaxy carries the same uuid (PyMISP's existing_event_edited.json, an
// OSINT Sednit event: GAMEFISH and X-Tunnel of the Tool galaxy both
// 0d821b68-…; testdata/misp/pymisp_sednit_shared_cluster_uuid.json). The
// uuid names neither: the two tools are two nodes, each linked from the
// event, and neither is said to be the other's older version. Before,
// both claimed misp--0d821b68-…: intel show GAMEFISH answered "tool
// GAMEFISH is X-Tunnel, its newer version (renamed)", and the event's
// link to GAMEFISH was stored as its link to X-Tunnel.
func TestClustersSharingAUUIDAreNotOneEntity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	raw, err := os.ReadFile(filepath.Join(testdata, "pymisp_sednit_shared_cluster_uuid.json"))
	require.NoError(t, err)
	var buf bytes.Buffer
	opts := quiet(&buf)
	opts.Feed = "sednit"
	rep, err := LoadFile(ctx, bytes.NewReader(raw), st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	ev, err := st.ResolveNode(ctx, "misp--5a3c2fcd-8328-42bb-a95e-4f4402de0b81")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, ev.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	var tools []string
	for _, n := range nb.Nodes {
		if n.Kind == graph.KindTool {
			tools = append(tools, n.Name)
		}
	}
	require.ElementsMatch(t, []string{"GAMEFISH", "X-Tunnel"}, tools, "both tools linked from the event")
	for _, name := range []string{"gamefish", "x-tunnel"} {
		d, err := st.NodeDetails(ctx, graph.NamedNode(graph.KindTool, name).ID)
		require.NoError(t, err)
		require.Empty(t, d.OlderVersions, "%s has no older version", name)
		require.Empty(t, d.Replaces, name)
	}
	require.Contains(t, buf.String(), "share one uuid", "the shared uuid is said")
}

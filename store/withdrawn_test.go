package store_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestNodeWithdrawnIsLifecycle holds node_withdrawn (SQL: what the walks and
// the identity tables hide) to graph.Lifecycle (Go: ranks, aliases, the
// withdrawn mark of walk results) on the lifecycle properties in every
// spelling a feed or a Go caller may give them, and shows that a node
// written through the store with revoked "true" as a string is withdrawn
// for both.
func TestNodeWithdrawnIsLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	cases := []map[string]any{
		{}, {"revoked": true}, {"revoked": false}, {"revoked": "true"}, {"revoked": "TRUE"}, {"revoked": "false"},
		{"revoked": "yes"}, {"revoked": 1}, {"revoked": nil}, {"revoked": []any{true}},
		{"x_mitre_deprecated": true}, {"x_mitre_deprecated": "True"}, {"x_mitre_deprecated": "false"},
		{"x_mitre_deprecated": " true"}, {graph.PropLifecycle: graph.LifecycleRevoked},
		{graph.PropLifecycle: graph.LifecycleDeprecated}, {graph.PropLifecycle: "Revoked"}, {graph.PropLifecycle: true},
		{"x_source_lifecycle": "revoked"},
	}
	for _, props := range cases {
		var sql bool
		require.NoError(t, tb.pool.QueryRow(ctx, "SELECT node_withdrawn($1::jsonb)", props).Scan(&sql))
		require.Equal(t, graph.Lifecycle(props) != "", sql, "node_withdrawn(%v)", props)
	}

	n := graph.NamedNode(graph.KindMalware, "String Revoked")
	n.Props = map[string]any{"revoked": "true"}
	_, err := tb.store.Write(ctx, graph.Batch{Nodes: []graph.Node{n}})
	require.NoError(t, err)
	var withdrawn, indexed bool
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT node_withdrawn(props) FROM nodes WHERE id = $1`, n.ID).Scan(&withdrawn))
	require.True(t, withdrawn)
	// The partial index nodes_withdrawn_idx holds it too.
	conn, err := tb.pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET enable_seqscan = off")
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) = 1 FROM nodes WHERE node_withdrawn(props)`).Scan(&indexed))
	_, err = conn.Exec(ctx, "RESET enable_seqscan")
	require.NoError(t, err)
	require.True(t, indexed)
	got, err := tb.store.GetNode(ctx, n.ID)
	require.NoError(t, err)
	require.Equal(t, graph.LifecycleRevoked, graph.Lifecycle(got.Props))
}

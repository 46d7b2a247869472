package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// randomHex is n hex digits that do not compress, so an index row holds
// them at full length.
func randomHex(n int) string {
	b := make([]byte, n/2+1)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// TestWriteDropsValuesTooLargeForTheirIndex: a value larger than the btree
// index it goes into takes (a hash key, a name a named node uses, a
// relation type, references, a relationship id) is dropped by validation
// as too-large before the database sees it — neither refused by the
// database (rejected-by-database, which CheckNode did not foresee) nor
// written — and a value just within the limit is written.
func TestWriteDropsValuesTooLargeForTheirIndex(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	a := graph.NamedNode(graph.KindMalware, "a")
	a.Aliases = []string{"malware--00000000-0000-4000-8000-000000000001"}
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{a}})
	require.NoError(t, err)
	cases := map[string]func(n int) graph.Batch{
		"hash": func(n int) graph.Batch {
			return graph.Batch{Nodes: []graph.Node{graph.HashNode("X-CUSTOM", randomHex(n-len("X-CUSTOM:")))}}
		},
		"malware name": func(n int) graph.Batch {
			return graph.Batch{Nodes: []graph.Node{graph.NamedNode(graph.KindMalware, randomHex(n-len("malware:")))}}
		},
		"relation type": func(n int) graph.Batch {
			return graph.Batch{Relations: []graph.Relation{{Src: a.Ref(), Type: randomHex(n - 2*len(a.Ref())), Dst: a.Ref()}}}
		},
		"relation type by source id": func(n int) graph.Batch {
			return graph.Batch{Relations: []graph.Relation{{Src: graph.Ref(a.Aliases[0]), Type: randomHex(n - len(a.Aliases[0]) - len(a.Ref())), Dst: a.Ref()}}}
		},
		"pending references": func(n int) graph.Batch {
			return graph.Batch{Relations: []graph.Relation{{Src: graph.Ref("x--" + randomHex(n/2-3)), Type: "x", Dst: graph.Ref("y--" + randomHex(n-n/2-4))}}}
		},
		"relationship id": func(n int) graph.Batch {
			return graph.Batch{Relations: []graph.Relation{{Src: a.Ref(), Type: "uses", Dst: a.Ref(), IDs: []string{randomHex(n)}}}}
		},
	}
	limit := map[string]int{"hash": store.MaxIndexedBytes, "malware name": store.MaxRefBytes, "relation type": store.MaxIndexedBytes,
		"relation type by source id": store.MaxIndexedBytes, "pending references": store.MaxIndexedBytes, "relationship id": store.MaxRefBytes}
	for name, batch := range cases {
		for _, n := range []int{limit[name] + 1, 2750, 9000} {
			ws, err := b.store.Write(ctx, batch(n))
			require.NoError(t, err, "%s of %d bytes", name, n)
			require.Equal(t, map[graph.DropReason]int64{store.ReasonTooLarge: 1}, ws.Dropped, "%s of %d bytes", name, n)
			require.Zero(t, ws.NodesInserted+ws.RelationsInserted+ws.RelationsPending, "%s of %d bytes", name, n)
		}
		ws, err := b.store.Write(ctx, batch(limit[name]))
		require.NoError(t, err, name)
		require.Empty(t, ws.Dropped, "%s at the limit is written", name)
		require.Equal(t, int64(1), ws.NodesInserted+ws.RelationsInserted+ws.RelationsMerged+ws.RelationsPending, fmt.Sprintf("%s at the limit", name))
	}
}

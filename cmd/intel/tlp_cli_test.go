package main

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestRelatedShowsTheNodesTLP: the tree and the DOT label of intel
// related mark each node whose TLP restricts sharing (TLP:GREEN,
// TLP:AMBER+STRICT, TLP:RED), as show and the JSON say it; an unmarked or
// clear node gets no marker. Before, neither said a word of a node's TLP,
// so a walk drawn for a report showed a red actor as any other.
func TestRelatedShowsTheNodesTLP(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	file := graph.NamedNode(graph.KindFile, "tlp-dropper.exe") // unmarked
	indicator := graph.SourceNode(graph.KindIndicator, "indicator--6a1e3d2c-5b4f-4e8a-9c7d-1f2e3a4b5c6d")
	indicator.Name, indicator.TLP = "TLP clear indicator", graph.TLPClear
	malware := graph.NamedNode(graph.KindMalware, "TLPStrictLocker")
	malware.TLP = graph.TLPAmberStrict
	actor := graph.NamedNode(graph.KindIntrusionSet, "TLP Red Spider")
	actor.TLP = graph.TLPRed
	group := graph.NamedNode(graph.KindIntrusionSet, "TLP Green Spider")
	group.TLP = graph.TLPGreen
	_, err := store.NewStore(pgtest.PoolFor(t, dsn)).Write(context.Background(), graph.Batch{
		Nodes: []graph.Node{file, indicator, malware, actor, group},
		Relations: []graph.Relation{
			{Src: indicator.Ref(), Type: graph.RelIndicates, Dst: file.Ref()},
			{Src: indicator.Ref(), Type: graph.RelIndicates, Dst: malware.Ref()},
			{Src: malware.Ref(), Type: graph.RelAttributedTo, Dst: actor.Ref()},
			{Src: malware.Ref(), Type: graph.RelAttributedTo, Dst: group.Ref()},
		},
	})
	require.NoError(t, err)
	db := "--database-url=" + dsn

	tree := runOK(t, db, "related", file.ID.String())
	line := func(label string) string {
		for l := range strings.Lines(tree) {
			if strings.Contains(l, label+"  [") {
				return strings.TrimSpace(l)
			}
		}
		require.Failf(t, "no line", "%s in\n%s", label, tree)
		return ""
	}
	require.True(t, strings.HasSuffix(line("file tlp-dropper.exe"), "]"), "unmarked: no marker\n%s", tree)
	require.True(t, strings.HasSuffix(line("indicator TLP clear indicator"), "]"), "clear: no marker\n%s", tree)
	require.True(t, strings.HasSuffix(line("malware TLPStrictLocker"), "]  TLP:AMBER+STRICT"), tree)
	require.True(t, strings.HasSuffix(line("intrusion-set TLP Red Spider"), "]  TLP:RED"), tree)
	require.True(t, strings.HasSuffix(line("intrusion-set TLP Green Spider"), "]  TLP:GREEN"), tree)
	require.Equal(t, 3, strings.Count(tree, "TLP:"), tree)

	dot := runOK(t, db, "related", file.ID.String(), "--format", "dot")
	require.Contains(t, dot, `[label="malware\nTLPStrictLocker\nTLP:AMBER+STRICT", color="darkorange"];`)
	require.Contains(t, dot, `[label="intrusion-set\nTLP Red Spider\nTLP:RED", color="red"];`)
	require.Contains(t, dot, `[label="intrusion-set\nTLP Green Spider\nTLP:GREEN", color="red"];`)
	require.Contains(t, dot, `[label="indicator\nTLP clear indicator", color="blue"];`)
	require.Contains(t, dot, `[label="file\ntlp-dropper.exe", peripheries=2, color="darkgreen"];`)
	require.Equal(t, 3, strings.Count(dot, "TLP:"), dot)
}

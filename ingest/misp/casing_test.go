package misp

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// Feeds exported by tools other than MISP write attribute types and object
// relations in another case ("IP-DST", "Domain", "SHA256"). Before, such
// an attribute was an x-misp-attribute node keyed by its uuid, which no
// other feed naming the address met, and a file object's "Filename" no
// file name; now the type is read as its canonical MISP spelling ("AS"
// stays upper case, "as" is it too).
func TestAttributeTypesInAnotherCase(t *testing.T) {
	t.Parallel()
	sha := strings.ToLower(sha256a)
	cases := []struct {
		typ, value string
		node       graph.Node
	}{
		{"IP-DST", "198.51.100.20", graph.ValueNode(graph.KindIPv4Addr, "198.51.100.20")},
		{"Domain", "case.example", graph.ValueNode(graph.KindDomainName, "case.example")},
		{"SHA256", sha256a, graph.HashNode("SHA-256", sha)},
		{"Ip-Dst|Port", "198.51.100.21|443", graph.ValueNode(graph.KindIPv4Addr, "198.51.100.21")},
		{"as", "AS64500", asNode(t, 64500)},
		{" URL ", "http://case.example/x", graph.ValueNode(graph.KindURL, "http://case.example/x")},
	}
	var attrs []string
	for i, c := range cases {
		attrs = append(attrs, attr(u(500+i), c.typ, c.value))
	}
	file, _, _ := graph.FileNode(map[string]string{"SHA-256": sha}, "case.exe")
	object := `{"uuid": "` + u(600) + `", "name": "File", "timestamp": "1600000000", "Attribute": [` +
		`{"uuid": "` + u(601) + `", "type": "SHA256", "object_relation": "SHA256", "value": "` + sha256a + `"},` +
		`{"uuid": "` + u(602) + `", "type": "Filename", "object_relation": "Filename", "value": "case.exe"}]}`
	rep, sink, err := loadString(t, event(u(5), "case", attrs, `"Object": [`+object+`]`), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	ev, ok := sink.byAlias(alias(u(5)))
	require.True(t, ok)
	for i, c := range cases {
		n, ok := sink.byAlias(alias(u(500 + i)))
		require.True(t, ok, "%s: no node", c.typ)
		require.Equal(t, c.node.Kind, n.Kind, "%s", c.typ)
		require.Equal(t, c.node.ID, n.ID, "%s", c.typ)
		rel, ok := findRelation(sink, ev.Ref(), RelObject, n.Ref())
		require.True(t, ok)
		details := rel.Props[u(500+i)].(map[string]any)
		require.Equal(t, strings.ToLower(strings.TrimSpace(c.typ)), strings.ToLower(details["misp_type"].(string)))
	}
	obj, ok := sink.byAlias(alias(u(600)))
	require.True(t, ok)
	require.Equal(t, file.ID, obj.ID, "the file object is the file of its hash and name")
	require.Equal(t, "case.exe", obj.Name)
}

func asNode(t *testing.T, n int64) graph.Node {
	t.Helper()
	node, ok := graph.ObservableNode(string(graph.KindAutonomousSystem), map[string]any{"number": n})
	require.True(t, ok)
	return node
}

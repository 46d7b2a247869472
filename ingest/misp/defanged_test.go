package misp

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// Vendor reports and the feeds made from them write indicators defanged
// ("hxxp://evil[.]example/x", "198.51.100[.]9", "bad[at]evil[.]example").
// Before, a defanged url was a node of its own beside the fanged one, and a
// defanged domain, address or e-mail address was dropped (invalid-value).
// Now each is the node of the value refanged (graph.Refang); the link
// keeps the value as written (defanged_value).
func TestDefangedAttributeValues(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ, value string
		node       graph.Node
	}{
		{"url", "hxxp://evil[.]example/x", graph.ValueNode(graph.KindURL, "http://evil.example/x")},
		{"url", "hXXps[:]//evil[.]example/a[.]php", graph.ValueNode(graph.KindURL, "https://evil.example/a.php")},
		{"domain", "evil[.]example", graph.ValueNode(graph.KindDomainName, "evil.example")},
		{"hostname", "c2(.)evil{.}example", graph.ValueNode(graph.KindDomainName, "c2.evil.example")},
		{"domain", "dot[dot]evil[.]example", graph.ValueNode(graph.KindDomainName, "dot.evil.example")},
		{"ip-dst", "198.51.100[.]9", graph.ValueNode(graph.KindIPv4Addr, "198.51.100.9")},
		{"ip-src|port", "198.51.100[.]10|8080", graph.ValueNode(graph.KindIPv4Addr, "198.51.100.10")},
		{"email-src", "bad[at]evil[.]example", graph.ValueNode(graph.KindEmailAddr, "bad@evil.example")},
		{"email-dst", "worse[@]evil.example", graph.ValueNode(graph.KindEmailAddr, "worse@evil.example")},
		{"domain|ip", "evil[.]example|198.51.100[.]11", graph.ValueNode(graph.KindDomainName, "evil.example")},
	}
	var attrs []string
	for i, c := range cases {
		attrs = append(attrs, attr(u(800+i), c.typ, c.value))
	}
	// Fanged values are left as they are, whatever they hold.
	attrs = append(attrs, attr(u(850), "url", "http://plain.example/hxxp/a(.)b"))
	rep, sink, err := loadString(t, event(u(8), "defanged", attrs), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	ev, ok := sink.byAlias(alias(u(8)))
	require.True(t, ok)
	for i, c := range cases {
		n, ok := sink.byAlias(alias(u(800 + i)))
		require.True(t, ok, "%s %q: no node", c.typ, c.value)
		require.Equal(t, c.node.ID, n.ID, "%s %q: got %s", c.typ, c.value, n.Key)
		details := linkDetails(sink, ev.Ref(), n.Ref(), u(800+i))
		require.NotNil(t, details, "%s %q: event -object-> node", c.typ, c.value)
		require.Equal(t, c.value, details["defanged_value"], "%s %q", c.typ, c.value)
	}
	plain, ok := sink.byAlias(alias(u(850)))
	require.True(t, ok)
	require.Equal(t, "http://plain.example/hxxp/a(.)b", plain.Key)
	details := linkDetails(sink, ev.Ref(), plain.Ref(), u(850))
	require.NotNil(t, details)
	require.NotContains(t, details, "defanged_value")
	d := graph.ValueNode(graph.KindDomainName, "evil.example")
	require.True(t, hasRelation(sink, d.Ref(), RelResolvesTo, graph.ValueNode(graph.KindIPv4Addr, "198.51.100.11").Ref()))
}

// linkDetails returns the details of the attribute with uuid id on the
// event's link to node (several attributes may name one node).
func linkDetails(sink *captureSink, ev, node graph.Ref, id string) map[string]any {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	for _, r := range sink.relations {
		if r.Src == ev && r.Type == RelObject && r.Dst == node {
			if d, ok := r.Props[id].(map[string]any); ok {
				return d
			}
		}
	}
	return nil
}

package misp

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// A domain|ip whose address part holds several addresses, as feeds built
// by scripts write a domain's A records ("multi.example|198.51.100.1|
// 198.51.100.2", or separated by commas or spaces), was dropped
// (invalid-value): the domain and every address lost. Now the domain
// resolves to each address, as domain|ip with one does; a part that is no
// address still drops the attribute.
func TestDomainIPWithSeveralAddresses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		value, domain string
		ips           []graph.Node
	}{
		{"multi.example|198.51.100.1|198.51.100.2", "multi.example",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.1"), graph.ValueNode(graph.KindIPv4Addr, "198.51.100.2")}},
		{"comma.example|198.51.100.3, 198.51.100.4", "comma.example",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.3"), graph.ValueNode(graph.KindIPv4Addr, "198.51.100.4")}},
		{"space.example|198.51.100.5 2001:DB8::9", "space.example",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.5"), graph.ValueNode(graph.KindIPv6Addr, "2001:db8::9")}},
		{"semi.example|198.51.100.6;198.51.100.7", "semi.example",
			[]graph.Node{graph.ValueNode(graph.KindIPv4Addr, "198.51.100.6"), graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")}},
	}
	var attrs []string
	for i, c := range cases {
		attrs = append(attrs, attr(u(700+i), "domain|ip", c.value))
	}
	attrs = append(attrs, attr(u(799), "domain|ip", "bad.example|198.51.100.8|not-an-address"))
	rep, sink, err := loadString(t, event(u(7), "multi", attrs), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, int64(1), rep.Dropped[ReasonInvalidValue], "a part that is no address drops the attribute")
	for i, c := range cases {
		d, ok := sink.byAlias(alias(u(700 + i)))
		require.True(t, ok, "%q: no node", c.value)
		require.Equal(t, graph.ValueNode(graph.KindDomainName, c.domain).ID, d.ID, "%q", c.value)
		for _, ip := range c.ips {
			require.True(t, hasRelation(sink, d.Ref(), RelResolvesTo, ip.Ref()), "%q: %s resolves to %s", c.value, c.domain, ip.Key)
			_, ok := sink.byID(ip.Ref())
			require.True(t, ok, "%q: node %s", c.value, ip.Key)
		}
	}
}

package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestRefangUndoesDefangMarkers: defanged values as vendor reports write
// them are the node of the value they stand for; values without markers,
// and markers a real value of the kind may hold, are left alone.
func TestRefangUndoesDefangMarkers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind     graph.Kind
		in, want string // want: Refang's result
		normal   string // the node's key
	}{
		{graph.KindURL, "hxxp://evil[.]example/x", "http://evil.example/x", "http://evil.example/x"},
		{graph.KindURL, "hXXps://evil[.]example/a[.]php?q=1", "https://evil.example/a.php?q=1", "https://evil.example/a.php?q=1"},
		{graph.KindURL, "http[:]//evil[.]example", "http://evil.example", "http://evil.example/"},
		{graph.KindURL, "hxxps[://]evil(.)example{.}net[:]8443/x", "https://evil.example.net:8443/x", "https://evil.example.net:8443/x"},
		{graph.KindURL, "fxp://files[dot]evil[.]example/a", "ftp://files.evil.example/a", "ftp://files.evil.example/a"},
		{graph.KindURL, "evil[.]example/path", "evil.example/path", "evil.example/path"},
		{graph.KindURL, "hxxp://198.51.100[.]7/a(.)b", "http://198.51.100.7/a(.)b", "http://198.51.100.7/a(.)b"},
		{graph.KindDomainName, "evil[.]example", "evil.example", "evil.example"},
		{graph.KindDomainName, "evil(.)example", "evil.example", "evil.example"},
		{graph.KindDomainName, "evil{.}Example[DOT]com", "evil.Example.com", "evil.example.com"},
		{graph.KindDomainName, "a[[.]]example", "a.example", "a.example"}, // undone until nothing changes
		{graph.KindIPv4Addr, "198.51.100[.]7", "198.51.100.7", "198.51.100.7"},
		{graph.KindIPv4Addr, "198(.)51(.)100(.)7", "198.51.100.7", "198.51.100.7"},
		{graph.KindIPv6Addr, "2001:db8[:]1", "2001:db8:1", ""},
		{graph.KindEmailAddr, "bad[at]evil[.]example", "bad@evil.example", "bad@evil.example"},
		{graph.KindEmailAddr, "bad[@]evil.example", "bad@evil.example", "bad@evil.example"},
		{graph.KindEmailAddr, "john[.]doe(at)evil{.}example", "john.doe@evil.example", "john.doe@evil.example"},
		// No markers: as written.
		{graph.KindURL, " http://plain.example/hxxp/a(.)b ", " http://plain.example/hxxp/a(.)b ", "http://plain.example/hxxp/a(.)b"},
		{graph.KindURL, "http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x", "http://[2001:db8::1]:8080/x"},
		{graph.KindURL, "http://plain.example/search?q=[at]", "http://plain.example/search?q=[at]", "http://plain.example/search?q=[at]"},
		{graph.KindDomainName, "plain.example", "plain.example", "plain.example"},
		{graph.KindEmailAddr, "at@plain.example", "at@plain.example", "at@plain.example"},
		{graph.KindMutex, "Global\\evil[.]x", "Global\\evil[.]x", "Global\\evil[.]x"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, graph.Refang(c.kind, c.in), "%s %q", c.kind, c.in)
		if c.normal == "" {
			continue
		}
		n, err := graph.NormalizeValue(c.kind, c.in)
		require.NoError(t, err, "%s %q", c.kind, c.in)
		require.Equal(t, c.normal, n, "%s %q", c.kind, c.in)
		require.Equal(t, graph.ValueNode(c.kind, c.normal).ID, graph.ValueNode(c.kind, c.in).ID, "%s %q: the node of the fanged value", c.kind, c.in)
	}
}

package graph_test

import (
	"testing"

	"github.com/ransomeye/intel/graph"
)

// FuzzNormalizeIdempotent: every normaliser either rejects a value with
// ErrInvalidValue or returns one it maps to itself, so a value normalised
// by one source and again by another (or re-read from the store) keys the
// same node.
func FuzzNormalizeIdempotent(f *testing.F) {
	for _, s := range []string{
		"Server-1.OstDownload.xyz.", "Bücher.Example", "xn--bcher-kva.example", "HTTP://Evil.Example/a b.php",
		"evil.example/Some Path", "hxxp://bad[.]example", "::ffff:198.51.100.7", "2001:DB8::1", "10.0.0.0/8",
		"John@Evil.Example.", "5E:FF:56:A2:AF:15", "D41D8CD98F00B204E9800998ECF8427E", "", " ", "a..b", "\x00",
	} {
		f.Add(s)
	}
	kinds := []graph.Kind{graph.KindDomainName, graph.KindURL, graph.KindIPv4Addr, graph.KindIPv6Addr,
		graph.KindEmailAddr, graph.KindMACAddr, graph.KindMutex}
	f.Fuzz(func(t *testing.T, v string) {
		for _, k := range kinds {
			n, err := graph.NormalizeValue(k, v)
			if err != nil {
				continue
			}
			again, err := graph.NormalizeValue(k, n)
			if err != nil || again != n {
				t.Fatalf("%s %q: normalised %q, again %q (%v)", k, v, n, again, err)
			}
			if graph.ValueNode(k, v).ID != graph.ValueNode(k, n).ID {
				t.Fatalf("%s %q: node differs from that of its normal form %q", k, v, n)
			}
		}
		for _, alg := range []string{"MD5", "SHA-256", "SSDEEP", "TLSH"} {
			a, h, err := graph.NormalizeHash(alg, v)
			if err != nil {
				continue
			}
			a2, h2, err := graph.NormalizeHash(a, h)
			if err != nil || a2 != a || h2 != h {
				t.Fatalf("%s %q: normalised %s %q, again %s %q (%v)", alg, v, a, h, a2, h2, err)
			}
		}
	})
}

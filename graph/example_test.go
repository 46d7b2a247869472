package graph_test

import (
	"fmt"
	"time"

	"github.com/ransomeye/intel/graph"
)

// Two feeds report the same IP address: the merged node keeps the earliest
// first-seen, the latest last-seen, the highest confidence, the strictest
// TLP, both sources, and the name of the more confident record.
func ExampleMergeNode() {
	conf := func(n int) *int { return &n }
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

	a := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
	a.Name, a.Confidence, a.TLP, a.Sources = "c2 (vendor x)", conf(60), graph.TLPGreen, []string{"vendor-x"}
	a.FirstSeen, a.LastSeen = day(3), day(5)

	b := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
	b.Name, b.Confidence, b.TLP, b.Sources = "c2 (misp)", conf(85), graph.TLPAmber, []string{"misp-circl"}
	b.FirstSeen, b.LastSeen = day(1), day(4)

	m := graph.MergeNode(a, b)
	fmt.Println(m.Name, *m.Confidence, m.TLP, m.Sources)
	fmt.Println(m.FirstSeen.Format(time.DateOnly), m.LastSeen.Format(time.DateOnly))
	// Output:
	// c2 (misp) 85 amber [misp-circl vendor-x]
	// 2026-11-01 2026-11-05
}

// The same address gets the same STIX 2.1 deterministic id (UUIDv5 over the
// canonical JSON {"value":...}) whichever feed names it, so a MISP ip-dst
// and a STIX ipv4-addr--12592121-... are one node.
func ExampleValueNode() {
	n := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
	fmt.Println(n.Kind, n.Key, n.ID)
	d := graph.ValueNode(graph.KindDomainName, "evil.example")
	fmt.Println(d.Kind, d.Key, d.ID)
	// Output:
	// ipv4-addr 198.51.100.7 12592121-be4c-5a93-a813-5a5af16e50db
	// domain-name evil.example 69228563-c8d2-54ae-aeca-5f4134cb59aa
}

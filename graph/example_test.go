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

// The same address gets the same node whichever feed names it and however
// it is written: the id derives from the STIX 2.1 deterministic id
// (ipv4-addr--12592121-..., UUIDv5 over the canonical JSON {"value":...})
// of the normalised value, so a MISP ip-dst and a STIX ipv4-addr are one
// node, and "Evil.Example." is evil.example.
func ExampleValueNode() {
	n := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
	fmt.Println(n.Kind, n.Key, n.ID)
	d := graph.ValueNode(graph.KindDomainName, "Evil.Example.")
	fmt.Println(d.Kind, d.Key, d.ID)
	// Output:
	// ipv4-addr 198.51.100.7 59c00599-74e9-5c3b-a725-93ac0f0bb63d
	// domain-name evil.example b263e313-12bf-5278-b44b-746fa35f8ac7
}

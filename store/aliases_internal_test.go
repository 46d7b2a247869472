package store

import (
	"slices"
	"testing"

	"github.com/ransomeye/intel/graph"
)

// TestKeepWinningAliases checks that UpsertNodes' concurrent batches get
// the aliases one Write would write: a source id named by several nodes
// stays only with the smallest id of them (aliasRows' rule), and
// duplicates and empty aliases go.
func TestKeepWinningAliases(t *testing.T) {
	a, b, c := graph.ValueNode(graph.KindDomainName, "a.example"), graph.ValueNode(graph.KindDomainName, "b.example"), graph.ValueNode(graph.KindDomainName, "c.example")
	a.Aliases = []string{"shared", "own-a", "own-a", ""}
	b.Aliases = []string{"own-b"}
	c.Aliases = []string{"shared", "own-c"}
	nodes := graph.MergeNodes([]graph.Node{c, a, b})
	want := map[string][]string{}
	for _, r := range aliasRows(nodes) {
		for _, n := range nodes {
			if n.ID == r.nodeID {
				want[n.Key] = append(want[n.Key], r.sourceID)
			}
		}
	}
	got := map[string][]string{}
	for _, n := range keepWinningAliases(slices.Clone(nodes)) {
		if len(n.Aliases) > 0 {
			got[n.Key] = slices.Sorted(slices.Values(n.Aliases))
		}
	}
	for k := range want {
		slices.Sort(want[k])
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, w := range want {
		if !slices.Equal(got[k], w) {
			t.Errorf("%s: got %v, want %v", k, got[k], w)
		}
	}
	var namer string // the first node in id order naming "shared"
	for _, n := range nodes {
		if slices.Contains(n.Aliases, "shared") {
			namer = n.Key
			break
		}
	}
	if !slices.Contains(got[namer], "shared") || len(got) != 3 {
		t.Errorf("the shared alias is not with the smallest node id naming it (%s): %v", namer, got)
	}
	if !slices.Contains(a.Aliases, "") {
		t.Error("keepWinningAliases changed the caller's alias slice")
	}
}

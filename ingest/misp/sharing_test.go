package misp

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// testdata/misp/sharing_group_event.json is a MISP event shared with a
// sharing group (distribution 4 and the SharingGroup MISP gives beside
// it: name, uuid, releasability, as MISP's SharingGroup model has them),
// holding an attribute of its organisation only with correlation
// disabled, a to_ids attribute of another sharing group, and one
// inheriting the event's distribution (5) with "SharingGroup": [] (as
// Citizen Lab's MISP export writes it for every attribute: an attribute
// of no group is loaded, not dropped invalid-property).

// TestSharingRestrictionIsKept: who MISP lets see a record is kept with
// it: the event's distribution named and its sharing group's name, uuid
// and releasability on the event's node (what intel show prints); an
// attribute's own distribution, sharing group and disable_correlation on
// its own node (the to_ids domain's indicator) or, for a value's node
// shared by every record naming the value, on its event's link to it; an
// attribute inheriting its event's (5) states none. Before, the event
// kept "distribution": "4" (a code) and no sharing group, and an
// attribute's distribution, sharing group and disable_correlation were
// dropped without a word.
func TestSharingRestrictionIsKept(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join(testdata, "sharing_group_event.json"))
	require.NoError(t, err)
	rep, sink, err := loadString(t, string(raw), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)

	ev, ok := sink.byAlias("misp--5c0e0000-0000-4000-8000-000000000001")
	require.True(t, ok)
	require.Equal(t, "sharing group", ev.Props["distribution"])
	require.Equal(t, "CERT partners", ev.Props["sharing_group"])
	require.Equal(t, "5c0e0000-0000-4000-8000-0000000000aa", ev.Props["sharing_group_uuid"])
	require.Equal(t, "CERTs of the EU and their constituents", ev.Props["sharing_group_releasability"])
	require.NotContains(t, ev.Props, "disable_correlation")

	ind, ok := sink.byAlias(alias("5c0e0000-0000-4000-8000-000000000003"))
	require.True(t, ok)
	require.Equal(t, graph.KindIndicator, ind.Kind)
	require.Equal(t, "sharing group", ind.Props["distribution"])
	require.Equal(t, "Banking ISAC", ind.Props["sharing_group"])
	require.NotContains(t, ind.Props, "sharing_group_releasability", "empty: not kept")

	// A link's props are the attribute's details under its uuid.
	link := func(dst graph.Node, attr string) map[string]any {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for _, r := range sink.relations {
			if r.Src == ev.Ref() && r.Dst == dst.Ref() {
				d, _ := r.Props[attr].(map[string]any)
				return d
			}
		}
		t.Fatalf("no link to %s", dst.Key)
		return nil
	}
	ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.77")
	n, ok := sink.byID(ip.Ref())
	require.True(t, ok)
	require.NotContains(t, n.Props, "distribution", "the address's node is not the attribute's")
	props := link(ip, "5c0e0000-0000-4000-8000-000000000002")
	require.Equal(t, "your organisation only", props["distribution"])
	require.Equal(t, true, props["disable_correlation"])

	url := link(graph.ValueNode(graph.KindURL, "https://c2.example.net/a"), "5c0e0000-0000-4000-8000-000000000004")
	require.NotEmpty(t, url)
	require.NotContains(t, url, "distribution", "inherit event: the event's applies")
	require.NotContains(t, url, "disable_correlation")
}

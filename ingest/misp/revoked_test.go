package misp

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestRevokedClusterClaimsNoName: the ATT&CK galaxies keep a revoked group
// with a "related" revoked-by entry (mitre-intrusion-set.json, "APT34 -
// G0057" revoked by OilRig's cluster). Such a cluster is marked revoked,
// keeps its ATT&CK id alias and its revoked-by link, and claims no name,
// so "APT34" finds OilRig, as with ATT&CK's own STIX. The clusters of
// MITRE's galaxies carry the uuid of ATT&CK's STIX object: the link names
// OilRig by its STIX id, which its cluster carries too, so it meets
// whichever source gives OilRig.
func TestRevokedClusterClaimsNoName(t *testing.T) {
	t.Parallel()
	const oilrig = "4ca1929c-7d64-4aab-b849-badbfc0c760d"
	doc := `{"name":"Intrusion Set","type":"mitre-intrusion-set","uuid":"` + u(90) + `","values":[
	  {"value":"APT34 - G0057","uuid":"68ba94ab-78b8-43e7-83e2-aed3466882c6","meta":{"external_id":"G0057"},
	   "related":[{"dest-uuid":"` + oilrig + `","type":"revoked-by"}]},
	  {"value":"OilRig - G0049","uuid":"` + oilrig + `","meta":{"external_id":"G0049","synonyms":["OilRig","APT34"]}}]}`
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	apt34, ok := sink.byAlias("mitre-attack:G0057")
	require.True(t, ok)
	require.Equal(t, graph.LifecycleRevoked, apt34.Props[graph.PropLifecycle])
	require.NotContains(t, apt34.Aliases, "intrusion-set:apt34", "a revoked cluster claims no name")
	live, ok := sink.byAlias("intrusion-set:apt34")
	require.True(t, ok)
	require.Equal(t, "G0049", live.Key)
	require.Nil(t, live.Props[graph.PropLifecycle])
	var revokedBy bool
	for _, r := range sink.relations {
		revokedBy = revokedBy || (r.Src == apt34.Ref() && r.Type == graph.RelRevokedBy && r.Dst == graph.Ref("intrusion-set--"+oilrig))
	}
	require.True(t, revokedBy, "the revoked-by link is kept")
	require.Contains(t, live.Aliases, "intrusion-set--"+oilrig)
	require.Contains(t, live.Aliases, "misp--"+oilrig)
}

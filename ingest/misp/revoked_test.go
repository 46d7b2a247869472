package misp

import (
	"bytes"
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

// TestObjectLifecycleAttributeIsNoMark: an object attribute whose
// object_relation is "lifecycle" (the source's own property, here
// "revoked") is kept under graph.SourcePropKey("lifecycle") on the object's
// node, with a warning: it does not mark the node withdrawn.
func TestObjectLifecycleAttributeIsNoMark(t *testing.T) {
	t.Parallel()
	doc := `{"Event":{"uuid":"` + u(91) + `","info":"own lifecycle","date":"2024-01-01","timestamp":"1700000000",
	  "Object":[{"uuid":"` + u(92) + `","name":"vendor-status","meta-category":"misc","timestamp":"1700000000","Attribute":[
	    {"uuid":"` + u(93) + `","type":"text","object_relation":"lifecycle","value":"revoked","timestamp":"1700000000"},
	    {"uuid":"` + u(94) + `","type":"text","object_relation":"x_source_lifecycle","value":"kept","timestamp":"1700000000"}]}]}}`
	var buf bytes.Buffer
	rep, sink, err := loadString(t, doc, quiet(&buf))
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	obj, ok := sink.byAlias("misp--" + u(92))
	require.True(t, ok)
	require.Equal(t, graph.Kind(KindObjectPrefix+"vendor-status"), obj.Kind)
	require.Empty(t, graph.Lifecycle(obj.Props), "the source's own lifecycle is no mark")
	require.NotContains(t, obj.Props, graph.PropLifecycle)
	require.Equal(t, "revoked", obj.Props[graph.SourcePropKey(graph.PropLifecycle)])
	require.Equal(t, "kept", obj.Props["x_source_x_source_lifecycle"])
	require.Contains(t, buf.String(), `"property":"lifecycle"`)
}

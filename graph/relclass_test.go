package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

func TestRelationClasses(t *testing.T) {
	for rel, want := range map[string]graph.RelationClass{
		"indicates": graph.ClassIntelligence, graph.RelHasHash: graph.ClassIntelligence,
		"subtechnique-of": graph.ClassIntelligence, "object": graph.ClassContainment,
		"has-attribute": graph.ClassContainment, "created-by": graph.ClassProvenance,
		"x-mitre-modified-by": graph.ClassProvenance, "revoked-by": graph.ClassLifecycle,
	} {
		got, explicit := graph.ExplicitClass(rel)
		require.True(t, explicit, rel)
		require.Equal(t, want, got, rel)
	}
	got, explicit := graph.ExplicitClass("x-some-feed-link")
	require.False(t, explicit)
	require.Equal(t, graph.ClassIntelligence, got, "unknown names are intelligence")
	require.Less(t, graph.ClassIntelligence.Rank(), graph.ClassContainment.Rank())
	require.Less(t, graph.ClassContainment.Rank(), graph.ClassProvenance.Rank())
	require.Contains(t, graph.RelationsOfClass(graph.ClassProvenance), "created-by")
	require.NotContains(t, graph.RelationsOfClass(graph.ClassProvenance), "object")
}

func TestRelatedOptionsSkippedRelations(t *testing.T) {
	def := graph.RelatedOptions{}
	require.False(t, def.Walks("created-by"))
	require.False(t, def.Walks("revoked-by"))
	require.True(t, def.Walks("object"))
	require.True(t, def.Walks("x-unknown"))
	prov := graph.RelatedOptions{IncludeProvenance: true}
	require.True(t, prov.Walks("created-by"))
	require.False(t, prov.Walks("revoked-by"), "lifecycle stays out unless named")
	only := graph.RelatedOptions{Relations: []string{"revoked-by", "uses"}}
	require.True(t, only.Walks("revoked-by"))
	require.False(t, only.Walks("indicates"))
	excl := graph.RelatedOptions{ExcludeRelations: []string{"object"}}
	require.False(t, excl.Walks("object"))
	require.Contains(t, excl.SkippedRelations(), "created-by")
}

// TestRelationType: a relationship type written as words (Cortex XSOAR's
// "related to", "Related_To") is the hyphenated type STIX spells.
func TestRelationType(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"related-to": "related-to", "related to": "related-to", " Related_To ": "related-to",
		"related \t _ to": "related-to", "INDICATES": "indicates", "x-mitre-modified-by": "x-mitre-modified-by",
		"attributed\u00a0to": "attributed-to", " _ ": "", "": "",
	} {
		require.Equal(t, want, graph.RelationType(in), "%q", in)
	}
}

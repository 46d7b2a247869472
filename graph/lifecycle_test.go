package graph_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestLifecycleReadsStringBooleans: revoked and x_mitre_deprecated given as
// the strings "true"/"false" (any case) count as the booleans; any other
// value is not a lifecycle mark.
func TestLifecycleReadsStringBooleans(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		props map[string]any
		want  string
	}{
		{map[string]any{"revoked": true}, graph.LifecycleRevoked},
		{map[string]any{"revoked": "true"}, graph.LifecycleRevoked},
		{map[string]any{"revoked": "TRUE"}, graph.LifecycleRevoked},
		{map[string]any{"revoked": "False"}, ""},
		{map[string]any{"revoked": false}, ""},
		{map[string]any{"revoked": "yes"}, ""},
		{map[string]any{"revoked": " true"}, ""},
		{map[string]any{"revoked": 1.0}, ""},
		{map[string]any{"x_mitre_deprecated": "true"}, graph.LifecycleDeprecated},
		{map[string]any{"x_mitre_deprecated": "True"}, graph.LifecycleDeprecated},
		{map[string]any{"x_mitre_deprecated": "false"}, ""},
		{map[string]any{"x_mitre_deprecated": "true", "revoked": "true"}, graph.LifecycleRevoked},
		{map[string]any{graph.PropLifecycle: graph.LifecycleDeprecated}, graph.LifecycleDeprecated},
		{map[string]any{graph.PropLifecycle: "withdrawn"}, ""},
	} {
		require.Equal(t, c.want, graph.Lifecycle(c.props), "%v", c.props)
	}
	for _, v := range []any{true, false, "true", "FALSE", "tRuE"} {
		_, ok := graph.LifecycleFlag(v)
		require.True(t, ok, "%#v is a boolean", v)
	}
	for _, v := range []any{nil, "", "yes", "1", 1.0, []any{true}} {
		_, ok := graph.LifecycleFlag(v)
		require.False(t, ok, "%#v is not a boolean", v)
	}
}

// TestMoveReservedProps: a source's own property under a key the graph
// sets itself (graph.PropLifecycle) is kept under graph.SourcePropKey of
// it; keys already of that form move one step further, so no two source
// properties meet on one key; other keys stay.
func TestMoveReservedProps(t *testing.T) {
	t.Parallel()
	props := map[string]any{
		"name": "x", graph.PropLifecycle: "revoked", "x_source_lifecycle": "a", "x_source_x_source_lifecycle": "b",
		"x_source_name": "c", "Lifecycle": "d", "ambiguous_attack_ids": []any{"G0001"},
	}
	moved := graph.MoveReservedProps(props)
	require.ElementsMatch(t, []string{graph.PropLifecycle, "x_source_lifecycle", "x_source_x_source_lifecycle", "ambiguous_attack_ids"}, moved)
	require.Equal(t, map[string]any{
		"name": "x", "x_source_lifecycle": "revoked", "x_source_x_source_lifecycle": "a", "x_source_x_source_x_source_lifecycle": "b",
		"x_source_name": "c", "Lifecycle": "d", "x_source_ambiguous_attack_ids": []any{"G0001"},
	}, props)
	require.Empty(t, graph.Lifecycle(props), "a source's own lifecycle property is no mark")
	require.Nil(t, graph.MoveReservedProps(map[string]any{"revoked": true}), "revoked is the source's to say")
	require.Equal(t, "x_source_lifecycle", graph.SourcePropKey(graph.PropLifecycle))
	require.Equal(t, "description", graph.SourcePropKey("description"))
}

package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestRelatedSaysWhichCapCutIt: a walk a cap cut says which, in every
// format: the node cap (--max-nodes) and the fan-out cap (--fanout, nodes
// marked "cut"). Before, the tree said "the fan-out cap … or the node cap",
// JSON only "truncated", and DOT nothing at all when the node cap cut the
// walk (no node is marked there): the picture looked complete.
func TestRelatedSaysWhichCapCutIt(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("demo/hellokitty-ransomware.json"))
	start := "malware:Hello Kitty"

	var full graph.Neighbourhood
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", start, "--depth", "2", "--format", "json")), &full))
	require.False(t, full.Truncated)
	require.False(t, full.MaxNodesReached)
	require.Greater(t, len(full.Nodes), 5)
	require.NotContains(t, runOK(t, db, "related", start, "--depth", "2"), "truncated")
	require.NotContains(t, runOK(t, db, "related", start, "--depth", "2", "--format", "dot"), "truncated")

	// The node cap alone.
	var nb graph.Neighbourhood
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", start, "--depth", "2", "--max-nodes", "5", "--format", "json")), &nb))
	require.True(t, nb.Truncated)
	require.True(t, nb.MaxNodesReached)
	require.Len(t, nb.Nodes, 5)
	tree := runOK(t, db, "related", start, "--depth", "2", "--max-nodes", "5")
	require.Contains(t, tree, "(truncated: the node cap (--max-nodes 5) was reached: nodes beyond it are left out)")
	require.NotContains(t, tree, "fan-out")
	dot := runOK(t, db, "related", start, "--depth", "2", "--max-nodes", "5", "--format", "dot")
	require.Contains(t, dot, `label="truncated: the node cap (--max-nodes 5) was reached: nodes beyond it are left out";`)

	// The fan-out cap alone.
	nb = graph.Neighbourhood{}
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", start, "--depth", "1", "--fanout", "3", "--format", "json")), &nb))
	require.True(t, nb.Truncated)
	require.False(t, nb.MaxNodesReached)
	tree = runOK(t, db, "related", start, "--depth", "1", "--fanout", "3")
	require.Contains(t, tree, "(truncated: the fan-out cap (--fanout 3) cut the edges of 1 node, marked \"cut\")")
	require.NotContains(t, tree, "node cap")
	dot = runOK(t, db, "related", start, "--depth", "1", "--fanout", "3", "--format", "dot")
	require.Contains(t, dot, `label="truncated: the fan-out cap (--fanout 3) cut the edges of 1 node, marked \"cut\"";`)

	// Both.
	tree = runOK(t, db, "related", start, "--depth", "2", "--fanout", "3", "--max-nodes", "6")
	require.Regexp(t, `\(truncated: the fan-out cap \(--fanout 3\) cut the edges of \d+ nodes, marked "cut"; the node cap \(--max-nodes 6\) was reached: nodes beyond it are left out\)`, tree)
}

// TestRelatedKindsNoNodeHas: --kinds naming a kind no node has (a typo:
// malwar) is refused as a usage error when it is the only kind, and warned
// of when other kinds are named with it. Before, `--kinds malwar` answered
// with the start node alone, exit 0, as if nothing of that kind were
// related.
func TestRelatedKindsNoNodeHas(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("demo/hellokitty-ransomware.json"))
	start := "malware:Hello Kitty"
	_, stderr, code := runCLI(t, db, "related", start, "--kinds", "malwar")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, `--kinds: no node in the graph is of kind "malwar"`)
	out, stderr, code := runCLI(t, db, "related", start, "--kinds", "indicator,malwar")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, `--kinds: no node in the graph is of kind "malwar"`)
	require.Contains(t, out, "<-indicates- indicator .README_TO_RESTORE")
	_, stderr, code = runCLI(t, db, "related", start, "--kinds", "indicator")
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stderr, "--kinds")
}

// TestRelatedRelationsNoneHas: --relations naming a relation type that the
// project does not know and no stored relation or telemetry edge of the
// window has (a typo: usess) is refused as a usage error when it is the only
// one, and warned of beside types that exist; --exclude-relations warns of
// such a type (it excludes nothing). A type feeds made up (a MISP object
// reference's relationship_type) is taken as stored. Before, `--relations
// usess` answered with the start node alone, exit 0.
func TestRelatedRelationsNoneHas(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("demo/hellokitty-ransomware.json"))
	runOK(t, db, "ingest", "misp", testdata("adv/adv3-misp-tlp-events.json"))
	start := "malware:Hello Kitty"
	_, stderr, code := runCLI(t, db, "related", start, "--relations", "indicatez")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, `--relations: no relation in the graph is of type "indicatez"`)
	out, stderr, code := runCLI(t, db, "related", start, "--relations", "indicates,indicatez")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, `--relations: no relation in the graph is of type "indicatez"`)
	require.Contains(t, out, "<-indicates- indicator .README_TO_RESTORE")
	out, stderr, code = runCLI(t, db, "related", start, "--exclude-relations", "indicatez")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, `--exclude-relations: no relation in the graph is of type "indicatez"`)
	require.Contains(t, out, "<-indicates-")
	// Known to the project though none is stored, or made up by a feed.
	_, stderr, code = runCLI(t, db, "related", start, "--relations", "indicates,exploits")
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stderr, "--relations")
	_, stderr, code = runCLI(t, db, "related", "misp--3b3f0000-0000-4000-8000-000000000001", "--relations", "mentions")
	require.Equal(t, exitOK, code, stderr)
	require.NotContains(t, stderr, "--relations")
}

package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestSearchMarksWithdrawnNodes: search says which of its hits are revoked
// or deprecated, as show and related do, and lists the live ones first
// among equal matches. Before, `intel search EKANS` gave two exact "malware
// EKANS" hits, ATT&CK for ICS's deprecated S0017 and the live S0605, with
// nothing to tell them apart, and `intel search G0057` the revoked APT34 as
// if it were live.
func TestSearchMarksWithdrawnNodes(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("stix/ics-attack-18.1-withdrawn-names.json"))
	out := runOK(t, db, "search", "EKANS")
	require.Regexp(t, `(?m)^exact +ekans +malware EKANS +[0-9a-f-]+\n`+`exact +ekans +malware EKANS +DEPRECATED +[0-9a-f-]+$`, out)
	out = runOK(t, db, "search", "G0057")
	require.Regexp(t, `(?m)^exact +g0057 +intrusion-set APT34 +REVOKED +[0-9a-f-]+$`, out)
	var hits []graph.SearchHit
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "search", "EKANS", "--format", "json")), &hits))
	require.Len(t, hits, 2)
	require.Empty(t, hits[0].Withdrawn)
	require.Equal(t, graph.LifecycleDeprecated, hits[1].Withdrawn)
	require.Contains(t, runOK(t, db, "show", hits[0].ID.String()), "S0605")
}

// TestDOTMarksWithdrawnNodes: with --include-withdrawn the DOT graph marks
// a revoked or deprecated node as the tree does (REVOKED, DEPRECATED, drawn
// dotted). Before, the revoked APT34 (G0057) was drawn as a live intrusion
// set beside OilRig, which replaced it.
func TestDOTMarksWithdrawnNodes(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("stix/ics-attack-18.1-withdrawn-names.json"))
	tree := runOK(t, db, "related", "G0049", "--include-withdrawn", "--relations", "revoked-by")
	require.Contains(t, tree, "<-revoked-by- intrusion-set APT34")
	require.Contains(t, tree, "REVOKED")
	dot := runOK(t, db, "related", "G0049", "--include-withdrawn", "--relations", "revoked-by", "--format", "dot")
	require.Regexp(t, `\[label="intrusion-set\\nAPT34\\nREVOKED", style="rounded,dotted"`, dot)
	require.Regexp(t, `\[label="intrusion-set\\nOilRig", peripheries=2`, dot)
	dot = runOK(t, db, "related", "S0605", "--include-withdrawn", "--format", "dot", "--depth", "0")
	require.NotContains(t, dot, "DEPRECATED")
}

// TestSearchKindsNoNodeHas: search --kinds naming only a kind no node has
// (malwar) is refused as related's is, instead of "no match"; beside a kind
// that exists it is warned of.
func TestSearchKindsNoNodeHas(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("stix/ics-attack-18.1-withdrawn-names.json"))
	_, stderr, code := runCLI(t, db, "search", "EKANS", "--kinds", "malwar")
	require.Equal(t, exitUsage, code, stderr)
	require.Contains(t, stderr, `--kinds: no node in the graph is of kind "malwar"`)
	out, stderr, code := runCLI(t, db, "search", "EKANS", "--kinds", "malware,malwar")
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stderr, `--kinds: no node in the graph is of kind "malwar"`)
	require.Contains(t, out, "malware EKANS")
}

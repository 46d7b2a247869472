package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// loadNamedGraph adds to loadSmallGraph's graph an intrusion set with
// aliases and an ATT&CK id, a revoked copy, a report holding the malware
// and the identity that created both.
func loadNamedGraph(t *testing.T, dsn string) (file graph.Node, set graph.Node) {
	t.Helper()
	file = loadSmallGraph(t, dsn)
	st := store.NewStore(pgtest.PoolFor(t, dsn))
	set = graph.NamedNode(graph.KindIntrusionSet, "Bitwise Spider")
	set.Aliases = []string{"intrusion-set--0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0"}
	set.Props = map[string]any{"aliases": []any{"Wizard Spider"},
		"external_references": []any{map[string]any{"source_name": "mitre-attack", "external_id": "G9999"}}}
	old := graph.NamedNode(graph.KindIntrusionSet, "Bitwise Spider (old)")
	old.Props = map[string]any{"revoked": true}
	malware := graph.NamedNode(graph.KindMalware, "LockBit")
	report := graph.SourceNode(graph.KindReport, "misp--11111111-2222-4333-8444-555555555555")
	report.Name = "LockBit campaign"
	eset := graph.SourceNode(graph.KindIdentity, "identity--99999999-2222-4333-8444-555555555555")
	eset.Name = "ESET"
	_, err := st.Write(context.Background(), graph.Batch{Nodes: []graph.Node{set, old, report, eset}, Relations: []graph.Relation{
		{Src: old.Ref(), Type: "revoked-by", Dst: set.Ref()},
		{Src: report.Ref(), Type: "object", Dst: malware.Ref(), IDs: []string{"relationship--7e57a1d0-0000-4000-8000-000000000001"}},
		{Src: report.Ref(), Type: "created-by", Dst: eset.Ref()},
		{Src: set.Ref(), Type: "created-by", Dst: eset.Ref()},
	}})
	require.NoError(t, err)
	return file, set
}

func TestShowSearchAndWalkFlags(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	file, set := loadNamedGraph(t, dsn)
	db := "--database-url=" + dsn

	t.Run("show", func(t *testing.T) {
		t.Parallel()
		for _, ref := range []string{"intrusion-set:wizard spider", "intrusion-set:G9999", "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0", set.ID.String()} {
			out := runOK(t, db, "show", ref)
			require.Regexp(t, `(?m)^id: +`+set.ID.String()+`$`, out, ref)
			require.Regexp(t, `(?m)^aliases: +Wizard Spider$`, out)
			require.Regexp(t, `(?m)^external id: +mitre-attack G9999$`, out)
			require.Regexp(t, `(?m)^source id: +intrusion-set--0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0$`, out)
			require.Regexp(t, `(?m)^lifecycle: +live$`, out)
			require.Regexp(t, `(?m)^degree: +intelligence 1, containment 0, provenance 1, lifecycle 1$`, out)
		}
		// A revoked object resolves to its replacement, and says so.
		out, stderr, code := runCLI(t, db, "show", "intrusion-set:Bitwise Spider (old)")
		require.Equal(t, 0, code, stderr)
		require.Regexp(t, `(?m)^note: +Bitwise Spider \(old\) revoked by Bitwise Spider$`, out)
		require.Regexp(t, `(?m)^id: +`+set.ID.String()+`$`, out)
		require.Regexp(t, `(?m)^lifecycle: +live$`, out)
		require.Regexp(t, `(?m)^replaces: +intrusion-set Bitwise Spider \(old\) \(bitwise spider \(old\)\) \[`, out)
		require.Contains(t, stderr, "intel: Bitwise Spider (old) revoked by Bitwise Spider; using the replacement intrusion-set Bitwise Spider")
		out, stderr, code = runCLI(t, db, "related", "intrusion-set:Bitwise Spider (old)", "--format", "json")
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "revoked by Bitwise Spider; using the replacement")
		require.Contains(t, out, set.ID.String())
		var replaced graph.NodeDetails
		require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "show", "intrusion-set:Bitwise Spider (old)", "--format", "json")), &replaced))
		require.Equal(t, set.ID, replaced.Node.ID)
		require.Equal(t, "Bitwise Spider (old) revoked by Bitwise Spider", replaced.Note)
		require.Len(t, replaced.ResolvedFrom, 1)
		var d graph.NodeDetails
		require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "show", "file:invoice.exe", "--format", "json")), &d))
		require.Equal(t, file.ID, d.Node.ID, "file:name finds a file keyed by its hash")
		require.EqualValues(t, 1, d.Degree[graph.ClassIntelligence])
		out = runOK(t, db, "show", "relationship--7e57a1d0-0000-4000-8000-000000000001")
		require.Regexp(t, `(?m)^relation: +object$`, out)
		require.Regexp(t, `(?m)^source: +report LockBit campaign \[`, out)
		require.Regexp(t, `(?m)^target: +malware LockBit \[`, out)
		_, stderr, code = runCLI(t, db, "show", "relationship--7e57a1d0-0000-4000-8000-000000000002")
		require.Equal(t, exitNotFound, code)
		require.Contains(t, stderr, "not found")
		_, stderr, code = runCLI(t, db, "show", "intrusion-set:nobody")
		require.Equal(t, exitNotFound, code)
		require.Contains(t, stderr, "not found")
	})
	t.Run("search", func(t *testing.T) {
		t.Parallel()
		out := runOK(t, db, "search", "wizard")
		require.Regexp(t, `(?m)^prefix +wizard spider +intrusion-set Bitwise Spider +`+set.ID.String()+`$`, out)
		out = runOK(t, db, "search", "lokbit")
		require.Regexp(t, `(?m)^fuzzy 0\.\d+ +lockbit +malware LockBit`, out)
		require.Contains(t, runOK(t, db, "search", "lokbit", "--exact"), "no match")
		var hits []graph.SearchHit
		require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "search", "bitwise", "--format", "json", "--limit", "1")), &hits))
		require.Len(t, hits, 1)
		_, stderr, code := runCLI(t, db, "search", "x", "--limit", "0")
		require.Equal(t, exitUsage, code, stderr)
	})
	t.Run("related default skips provenance", func(t *testing.T) {
		t.Parallel()
		tree := runOK(t, db, "related", "file:invoice.exe")
		require.Contains(t, tree, "<-object- report LockBit campaign")
		require.NotContains(t, tree, "ESET")
		require.NotContains(t, tree, "(old)", "revoked-by is not walked")
		require.NotContains(t, runOK(t, db, "related", "file:invoice.exe", "--depth", "5"), "ESET")
		tree = runOK(t, db, "related", "file:invoice.exe", "--include-provenance", "--depth", "5")
		require.Contains(t, tree, "-created-by-> identity ESET")
		tree = runOK(t, db, "related", "file:invoice.exe", "--kinds", "hash,indicator")
		require.Len(t, strings.Split(strings.TrimSpace(tree), "\n"), 3, tree)
		tree = runOK(t, db, "related", "file:invoice.exe", "--exclude-relations", "indicates")
		require.NotContains(t, tree, "LockBit")
		tree = runOK(t, db, "related", "intrusion-set:G9999", "--relations", "revoked-by")
		require.NotContains(t, tree, "(old)", "a revoked node is not returned without --include-withdrawn")
		tree = runOK(t, db, "related", "intrusion-set:G9999", "--relations", "revoked-by", "--include-withdrawn")
		require.Contains(t, tree, "<-revoked-by- intrusion-set Bitwise Spider (old)")
		require.Contains(t, tree, "REVOKED", "and is marked with it")
	})
	t.Run("related shows cut nodes", func(t *testing.T) {
		t.Parallel()
		tree := runOK(t, db, "related", "malware:lockbit", "--fanout", "1")
		require.Contains(t, tree, "malware LockBit  ["+graph.NamedNode(graph.KindMalware, "LockBit").ID.String()+"]  (cut 2 of 3 edges)")
		require.Contains(t, tree, "(truncated:")
		var nb graph.Neighbourhood
		require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", "malware:lockbit", "--fanout", "1", "--format", "json")), &nb))
		require.Equal(t, 3, nb.Nodes[0].Degree)
		require.Equal(t, 2, nb.Nodes[0].EdgesCut)
		require.Equal(t, "attributed-to", nb.Nodes[1].Via.Relation, "intelligence before containment under the cap")
	})
	t.Run("help", func(t *testing.T) {
		t.Parallel()
		for _, c := range []string{"show", "search"} {
			require.Contains(t, runOK(t, c, "--help"), "Examples:")
		}
	})
}

// TestShowSaysWhatANewerVersionSuperseded: show gives the newest version
// stored of each source id and counts the links from the node only older
// versions state (kept, not walked), which it said nothing of: a link
// missing from the walk looked as if no source had ever given it
// (testdata/adv/misp-reload: v2 deleted .150 and changed .151 to .152;
// both to_ids attributes, so the event links their indicators: the deleted
// attribute's link is superseded, and the changed one's indicator still
// stands, its based-on link to .151 superseded).
func TestShowSaysWhatANewerVersionSuperseded(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	for _, v := range []string{"v2", "v1"} {
		runOK(t, db, "ingest", "misp", "../../testdata/adv/misp-reload-"+v+".json")
	}
	out := runOK(t, db, "show", "misp--5e1f0000-0000-4000-8000-e00000000010")
	require.Regexp(t, `(?m)^source id: +misp--5e1f0000-0000-4000-8000-e00000000010  \(misp-reload-v\d\)  newest version 2023-11-16T02:00:00Z$`, out)
	require.Regexp(t, `(?m)^superseded: +-object-> 1 \(stated only by older versions of its objects; kept, not walked\)$`, out)
	var d graph.NodeDetails
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "show", "misp--5e1f0000-0000-4000-8000-e00000000010", "--format", "json")), &d))
	require.Equal(t, []graph.RelationDegree{{Relation: "object", Class: graph.ClassOf("object"), Direction: "out", Edges: 1}}, d.Superseded)
	out = runOK(t, db, "show", "misp--5e1f0000-0000-4000-8000-000000000802")
	require.Regexp(t, `(?m)^superseded: +-based-on-> 1 \(stated only by older versions of its objects; kept, not walked\)$`, out)
}

// TestShowFindsTheLiveClaimantOfAName: ATT&CK deprecates S9901 in a newer
// version (testdata/adv/adv3-deprecated-alias), whose older version shared
// the name "Adv3Shared" with the live S9902: show finds S9902 by the name
// (it refused it as ambiguous) and says who else claimed it.
func TestShowFindsTheLiveClaimantOfAName(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	for _, v := range []string{"v1", "v2"} {
		runOK(t, db, "ingest", "stix", "../../testdata/adv/adv3-deprecated-alias-"+v+".json")
	}
	out := runOK(t, db, "show", "Adv3Shared")
	require.Regexp(t, `(?m)^key: +S9902$`, out)
	require.Regexp(t, `(?m)^alias: +malware:adv3shared, also claimed by withdrawn malware Adv3Old \(S9901\) \[[0-9a-f-]+\] \(not counted: the name is this one's\)$`, out)
	require.NotContains(t, out, "ambiguous alias")
	var d graph.NodeDetails
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "show", "malware:Adv3Shared", "--format", "json")), &d))
	require.Equal(t, "S9902", d.Node.Key)
	require.Len(t, d.WithdrawnClaims, 1)
}

// TestRelatedPathsTo asks which actor is behind a file: --kinds
// intrusion-set keeps the walk to intrusion sets (none is next to the
// file), --paths-to walks every kind and keeps only the chain to the
// intrusion set (not the report holding the malware), in every format.
func TestRelatedPathsTo(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	file, _ := loadNamedGraph(t, dsn)
	db := "--database-url=" + dsn

	kinds := runOK(t, db, "related", file.ID.String(), "--kinds", "intrusion-set")
	require.NotContains(t, kinds, "Bitwise Spider", "--kinds walks only through intrusion sets")

	// threat-actor names the intrusion set too: one actor entity.
	for _, kind := range []string{"intrusion-set", "threat-actor,malware"} {
		tree := runOK(t, db, "related", file.ID.String(), "--paths-to", kind)
		lines := strings.Split(strings.TrimSuffix(tree, "\n"), "\n")
		require.Len(t, lines, 5, tree)
		require.True(t, strings.HasPrefix(lines[4], "         └─ -attributed-to-> intrusion-set Bitwise Spider  ["), tree)
		require.NotContains(t, tree, "report", "the report is on no path to an intrusion set")
	}

	var nb struct {
		Nodes []struct {
			Kind string `json:"kind"`
		} `json:"nodes"`
		Edges   []json.RawMessage `json:"edges"`
		PathsTo []string          `json:"paths_to"`
	}
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", file.ID.String(), "--paths-to", "malware", "--format", "json")), &nb))
	require.Equal(t, []string{"malware"}, nb.PathsTo)
	var got []string
	for _, n := range nb.Nodes {
		got = append(got, n.Kind)
	}
	require.Equal(t, []string{"file", "hash", "indicator", "malware"}, got)
	require.Len(t, nb.Edges, 3)

	_, stderr, code := runCLI(t, db, "related", file.ID.String(), "--paths-to", "malware", "--depth", "2")
	require.Equal(t, 0, code)
	require.Contains(t, stderr, "no node of kind malware within 2 hops")
	_, stderr, code = runCLI(t, db, "related", file.ID.String(), "--paths-to", "malwar")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `--paths-to: no node in the graph is of kind "malwar"`)
}

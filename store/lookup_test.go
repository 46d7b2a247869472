package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// lookupGraph writes nodes named in every way ResolveNode and Search read.
func lookupGraph(t *testing.T, b *testBundle) map[string]graph.Node {
	t.Helper()
	apt28 := graph.NamedNode(graph.KindIntrusionSet, "APT28")
	apt28.Aliases = []string{"intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"}
	apt28.Props = map[string]any{
		"aliases":             []any{"APT28", "Sofacy", "Fancy Bear"},
		"external_references": []any{map[string]any{"source_name": "mitre-attack", "external_id": "G0007", "url": "https://attack.mitre.org/groups/G0007"}},
	}
	// Intrusion sets and threat actors are one entity (graph identity), so
	// the other "APT28" is a tool of that name.
	actor := graph.NamedNode(graph.KindTool, "APT28")
	actor.Props = map[string]any{"synonyms": []any{"Strontium"}}
	rabbit := graph.NamedNode(graph.KindMalware, "Bad Rabbit")
	rabbit.Aliases = []string{"misp--5a1e4a7f-0c94-4b6e-9b35-41a2c0a80164"}
	rabbit.Props = map[string]any{"external_references": []any{map[string]any{"source_name": "mitre-attack", "external_id": "S0606"}}}
	oldRabbit := graph.NamedNode(graph.KindMalware, "Bad Rabbit (ICS)")
	oldRabbit.Props = map[string]any{"x_mitre_deprecated": true, "revoked": true,
		"external_references": []any{map[string]any{"source_name": "mitre-attack", "external_id": "S1001"}}}
	file := graph.Node{ID: graph.NamedID(graph.KindFile, "sha256-of-invoice"), Kind: graph.KindFile, Key: "sha256-of-invoice", Name: "invoice.exe"}
	ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
	nodes := []graph.Node{apt28, actor, rabbit, oldRabbit, file, ip}
	rels := []graph.Relation{
		{Src: oldRabbit.Ref(), Type: "revoked-by", Dst: rabbit.Ref()},
		{Src: apt28.Ref(), Type: "uses", Dst: rabbit.Ref()},
		{Src: apt28.Ref(), Type: "created-by", Dst: actor.Ref()},
		{Src: apt28.Ref(), Type: "attributed-to", Dst: actor.Ref()},
	}
	_, err := b.store.Write(context.Background(), graph.Batch{Nodes: nodes, Relations: rels})
	require.NoError(t, err)
	return map[string]graph.Node{"apt28": apt28, "actor": actor, "rabbit": rabbit, "old": oldRabbit, "file": file, "ip": ip}
}

func TestResolveNodeAcceptsEveryRefForm(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	n := lookupGraph(t, b)
	for ref, want := range map[string]string{
		n["apt28"].ID.String():                                "apt28",
		graph.NodeRef(n["rabbit"].ID).String():                "rabbit",
		"intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c": "apt28", // source id as written
		"bef4c620-0787-42a8-a96d-b7eb6e85917c":                "apt28", // without its type prefix
		"misp--5a1e4a7f-0c94-4b6e-9b35-41a2c0a80164":          "rabbit",
		"5a1e4a7f-0c94-4b6e-9b35-41a2c0a80164":                "rabbit", // a bare MISP uuid
		"intrusion-set:apt28":                                 "apt28",  // kind:key
		"malware:Bad Rabbit":                                  "rabbit",
		"ipv4-addr:198.51.100.7":                              "ip",
		"intrusion-set:Sofacy":                                "apt28", // kind:alias
		"intrusion-set:fancy bear":                            "apt28",
		"tool:strontium":                                      "actor", // MISP synonym
		"intrusion-set:G0007":                                 "apt28", // kind:external-id
		"malware:S0606":                                       "rabbit",
		"malware:s1001":                                       "rabbit", // revoked by S0606
		"file:invoice.exe":                                    "file",   // a file keyed by its hash, by name
		"G0007":                                               "apt28",  // an external id alone
		"  sofacy ":                                           "apt28",
	} {
		got, err := b.store.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, n[want].ID, got.ID, ref)
	}

	_, err := b.store.ResolveNode(ctx, "apt28")
	require.ErrorIs(t, err, store.ErrAmbiguous, "an intrusion set and a tool are called APT28")
	require.ErrorContains(t, err, "2 candidates")
	require.ErrorContains(t, err, "intrusion-set APT28 ["+n["apt28"].ID.String()+"]")
	require.ErrorContains(t, err, "tool APT28 ["+n["actor"].ID.String()+"]")
	for _, ref := range []string{"malware:S9999", "9d9f7d3e-1111-4222-8333-444455556666", "no such thing", "", "intrusion-set:%", "intrusion-set:_ofacy"} {
		_, err := b.store.ResolveNode(ctx, ref)
		require.ErrorIs(t, err, store.ErrNotFound, "%q", ref)
	}

	// A kind:key naming no node of its kind but one of another says which.
	_, err = b.store.ResolveNode(ctx, "malware:invoice.exe")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorContains(t, err, "(a file node has it: file:sha256-of-invoice ["+n["file"].ID.String()+"])")
	_, err = b.store.ResolveNode(ctx, "malware:apt28")
	require.ErrorIs(t, err, store.ErrNotFound)
	require.NotContains(t, err.Error(), "node has it", "two nodes are called APT28: no single hint")
}

func TestSearchPrefixAndFuzzy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	n := lookupGraph(t, b)
	ids := func(hits []graph.SearchHit) map[string]string {
		out := map[string]string{}
		for _, h := range hits {
			for name, node := range n {
				if node.ID == h.ID {
					out[name] = h.Match + ":" + h.Matched
				}
			}
		}
		return out
	}
	hits, err := b.store.Search(ctx, "Sofa", graph.SearchOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"apt28": "prefix:sofacy"}, ids(hits))

	hits, err = b.store.Search(ctx, "apt28", graph.SearchOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"apt28": "exact:apt28", "actor": "exact:apt28"}, ids(hits))

	hits, err = b.store.Search(ctx, "s06", graph.SearchOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"rabbit": "prefix:s0606"}, ids(hits), "external ids are searched")

	hits, err = b.store.Search(ctx, "bad rabit", graph.SearchOptions{})
	require.NoError(t, err)
	require.Contains(t, ids(hits), "rabbit", "a misspelling finds the name")
	require.Equal(t, "fuzzy", hits[0].Match)
	require.Greater(t, hits[0].Similarity, 0.5)

	hits, err = b.store.Search(ctx, "bad rabit", graph.SearchOptions{Exact: true})
	require.NoError(t, err)
	require.Empty(t, hits, "no fuzzy match when exact")

	hits, err = b.store.Search(ctx, "fancy bare", graph.SearchOptions{})
	require.NoError(t, err)
	require.Contains(t, ids(hits), "apt28")

	hits, err = b.store.Search(ctx, "bad rabbit", graph.SearchOptions{Limit: 1})
	require.NoError(t, err)
	require.Len(t, hits, 1)
	require.Equal(t, n["rabbit"].ID, hits[0].ID, "the exact match comes first")

	hits, err = b.store.Search(ctx, "apt28", graph.SearchOptions{Kinds: []graph.Kind{graph.KindTool}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"actor": "exact:apt28"}, ids(hits))

	_, err = b.store.Search(ctx, "  ", graph.SearchOptions{})
	require.Error(t, err)

	// The search uses the trigram index.
	var plan string
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`) // a handful of rows: make the planner show the index
	require.NoError(t, err)
	rows, err := tx.Query(ctx, `EXPLAIN SELECT id FROM nodes WHERE kind <> ALL (search_excluded_kinds()) AND node_lookup_names(name, key, props) LIKE '%'||E'\n'||'sofa%'`)
	require.NoError(t, err)
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan += line + "\n"
	}
	require.Contains(t, plan, "nodes_lookup_trgm")
}

// TestSearchLeavesOutTelemetryOnlyKinds: process instances (and
// connections) are not in the trigram index (migration 00017), so a
// search or a lookup by their name does not find them; their exact key
// and kind:key do, and the other kinds are searched as before.
func TestSearchLeavesOutTelemetryOnlyKinds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	n := lookupGraph(t, b)
	proc := graph.Node{ID: graph.NamedID(graph.KindProcess, "WS-0042:4242"), Kind: graph.KindProcess, Key: "WS-0042:4242", Name: "invoice.exe"}
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{proc}})
	require.NoError(t, err)

	var def string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT indexdef FROM pg_indexes WHERE indexname = 'nodes_lookup_trgm'`).Scan(&def))
	require.Contains(t, def, "WHERE (kind <> ALL (search_excluded_kinds()))", "the trigram index is partial")

	hits, err := b.store.Search(ctx, "invoice.exe", graph.SearchOptions{})
	require.NoError(t, err)
	require.Len(t, hits, 1, "by name: the file, not the process")
	require.Equal(t, n["file"].ID, hits[0].ID)

	for _, text := range []string{"WS-0042:4242", " WS-0042:4242 "} {
		hits, err = b.store.Search(ctx, text, graph.SearchOptions{})
		require.NoError(t, err)
		require.Len(t, hits, 1, "by exact key %q", text)
		require.Equal(t, proc.ID, hits[0].ID)
		require.Equal(t, "exact", hits[0].Match)
		require.Equal(t, "ws-0042:4242", hits[0].Matched)
	}
	hits, err = b.store.Search(ctx, "WS-0042:4242", graph.SearchOptions{Kinds: []graph.Kind{graph.KindFile}})
	require.NoError(t, err)
	require.Empty(t, hits, "the kinds filter applies to the key match too")
	hits, err = b.store.Search(ctx, "ws-0042:4242", graph.SearchOptions{})
	require.NoError(t, err)
	require.Empty(t, hits, "the key as stored: keys are case-sensitive")
	hits, err = b.store.Search(ctx, "WS-0042:42", graph.SearchOptions{})
	require.NoError(t, err)
	require.Empty(t, hits, "no prefix or fuzzy match on a left-out kind")

	got, err := b.store.ResolveNode(ctx, "process:WS-0042:4242")
	require.NoError(t, err)
	require.Equal(t, proc.ID, got.ID)
	_, err = b.store.ResolveNode(ctx, "process:invoice.exe")
	require.ErrorIs(t, err, store.ErrNotFound, "a process is not looked up by name")
}

func TestNodeDetails(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	n := lookupGraph(t, b)
	d, err := b.store.NodeDetails(ctx, n["apt28"].ID)
	require.NoError(t, err)
	require.Equal(t, []graph.SourceID{{ID: "intrusion-set--bef4c620-0787-42a8-a96d-b7eb6e85917c"}}, d.SourceIDs)
	require.Equal(t, []string{"Sofacy", "Fancy Bear"}, d.Names)
	require.Equal(t, []graph.ExternalID{{Source: "mitre-attack", ID: "G0007", URL: "https://attack.mitre.org/groups/G0007"}}, d.ExternalIDs)
	require.False(t, d.Revoked)
	require.Equal(t, map[graph.RelationClass]int64{graph.ClassIntelligence: 2, graph.ClassProvenance: 1}, d.Degree)
	require.Equal(t, graph.RelationDegree{Relation: "attributed-to", Class: graph.ClassIntelligence, Direction: "out", Edges: 1}, d.Relations[0])

	d, err = b.store.NodeDetails(ctx, n["old"].ID)
	require.NoError(t, err)
	require.True(t, d.Revoked)
	require.True(t, d.Deprecated)
	require.Len(t, d.RevokedBy, 1)
	require.Equal(t, n["rabbit"].ID, d.RevokedBy[0].ID)
	require.Equal(t, map[graph.RelationClass]int64{graph.ClassLifecycle: 1}, d.Degree)
}

// TestResolveNodeByABareHash: an analyst pastes the hash an alert or a
// report gives (`intel show 2f7059d7…`, `intel related <sha256>`), without
// the algorithm the node's key spells. Was: "not found" (exit 4) for a hash
// the graph holds, an MD5's 32 hex digits read as a uuid only; now a digest
// alone, or as hash:<digest>, is the hash node of each fixed-length
// algorithm of its length, ambiguous when two such nodes exist (an MD5 and
// an imphash of one value). Values modelled on PyMISP's HTML_event.json
// (corpus misp/pymisp/reportlab_HTML_event.json).
func TestResolveNodeByABareHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	const (
		md5    = "2f7059d7d6f7b5f3e9a8b1c2d3e4f5a6"
		sha1   = "0af6bde1ea1c6dc8c23b5a3e4b0c1e2f3a4b5c6d"
		sha256 = "a5ff5f86d8e2d43c8e5a73d0b2f43ccd6a7f1b1f7b8e3b0c7a9e5d4c3b2a1f0e"
		shared = "b1946ac92492d2347c6235b4d2611184"
	)
	nodes := []graph.Node{
		graph.HashNode("MD5", md5), graph.HashNode("SHA-1", sha1), graph.HashNode("SHA-256", sha256),
		graph.HashNode("MD5", shared), graph.HashNode("IMPHASH", shared),
	}
	_, err := b.store.Write(ctx, graph.Batch{Nodes: nodes})
	require.NoError(t, err)
	for ref, want := range map[string]graph.Node{
		md5:                            nodes[0],
		strings.ToUpper(md5):           nodes[0],
		sha1:                           nodes[1],
		" " + sha256 + " ":             nodes[2],
		"hash:" + sha256:               nodes[2],
		"hash:SHA-256:" + sha256:       nodes[2],
		"hash:" + strings.ToUpper(md5): nodes[0],
	} {
		got, err := b.store.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, want.ID, got.ID, ref)
	}
	_, err = b.store.ResolveNode(ctx, shared)
	require.ErrorIs(t, err, store.ErrAmbiguous, "an MD5 and an imphash of one value")
	require.ErrorContains(t, err, "2 candidates")
	for _, ref := range []string{strings.Repeat("c", 64), "hash:" + strings.Repeat("c", 40), strings.Repeat("c", 33)} {
		_, err := b.store.ResolveNode(ctx, ref)
		require.ErrorIs(t, err, store.ErrNotFound, ref)
	}
}

// TestValueWrittenOtherwiseNamesItsNode: an IoC pasted from a report as
// written there (defanged, upper case, internationalized, a URL alone, with
// its scheme's default port) names its node in show/related and is an
// exact search hit, as kind:value always did.
func TestValueWrittenOtherwiseNamesItsNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	domain := graph.ValueNode(graph.KindDomainName, "evil.example")
	idn := graph.ValueNode(graph.KindDomainName, "bücher.example")
	url := graph.ValueNode(graph.KindURL, "https://evil.example/Gate.php")
	ip := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7")
	v6 := graph.ValueNode(graph.KindIPv6Addr, "2001:db8::7")
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{domain, idn, url, ip, v6}})
	require.NoError(t, err)
	require.Equal(t, "xn--bcher-kva.example", idn.Key)
	for ref, want := range map[string]graph.Node{
		"evil[.]example":                      domain,
		"EVIL.EXAMPLE.":                       domain,
		"bücher.example":                      idn,
		"bu\u0308cher.example":                idn, // NFD, as macOS writes it
		"https://evil.example/Gate.php":       url, // a URL alone: not kind:key
		"hxxps://evil[.]example:443/Gate.php": url,
		"HTTPS://EVIL.EXAMPLE/Gate.php":       url,
		"198.51.100[.]7":                      ip,
		"2001:DB8:0:0:0:0:0:7":                v6,
		"domain-name:evil[.]example":          domain, // as before
	} {
		got, err := b.store.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, want.ID, got.ID, ref)
	}
	for _, ref := range []string{"hxxp://evil[.]example/Gate.php", "evil[.]example[.]org"} {
		_, err := b.store.ResolveNode(ctx, ref)
		require.ErrorIs(t, err, store.ErrNotFound, "%q: the scheme matters", ref)
	}

	for q, want := range map[string]graph.Node{"evil[.]example": domain, "bücher.example": idn, "198.51.100[.]7": ip} {
		hits, err := b.store.Search(ctx, q, graph.SearchOptions{})
		require.NoError(t, err)
		require.NotEmpty(t, hits, q)
		require.Equal(t, want.ID, hits[0].ID, q)
		require.Equal(t, "exact", hits[0].Match, q)
		for _, h := range hits[1:] {
			require.NotEqual(t, want.ID, h.ID, "%s: listed once", q)
		}
	}
	hits, err := b.store.Search(ctx, "evil[.]example", graph.SearchOptions{Kinds: []graph.Kind{graph.KindURL}})
	require.NoError(t, err)
	for _, h := range hits {
		require.Equal(t, graph.KindURL, h.Kind, "--kinds holds for the value's node too")
	}
}

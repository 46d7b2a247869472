package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestSearchFindsHashesByDigest: hash nodes, which telemetry writes by the
// ten thousand, are out of the trigram index (migration 00021) and found
// by their whole digest and by a prefix of at least 8 hex digits of it,
// with or without the algorithm, through nodes_hash_digest. A file keyed
// by its hashes keeps its name as an entry but not its JSON key; other
// JSON keys stay entries.
func TestSearchFindsHashesByDigest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	const sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	const md5 = "098f6bcd4621d373cade4e832627b4f6"
	file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": sha, "md5": md5}, "invoice.exe")
	// A SHA-1 that shares the SHA-256's first 8 digits: the algorithm tells them apart.
	other := graph.HashNode("SHA-1", sha[:8]+"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	_, err := b.store.Write(ctx, graph.Batch{Nodes: append([]graph.Node{file, other}, hashes...), Relations: rels})
	require.NoError(t, err)
	shaNode := graph.HashNode("SHA-256", sha)

	keys := func(text string, opts graph.SearchOptions) map[string]string {
		t.Helper()
		hits, err := b.store.Search(ctx, text, opts)
		require.NoError(t, err)
		got := map[string]string{}
		for _, h := range hits {
			got[h.Key] = h.Match
		}
		return got
	}
	require.Equal(t, map[string]string{shaNode.Key: "exact"}, keys(sha, graph.SearchOptions{}), "the whole digest")
	require.Equal(t, map[string]string{shaNode.Key: "exact"}, keys(" SHA-256:"+strings.ToUpper(sha), graph.SearchOptions{}), "the key, any case")
	require.Equal(t, map[string]string{shaNode.Key: "prefix", other.Key: "prefix"}, keys(sha[:8], graph.SearchOptions{Exact: true}), "an 8-digit prefix")
	require.Equal(t, map[string]string{shaNode.Key: "prefix"}, keys("sha256:"+sha[:12], graph.SearchOptions{}), "a prefix of one algorithm")
	require.Equal(t, map[string]string{"MD5:" + md5: "exact"}, keys("md5:"+md5, graph.SearchOptions{}))
	require.Empty(t, keys("md5:"+sha[:12], graph.SearchOptions{}), "another algorithm's digest")
	require.Empty(t, keys(sha[:7], graph.SearchOptions{Exact: true}), "7 digits are too few")
	require.Empty(t, keys(sha[1:20], graph.SearchOptions{Exact: true}), "not a part in the middle")
	require.Empty(t, keys(sha, graph.SearchOptions{Kinds: []graph.Kind{graph.KindFile}}), "the kinds filter applies")
	require.Equal(t, map[string]string{shaNode.Key: "exact"}, keys(sha, graph.SearchOptions{Kinds: []graph.Kind{graph.KindHash}}))

	// The file: by its name, not by its JSON key.
	require.Equal(t, map[string]string{file.Key: "exact"}, keys("invoice.exe", graph.SearchOptions{}))
	require.True(t, strings.HasPrefix(file.Key, "{"), "a file with hashes is keyed by canonical JSON: %s", file.Key)
	var names string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT node_lookup_names(name, key, props) FROM nodes WHERE id = $1`, file.ID).Scan(&names))
	require.Equal(t, "\ninvoice.exe\n", names)
	// Other JSON keys stay entries: a word of a software's key finds it.
	soft, ok := graph.ObservableNode("software", map[string]any{"name": "Agent", "vendor": "initech", "version": "1.2"})
	require.True(t, ok)
	require.True(t, strings.HasPrefix(soft.Key, "{") && soft.Name == "Agent", "keyed by JSON, named: %+v", soft)
	_, err = b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{soft}})
	require.NoError(t, err)
	require.Contains(t, keys("initech", graph.SearchOptions{}), soft.Key, "by a word of its key")

	// kind:key still resolves a hash, and the digest search uses its index.
	got, err := b.store.ResolveNode(ctx, "hash:sha256:"+sha)
	require.NoError(t, err)
	require.Equal(t, shaNode.ID, got.ID)
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `SET LOCAL enable_seqscan = off`) // a handful of rows: make the planner show the index
	require.NoError(t, err)
	require.Contains(t, queryPlan(t, tx, `EXPLAIN SELECT id FROM nodes WHERE kind = 'hash' AND hash_digest(key) COLLATE "C" >= '9f86d081' AND hash_digest(key) COLLATE "C" < '9f86d081~'`),
		"nodes_hash_digest")
}

// TestNodeLookupNamesIsInlined: node_lookup_names is evaluated for every
// new node the trigram index takes, and called as a SQL function it cost
// about 25 us a node; inlined it is an expression (migration 00021). A
// change that makes it a call again (a sub-select, a stable function such
// as concat_ws) fails here.
func TestNodeLookupNamesIsInlined(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NotContains(t, queryPlan(t, b.pool, `EXPLAIN VERBOSE SELECT node_lookup_names(name, key, props) FROM nodes`), "node_lookup_names(")
}

// queryPlan runs an EXPLAIN and returns its lines.
func queryPlan(t *testing.T, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, explain string) string {
	t.Helper()
	rows, err := db.Query(context.Background(), explain)
	require.NoError(t, err)
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return strings.Join(lines, "\n")
}

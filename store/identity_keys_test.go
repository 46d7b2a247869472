package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// identityUniverse returns records that exercise every input of the
// identity tables: entities claiming shared names, revoked-by chains (one
// a cycle) whose ends claim names of their own, name-keyed actors whose
// names one, two or no entity claims, one of them withdrawn by a later
// record, one withdrawn and live again, one naming ambiguous ATT&CK ids, and a revoked-by whose
// replacement only a later record gives (parked, then released).
func identityUniverse() (nodes []graph.Node, rels []graph.Relation) {
	g := func(i int, names ...string) graph.Node {
		return attackNode(graph.KindIntrusionSet, fmt.Sprintf("Group %d", i), fmt.Sprintf("G09%02d", i), names...)
	}
	groups := []graph.Node{
		g(1, "Alpha", "Beta"), g(2, "Beta"), g(3, "Gamma"), g(4, "Gamma", "Delta"),
		g(5, "Delta"), g(6, "Epsilon", "Omega"), g(7, "Zeta"), g(8, "Zeta"),
	}
	revoked := graph.NamedNode(graph.KindIntrusionSet, "Group 2", "G0902")
	revoked.Props = map[string]any{"revoked": true}
	nodes = append(nodes, groups...)
	nodes = append(nodes, revoked)
	by := func(a, b graph.Node) graph.Relation {
		return graph.Relation{Src: a.Ref(), Type: graph.RelRevokedBy, Dst: b.Ref()}
	}
	rels = append(rels, by(groups[1], groups[0]), by(groups[4], groups[3]), by(groups[3], groups[2]),
		by(groups[6], groups[7]), by(groups[7], groups[6]), by(groups[5], groups[4]))
	actor := func(name string, synonyms ...any) graph.Node {
		n := graph.NamedNode(graph.KindThreatActor, name)
		n.Props = map[string]any{"synonyms": synonyms}
		return n
	}
	gone := actor("Delta")
	gone.Props = map[string]any{"revoked": true}
	// Omega is withdrawn by one record and back by another: which wins
	// depends on the merge, whichever comes first.
	omegaGone, omegaBack := actor("Omega"), actor("Omega")
	omegaGone.Props = map[string]any{"revoked": true, "x_feed_rank": "a"}
	omegaBack.Props = map[string]any{"revoked": false}
	both := actor("Gamma", "Alpha")
	both.Props["ambiguous_attack_ids"] = []any{"G0903", "G0901"}
	nodes = append(nodes, actor("Alpha"), actor("Beta"), actor("Gamma"), actor("Delta", "Beta"), gone,
		actor("Epsilon", "Zeta"), actor("Omega"), omegaGone, omegaBack, actor("Zeta"), both)
	return nodes, rels
}

// identityBatches shuffles the universe with seed and cuts it into batches
// of one to five records.
func identityBatches(seed uint64) []graph.Batch {
	nodes, rels := identityUniverse()
	r := rand.New(rand.NewPCG(seed, 16))
	type item struct {
		n *graph.Node
		r *graph.Relation
	}
	var items []item
	for i := range nodes {
		items = append(items, item{n: &nodes[i]})
	}
	for i := range rels {
		items = append(items, item{r: &rels[i]})
	}
	r.Shuffle(len(items), func(i, j int) { items[i], items[j] = items[j], items[i] })
	var out []graph.Batch
	for len(items) > 0 {
		k := min(1+r.IntN(5), len(items))
		var b graph.Batch
		for _, it := range items[:k] {
			if it.n != nil {
				b.Nodes = append(b.Nodes, *it.n)
			} else {
				b.Relations = append(b.Relations, *it.r)
			}
		}
		out = append(out, b)
		items = items[k:]
	}
	return out
}

// wholeEntityRows recomputes node_entities and ambiguous_aliases from
// nothing (identity_refresh) in a transaction it rolls back, and returns
// them as entityRows does.
func wholeEntityRows(t *testing.T, b *testBundle) []string {
	t.Helper()
	ctx := context.Background()
	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	for _, q := range []string{`DELETE FROM node_entities`, `DELETE FROM ambiguous_aliases`, `SELECT identity_refresh()`} {
		_, err = tx.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	var out []string
	require.NoError(t, tx.QueryRow(ctx, `SELECT coalesce(array_agg(l), '{}') FROM (`+entityRowsQuery+`) AS x(l)`).Scan(&out))
	return out
}

// TestIdentityRefreshByKeysIsWhole: after every write, in any order and
// any cut into batches, the identity tables that writes keep by keys
// (identity_refresh_keys) are what recomputing them whole gives, and each
// write counts the aliases it made ambiguous.
func TestIdentityRefreshByKeysIsWhole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var first []string
	for seed := range uint64(6) {
		b := setup(t)
		ambiguous := map[string]bool{}
		for i, batch := range identityBatches(seed) {
			ws, err := b.store.Write(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, wholeEntityRows(t, b), entityRows(t, b), "seed %d, after batch %d", seed, i)
			var made int64
			now := map[string]bool{}
			for _, a := range lines(t, b, `SELECT alias FROM ambiguous_aliases`) {
				now[a] = true
				if !ambiguous[a] {
					made++
				}
			}
			require.Equal(t, made, ws.AliasesAmbiguous, "seed %d, batch %d: aliases that became ambiguous", seed, i)
			ambiguous = now
		}
		rows := entityRows(t, b)
		if first == nil {
			first = rows
			require.NotEmpty(t, lines(t, b, `SELECT node_id::text FROM node_entities WHERE reason = 'alias'`))
			require.NotEmpty(t, lines(t, b, `SELECT node_id::text FROM node_entities WHERE reason = 'ambiguous'`))
			require.NotEmpty(t, lines(t, b, `SELECT node_id::text FROM node_entities WHERE reason = 'revoked-by'`))
		}
		require.Equal(t, first, rows, "seed %d: the same in any order", seed)
	}
}

// TestIdentityRefreshByKeysConcurrent: batches written by four writers at
// once leave the identity tables as recomputing them whole gives, and
// every alias ambiguous at the end was counted.
func TestIdentityRefreshByKeysConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := range uint64(3) {
		b := setup(t)
		batches := identityBatches(seed + 100)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			made int64
			next = make(chan graph.Batch)
		)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for batch := range next {
					ws, err := b.store.Write(ctx, batch)
					if !assertNoError(t, err) {
						continue
					}
					mu.Lock()
					made += ws.AliasesAmbiguous
					mu.Unlock()
				}
			}()
		}
		for _, batch := range batches {
			next <- batch
		}
		close(next)
		wg.Wait()
		require.Equal(t, wholeEntityRows(t, b), entityRows(t, b), "seed %d", seed)
		require.GreaterOrEqual(t, made, int64(len(lines(t, b, `SELECT alias FROM ambiguous_aliases`))), "seed %d: ambiguous count", seed)
	}
}

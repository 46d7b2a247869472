package store_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/mergetest"
	"github.com/ransomeye/intel/store"
)

// TestSQLMergeIsGraphMerge holds the SQL upserts to graph.MergeNode and
// graph.MergeRelation: for 1,000 random pairs of node records and 1,000 of
// relation records (a third of them parked as pending first and released by
// the node that completes them, a quarter with the same props in both),
// writing a then b, and b then a, must each store exactly what
// MergeNode(a, b) (MergeRelation(a, b)) returns.
func TestSQLMergeIsGraphMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const pairs = 1000
	r := rand.New(rand.NewPCG(7, 8))
	ids := make([]uuid.UUID, pairs)
	var a, b []graph.Node
	var ra, rb []graph.Relation
	var late []graph.Node // endpoints that arrive after the relations, releasing them
	for i := range ids {
		ids[i] = graph.NamedID(graph.KindMalware, fmt.Sprintf("pair-%04d", i))
		a, b = append(a, mergetest.Node(r, ids[i])), append(b, mergetest.Node(r, ids[i]))
	}
	for i := range ids {
		src, dst := graph.NodeRef(ids[i]), graph.NodeRef(ids[(i+1)%pairs])
		if i%3 == 0 {
			alias := fmt.Sprintf("intrusion-set--pending-%04d", i)
			dst = graph.Ref(alias)
			n := graph.NamedNode(graph.KindIntrusionSet, alias)
			n.Aliases = []string{alias}
			late = append(late, n)
		}
		ra, rb = append(ra, mergetest.Relation(r, src, dst)), append(rb, mergetest.Relation(r, src, dst))
		if i%4 == 1 { // the same props at other times: merge_records' shortcut (migration 00035)
			rb[i].Props = maps.Clone(ra[i].Props)
		}
	}

	write := func(s *store.Store, nodes []graph.Node, rels []graph.Relation) {
		_, err := s.Write(ctx, graph.Batch{Nodes: nodes, Relations: rels})
		require.NoError(t, err)
	}
	for _, order := range []struct {
		name          string
		first, second int
	}{{"a then b", 0, 1}, {"b then a", 1, 0}} {
		t.Run(order.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			nodes, rels := [2][]graph.Node{a, b}, [2][]graph.Relation{ra, rb}
			write(tb.store, nodes[order.first], rels[order.first])
			write(tb.store, nodes[order.second], rels[order.second])
			write(tb.store, late, nil)

			gotNodes := readNodeViews(t, tb.pool)
			require.Len(t, gotNodes, pairs+len(late))
			for i, id := range ids {
				require.Equal(t, mergetest.NodeView(graph.MergeNode(a[i], b[i]), tb.now), gotNodes[id], "node pair %d", i)
			}
			gotRels := readRelationViews(t, tb.pool)
			require.Len(t, gotRels, pairs)
			var pending int
			require.NoError(t, tb.pool.QueryRow(ctx, "SELECT count(*) FROM pending_relations").Scan(&pending))
			require.Zero(t, pending, "the late endpoints released every pending relation")
			for i := range ra {
				key := fmt.Sprint(ids[i], "|", ids[(i+1)%pairs])
				if i%3 == 0 {
					key = fmt.Sprint(ids[i], "|", graph.NamedID(graph.KindIntrusionSet, fmt.Sprintf("intrusion-set--pending-%04d", i)))
				}
				require.Equal(t, mergetest.RelationView(graph.MergeRelation(ra[i], rb[i]), tb.now), gotRels[key], "relation pair %d", i)
			}
		})
	}
}

// readNodeViews reads every node in mergetest's normal form, by id.
func readNodeViews(t *testing.T, pool *pgxpool.Pool) map[uuid.UUID]mergetest.View {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id, name, props, labels, coalesce(confidence, -1), coalesce(tlp, ''),
		first_seen, last_seen, sources, name_rank, props_rank, props_key_ranks FROM nodes`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[uuid.UUID]mergetest.View{}
	for rows.Next() {
		var (
			id       uuid.UUID
			v        mergetest.View
			props    map[string]any
			keyRanks map[string]string
		)
		require.NoError(t, rows.Scan(&id, &v.Name, &props, &v.Labels, &v.Confidence, &v.TLP, &v.FirstSeen, &v.LastSeen,
			&v.Sources, &v.NameRank, &v.PropsRank, &keyRanks))
		v.Props, v.KeyRanks = mergetest.JSON(props), mergetest.JSON(keyRanks)
		v.FirstSeen, v.LastSeen = v.FirstSeen.UTC(), v.LastSeen.UTC()
		if len(v.Labels) == 0 {
			v.Labels = nil
		}
		if len(v.Sources) == 0 {
			v.Sources = nil
		}
		out[id] = v
	}
	require.NoError(t, rows.Err())
	return out
}

// readRelationViews reads every relation in mergetest's normal form, by
// "src_id|dst_id".
func readRelationViews(t *testing.T, pool *pgxpool.Pool) map[string]mergetest.View {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT src_id, dst_id, props, coalesce(confidence, -1),
		first_seen, last_seen, sources, props_rank, props_key_ranks FROM relations`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]mergetest.View{}
	for rows.Next() {
		var (
			src, dst uuid.UUID
			v        mergetest.View
			props    map[string]any
			keyRanks map[string]string
		)
		require.NoError(t, rows.Scan(&src, &dst, &props, &v.Confidence, &v.FirstSeen, &v.LastSeen, &v.Sources, &v.PropsRank, &keyRanks))
		v.Props, v.KeyRanks = mergetest.JSON(props), mergetest.JSON(keyRanks)
		v.FirstSeen, v.LastSeen = v.FirstSeen.UTC(), v.LastSeen.UTC()
		if len(v.Sources) == 0 {
			v.Sources = nil
		}
		out[fmt.Sprint(src, "|", dst)] = v
	}
	require.NoError(t, rows.Err())
	return out
}

// TestSQLRecordMergeIsGraphMerge holds the node_records path (migration
// 00042) to graph.MergeNode: for 300 random pairs of node records where a
// carries a version of one source object and b none (a writer without a
// version), or a version of another object, writing a then b and b then a
// must each store MergeNode(a, b): the node merged again from its records
// (NodeRemergeRecords) or merged into directly (NodeUpsertMany) is the
// same merge.
func TestSQLRecordMergeIsGraphMerge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const pairs = 300
	r := rand.New(rand.NewPCG(9, 10))
	v := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	ids := make([]uuid.UUID, pairs)
	var a, b []graph.Node
	for i := range ids {
		ids[i] = graph.NamedID(graph.KindMalware, fmt.Sprintf("recorded-pair-%04d", i))
		na, nb := mergetest.Node(r, ids[i]), mergetest.Node(r, ids[i])
		na.Versions = map[string]time.Time{fmt.Sprintf("malware--a-%04d", i): v}
		if i%2 == 1 {
			nb.Versions = map[string]time.Time{fmt.Sprintf("malware--b-%04d", i): v.Add(time.Duration(i) * time.Minute)}
		}
		a, b = append(a, na), append(b, nb)
	}
	for _, order := range []struct {
		name          string
		first, second int
	}{{"a then b", 0, 1}, {"b then a", 1, 0}} {
		t.Run(order.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			nodes := [2][]graph.Node{a, b}
			for _, i := range []int{order.first, order.second} {
				_, err := tb.store.Write(ctx, graph.Batch{Nodes: nodes[i]})
				require.NoError(t, err)
			}
			got := readNodeViews(t, tb.pool)
			require.Len(t, got, pairs)
			for i, id := range ids {
				require.Equal(t, mergetest.NodeView(graph.MergeNode(a[i], b[i]), tb.now), got[id], "node pair %d", i)
			}
		})
	}
}

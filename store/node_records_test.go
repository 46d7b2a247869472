package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/pguuid"
	"github.com/ransomeye/intel/store"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestNodeRecordsNewestVersionPerSource: one node given by two versions of
// one object (S), one version of another object (T) and a copy without a
// version (U), written in several orders, one batch at a time, all in one
// batch, and all at once by concurrent writers. The node is graph.MergeNode
// of S's newest version, T and U, whatever the order: S v1's higher
// confidence, its key only_v1, its label l1 and its TLP red are gone, T's
// and U's keys, labels and TLP stay (U, a writer without a version, wrote
// before, between and after the versions); node_records holds S at v2, T
// and U (”).
func TestNodeRecordsNewestVersionPerSource(t *testing.T) {
	t.Parallel()
	const s, tt = "malware--5e1f0000-0000-4000-8000-0000000a7301", "malware--5e1f0000-0000-4000-8000-0000000a7302"
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	rec := func(name string, alias string, versions map[string]time.Time, c *int, labels []string, props map[string]any) graph.Node {
		n := graph.NamedNode(graph.KindMalware, "NR Mal")
		n.Name = name
		if alias != "" {
			n.Aliases = []string{alias}
		}
		n.Versions, n.Confidence, n.Labels, n.Props, n.Sources = versions, c, labels, props, []string{"nr-feed"}
		n.FirstSeen, n.LastSeen = t1, t1 // timed: the dumps of two databases compare
		return n
	}
	sv1 := rec("NR Mal", s, map[string]time.Time{s: t1}, conf(90), []string{"l1", "kept"}, map[string]any{"a": "s1", "only_v1": true})
	sv1.TLP = graph.TLPRed
	sv2 := rec("NR Mal", s, map[string]time.Time{s: t2}, conf(10), []string{"kept"}, map[string]any{"a": "s2"})
	tv := rec("NR Mal", tt, map[string]time.Time{tt: t1}, conf(50), []string{"lt"}, map[string]any{"t": "x"})
	tv.TLP = graph.TLPGreen
	u := rec("", "", nil, nil, []string{"lu"}, map[string]any{"u": 1.0})
	want := graph.MergeNode(graph.MergeNode(sv2, tv), u)

	recs := []graph.Node{sv1, sv2, tv, u}
	orders := [][]int{{0, 1, 2, 3}, {1, 0, 2, 3}, {2, 3, 0, 1}, {3, 1, 2, 0}, {1, 2, 3, 0}, {0, 2, 3, 1}, {3, 0, 1, 2}, {0, 3, 1, 2}}
	var dumps []string
	check := func(b *testBundle, how string) {
		ctx := context.Background()
		var name string
		var props map[string]any
		var labels []string
		var confidence *int
		var tlp string
		var recorded bool
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT name, props, labels, confidence::int, coalesce(tlp, ''), recorded FROM nodes WHERE id = $1`, sv1.ID).
			Scan(&name, &props, &labels, &confidence, &tlp, &recorded))
		require.True(t, recorded, how)
		require.Equal(t, string(graph.TLPGreen), tlp, how)
		require.Equal(t, want.TLP, graph.TLP(tlp), how)
		require.Equal(t, want.Name, name, how)
		require.Equal(t, want.Props, props, how)
		require.Equal(t, want.Labels, labels, how)
		require.Equal(t, *want.Confidence, *confidence, how)
		require.NotContains(t, props, "only_v1", how)
		var rows []string
		r, err := b.pool.Query(ctx, `SELECT source_id, version FROM node_records WHERE node_id = $1 ORDER BY 1`, sv1.ID)
		require.NoError(t, err)
		for r.Next() {
			var src string
			var v time.Time
			require.NoError(t, r.Scan(&src, &v))
			rows = append(rows, fmt.Sprintf("%q %s", src, v.UTC().Format(time.RFC3339)))
		}
		require.NoError(t, r.Err())
		require.Equal(t, []string{`"" 0001-01-01T00:00:00Z`, `"` + s + `" 2024-01-02T00:00:00Z`, `"` + tt + `" 2024-01-01T00:00:00Z`}, rows, how)
		dumps = append(dumps, pgtest.Dump(t, b.pool, pgtest.GraphQueries...))
	}
	ctx := context.Background()
	for _, order := range orders {
		b := setup(t)
		for _, i := range order {
			_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{recs[i]}})
			require.NoError(t, err)
		}
		check(b, fmt.Sprintf("order %v", order))
	}
	b := setup(t)
	_, err := b.store.Write(ctx, graph.Batch{Nodes: recs})
	require.NoError(t, err)
	check(b, "one batch")
	b = setup(t)
	var wg sync.WaitGroup
	errs := make([]error, len(recs))
	for i := range recs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{recs[i]}})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	check(b, "concurrent writers")
	for i := 1; i < len(dumps); i++ {
		require.Equal(t, dumps[0], dumps[i], "case %d gives another graph", i)
	}
}

// sqlRecorder is a pgx tracer that keeps the SQL of every statement sent.
type sqlRecorder struct {
	mu  sync.Mutex
	sql []string
}

func (r *sqlRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	r.sql = append(r.sql, d.SQL)
	r.mu.Unlock()
	return ctx
}

func (r *sqlRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements sent since the last take that mention
// substr.
func (r *sqlRecorder) take(substr string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, q := range r.sql {
		if strings.Contains(q, substr) {
			out = append(out, q)
		}
	}
	r.sql = nil
	return out
}

// TestUnversionedNodesStayOffNodeRecords: nodes written only by records
// without a version (an endpoint, an observable, a MISP attribute) are
// written by one NodeUpsertMany per batch and no statement names
// node_records, inserted or merged; their rows stay not recorded. Once a
// versioned record came to one of them, an unversioned write to that node
// writes its ” record too (and only then).
func TestUnversionedNodesStayOffNodeRecords(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	rec := &sqlRecorder{}
	cfg.ConnConfig.Tracer = rec
	cfg.AfterConnect = pguuid.AfterConnect(nil)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	st := store.NewStore(pool, store.WithBatchSize(500))

	var nodes []graph.Node
	for i := range 50 {
		n := graph.ValueNode(graph.KindIPv4Addr, fmt.Sprintf("198.51.100.%d", i))
		n.Sources = []string{"edr"}
		n.Props = map[string]any{"port": float64(i)}
		nodes = append(nodes, n)
	}
	for round, how := range []string{"inserted", "merged", "merged again with other props"} {
		if round == 2 {
			for i := range nodes {
				nodes[i].Props = map[string]any{"asn": float64(64500 + i)}
			}
		}
		_, err := st.Write(ctx, graph.Batch{Nodes: nodes})
		require.NoError(t, err)
		require.Len(t, rec.take("INSERT INTO nodes"), 1, how)
		require.Empty(t, rec.take("node_records"), how)
	}
	var recorded, records int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE recorded), (SELECT count(*) FROM node_records) FROM nodes`).
		Scan(&recorded, &records))
	require.Zero(t, recorded)
	require.Zero(t, records)

	// A versioned record of nodes[0] (a STIX observable with modified).
	v := nodes[0]
	v.Props = map[string]any{"x_note": "stix"}
	v.Versions = map[string]time.Time{"ipv4-addr--5e1f0000-0000-4000-8000-0000000a7401": time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	_, err = st.Write(ctx, graph.Batch{Nodes: []graph.Node{v}})
	require.NoError(t, err)
	require.NotEmpty(t, rec.take("node_records"))
	nodes[1].Props = map[string]any{"asn": float64(1)}
	_, err = st.Write(ctx, graph.Batch{Nodes: nodes[1:]})
	require.NoError(t, err)
	require.Empty(t, rec.take("node_records"), "no recorded node in the batch")
	nodes[0].Props = map[string]any{"seen_by": "edr-2"}
	_, err = st.Write(ctx, graph.Batch{Nodes: nodes})
	require.NoError(t, err)
	require.Len(t, rec.take("INSERT INTO node_records"), 1, "the recorded node's '' record")
	var props map[string]any
	require.NoError(t, pool.QueryRow(ctx, `SELECT props FROM node_records WHERE node_id = $1 AND source_id = ''`, nodes[0].ID).Scan(&props))
	require.Equal(t, map[string]any{"port": 0.0, "asn": 64500.0, "seen_by": "edr-2"}, props)
	require.NoError(t, pool.QueryRow(ctx, `SELECT props FROM nodes WHERE id = $1`, nodes[0].ID).Scan(&props))
	require.Equal(t, map[string]any{"port": 0.0, "asn": 64500.0, "seen_by": "edr-2", "x_note": "stix"}, props)
}

// TestNodeRecordsConcurrentWriters: two writers of one node at once, an
// endpoint writer without a version and a feed writing the node's first
// versioned record, then a newer version of that record: whichever
// committed first, the endpoint writer's props stay and only the newest
// version's own props show. Twenty rounds, each on a node of its own.
func TestNodeRecordsConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for round := range 20 {
		base := graph.ValueNode(graph.KindDomainName, fmt.Sprintf("nr-%02d.example", round))
		base.Props = map[string]any{"before": "edr"}
		_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{base}})
		require.NoError(t, err)
		src := fmt.Sprintf("domain-name--5e1f0000-0000-4000-8000-0000000a75%02d", round)
		u, s1, s2 := base, base, base
		u.Props = map[string]any{"during": "edr"}
		s1.Props, s1.Versions = map[string]any{"old": true, "v": 1.0}, map[string]time.Time{src: t1}
		s2.Props, s2.Versions = map[string]any{"v": 2.0}, map[string]time.Time{src: t1.Add(time.Hour)}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, n := range []graph.Node{u, s1} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{n}})
			}()
		}
		wg.Wait()
		require.NoError(t, errs[0])
		require.NoError(t, errs[1])
		_, err = b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{s2}})
		require.NoError(t, err)
		var props map[string]any
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT props FROM nodes WHERE id = $1`, base.ID).Scan(&props))
		require.Equal(t, map[string]any{"before": "edr", "during": "edr", "v": 2.0}, props, "round %d", round)
	}
}

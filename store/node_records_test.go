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

// TestNodeRecordsWriteCounts: each write of a node with versioned records
// counts it once, as what happened to it: inserted, merged (its row
// changed, by NodeUpsertMany, by the merge again from its records, or
// both) or unchanged; by Write and by UpsertNodes (batches of one record,
// several writers).
func TestNodeRecordsWriteCounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const s, tt = "malware--5e1f0000-0000-4000-8000-0000000a7501", "malware--5e1f0000-0000-4000-8000-0000000a7502"
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	rec := func(src string, v time.Time, last time.Time, props map[string]any) graph.Node {
		n := graph.NamedNode(graph.KindMalware, "NR Count")
		if src != "" {
			n.Versions = map[string]time.Time{src: v}
		}
		n.Props, n.Sources, n.FirstSeen, n.LastSeen = props, []string{"nr-feed"}, t1, last
		return n
	}
	type step struct {
		how                    string
		nodes                  []graph.Node
		inserted, merged, unch int64
	}
	steps := []step{
		{"first version", []graph.Node{rec(s, t1, t1, map[string]any{"a": 1.0})}, 1, 0, 0},
		{"same again", []graph.Node{rec(s, t1, t1, map[string]any{"a": 1.0})}, 0, 0, 1},
		{"newer version, same times", []graph.Node{rec(s, t2, t1, map[string]any{"a": 2.0})}, 0, 1, 0},
		{"newer version's times only", []graph.Node{rec(s, t2, t2, map[string]any{"a": 2.0})}, 0, 1, 0},
		{"older version", []graph.Node{rec(s, t1, t1, map[string]any{"a": 1.0})}, 0, 0, 1},
		{"newer version, new times and content", []graph.Node{rec(s, t2.Add(time.Hour), t2.Add(time.Hour), map[string]any{"a": 3.0})}, 0, 1, 0},
		{"unversioned copy", []graph.Node{rec("", time.Time{}, t1, map[string]any{"u": 1.0})}, 0, 1, 0},
		{"unversioned copy again", []graph.Node{rec("", time.Time{}, t1, map[string]any{"u": 1.0})}, 0, 0, 1},
		{"another object and an older version in one batch", []graph.Node{rec(tt, t1, t1, map[string]any{"t": 1.0}), rec(s, t1, t1, map[string]any{"a": 1.0})}, 0, 1, 0},
		{"all again", []graph.Node{rec(tt, t1, t1, map[string]any{"t": 1.0}), rec(s, t2.Add(time.Hour), t2.Add(time.Hour), map[string]any{"a": 3.0}),
			rec("", time.Time{}, t1, map[string]any{"u": 1.0})}, 0, 0, 1},
		{"a newer version equal to the stored merge", []graph.Node{rec(s, t2.Add(2*time.Hour), t2.Add(time.Hour), map[string]any{"a": 3.0})}, 0, 0, 1},
	}
	for _, upsert := range []bool{false, true} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool, store.WithBatchSize(1), store.WithWriters(2))
		for _, sp := range steps {
			var ws graph.WriteStats
			var err error
			if upsert {
				ws, err = st.UpsertNodes(ctx, sp.nodes)
			} else {
				ws, err = st.Write(ctx, graph.Batch{Nodes: sp.nodes})
			}
			require.NoError(t, err, sp.how)
			got := [3]int64{ws.NodesInserted, ws.NodesMerged, ws.NodesUnchanged}
			require.Equal(t, [3]int64{sp.inserted, sp.merged, sp.unch}, got, "%s (UpsertNodes %v)", sp.how, upsert)
		}
	}
}

// TestNodeRecordOfSeveralVersionsFollowsTheNewest: a record stated by two
// source objects, each in its version, as a MISP object that is an
// indicator gives it (ESET's cloudmensis event: indicator--eb4fcd68… at the
// object's timestamp 2022-07-13 and misp--7a1f92cb… at the event's
// 2022-07-19; 433 such records in the MISP corpus). Its source is its
// newest entry (the event, which restates the object in each of its
// versions): the event's next version replaces it, in either load order,
// as a record of one version would. Before, a record with several versions
// went to the node's ” record, so the older event version's props and TLP
// stayed.
func TestNodeRecordOfSeveralVersionsFollowsTheNewest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const ind, ev = "indicator--5e1f0000-0000-4000-8000-0000000a7601", "misp--5e1f0000-0000-4000-8000-0000000a7602"
	obj := time.Date(2022, 7, 13, 18, 32, 59, 0, time.UTC)
	e1 := time.Date(2022, 7, 19, 9, 30, 0, 0, time.UTC)
	e2 := e1.Add(48 * time.Hour)
	rec := func(evAt time.Time, props map[string]any, tlp graph.TLP) graph.Node {
		n := graph.SourceNode(graph.KindIndicator, ind)
		n.Name = "cloudmensis"
		n.Versions = map[string]time.Time{ind: obj, ev: evAt}
		n.Props, n.TLP, n.Sources = props, tlp, []string{"eset"}
		n.FirstSeen, n.LastSeen = obj, obj
		return n
	}
	v1 := rec(e1, map[string]any{"pattern": "[file:name = 'a']", "only_v1": true}, graph.TLPRed)
	v2 := rec(e2, map[string]any{"pattern": "[file:name = 'b']"}, graph.TLPGreen)
	for _, order := range [][]graph.Node{{v1, v2}, {v2, v1}} {
		b := setup(t)
		for _, n := range order {
			_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{n}})
			require.NoError(t, err)
		}
		var props map[string]any
		var tlp string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT props, coalesce(tlp, '') FROM nodes WHERE id = $1`, v1.ID).Scan(&props, &tlp))
		require.Equal(t, v2.Props, props)
		require.Equal(t, string(graph.TLPGreen), tlp)
		var src string
		var version time.Time
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT source_id, version FROM node_records WHERE node_id = $1`, v1.ID).Scan(&src, &version))
		require.Equal(t, ev, src)
		require.True(t, version.Equal(e2))
	}
}

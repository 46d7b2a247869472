package store_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/pguuid"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// statementCounter is a pgx tracer that counts the statements sent and
// remembers the last one's SQL and arguments.
type statementCounter struct {
	n       atomic.Int64
	mu      sync.Mutex
	lastSQL string
	args    []any
}

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	c.mu.Lock()
	c.lastSQL, c.args = d.SQL, d.Args
	c.mu.Unlock()
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

type testBundle struct {
	pool    *pgxpool.Pool
	store   *store.Store
	counter *statementCounter
	now     time.Time
}

func setup(t *testing.T, opts ...store.Option) *testBundle {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.DSN(t))
	require.NoError(t, err)
	counter := &statementCounter{}
	cfg.ConnConfig.Tracer = counter
	cfg.MaxConns = 12
	cfg.AfterConnect = pguuid.AfterConnect(nil)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	now := time.Now().UTC()
	all := append([]store.Option{store.WithBatchSize(500), store.WithClock(func() time.Time { return now }),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{Now: func() time.Time { return now }}))}, opts...)
	return &testBundle{pool: pool, store: store.NewStore(pool, all...), counter: counter, now: now}
}

func conf(c int) *int { return &c }

// chain builds file → hash ← indicator → malware → intrusion-set as a feed
// would: STIX ids as aliases, relations by source id.
func chain(feed string) (graph.Batch, map[string]graph.Node) {
	file, hashes, fileRels := graph.FileNode(map[string]string{"SHA-256": "AABBCC" + strings.Repeat("0", 58)}, "invoice.exe")
	indicator := graph.SourceNode(graph.KindIndicator, "indicator--11111111-1111-4111-8111-111111111111")
	indicator.Name = "LockBit dropper hash"
	malware := graph.NamedNode(graph.KindMalware, "LockBit 3.0")
	malware.Aliases = []string{"malware--22222222-2222-4222-8222-222222222222"}
	actor := graph.NamedNode(graph.KindIntrusionSet, "Bitwise Spider")
	actor.Aliases = []string{"intrusion-set--33333333-3333-4333-8333-333333333333"}
	nodes := []graph.Node{file, hashes[0], indicator, malware, actor}
	for i := range nodes {
		nodes[i].Sources = []string{feed}
		nodes[i].Confidence = conf(70)
	}
	rels := append(fileRels,
		graph.Relation{Src: graph.Ref(indicator.Aliases[0]), Type: "based-on", Dst: hashes[0].Ref()},
		graph.Relation{Src: graph.Ref(indicator.Aliases[0]), Type: "indicates", Dst: graph.Ref(malware.Aliases[0])},
		graph.Relation{Src: graph.Ref(malware.Aliases[0]), Type: "attributed-to", Dst: graph.Ref(actor.Aliases[0])},
	)
	for i := range rels {
		rels[i].Sources = []string{feed}
	}
	return graph.Batch{Nodes: nodes, Relations: rels}, map[string]graph.Node{
		"file": file, "hash": hashes[0], "indicator": indicator, "malware": malware, "actor": actor,
	}
}

func TestFindRelatedChainInOneStatement(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	batch, n := chain("feed-a")
	stats, err := b.store.Write(ctx, batch)
	require.NoError(t, err)
	require.EqualValues(t, 5, stats.NodesInserted)
	require.EqualValues(t, 4, stats.RelationsInserted)
	require.Zero(t, stats.RelationsPending)

	before := b.counter.n.Load()
	nb, err := b.store.FindRelated(ctx, n["file"].ID, graph.RelatedOptions{Depth: 4})
	require.NoError(t, err)
	require.EqualValues(t, 1, b.counter.n.Load()-before, "FindRelated is exactly one SQL statement")

	actor, ok := nb.Node(n["actor"].ID)
	require.True(t, ok, "the intrusion set is reached from the file")
	require.Equal(t, 4, actor.Depth)
	require.False(t, nb.Truncated)
	var kinds []graph.Kind
	for _, step := range nb.PathTo(actor.ID) {
		kinds = append(kinds, step.Kind)
	}
	require.Equal(t, []graph.Kind{graph.KindFile, graph.KindHash, graph.KindIndicator, graph.KindMalware, graph.KindIntrusionSet}, kinds)
	require.Len(t, nb.Edges, 4, "every relation among the reached nodes is returned")

	nb, err = b.store.FindRelated(ctx, n["file"].ID, graph.RelatedOptions{Depth: 3})
	require.NoError(t, err)
	_, ok = nb.Node(n["actor"].ID)
	require.False(t, ok, "depth caps the walk")
}

func TestFindRelatedEdgeCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)

	t.Run("cycle terminates", func(t *testing.T) {
		a, bb, c := graph.NamedNode(graph.KindTool, "cyc-a"), graph.NamedNode(graph.KindTool, "cyc-b"), graph.NamedNode(graph.KindTool, "cyc-c")
		_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{a, bb, c}, Relations: []graph.Relation{
			{Src: a.Ref(), Type: "uses", Dst: bb.Ref()}, {Src: bb.Ref(), Type: "uses", Dst: c.Ref()}, {Src: c.Ref(), Type: "uses", Dst: a.Ref()},
		}})
		require.NoError(t, err)
		nb, err := b.store.FindRelated(ctx, a.ID, graph.RelatedOptions{Depth: 10})
		require.NoError(t, err)
		require.Len(t, nb.Nodes, 3)
		require.Len(t, nb.Edges, 3)
	})
	t.Run("no node is reached twice", func(t *testing.T) {
		// a→b, a→c, b→c, c→d, b→d, d→a: c and d are reachable at several depths.
		n := map[string]graph.Node{}
		for _, name := range []string{"a", "b", "c", "d"} {
			n[name] = graph.NamedNode(graph.KindCampaign, "diamond-"+name)
		}
		var rels []graph.Relation
		for _, e := range [][2]string{{"a", "b"}, {"a", "c"}, {"b", "c"}, {"c", "d"}, {"b", "d"}, {"d", "a"}} {
			rels = append(rels, graph.Relation{Src: n[e[0]].Ref(), Type: "related-to", Dst: n[e[1]].Ref()})
		}
		_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{n["a"], n["b"], n["c"], n["d"]}, Relations: rels})
		require.NoError(t, err)
		nb, err := b.store.FindRelated(ctx, n["a"].ID, graph.RelatedOptions{Depth: 5})
		require.NoError(t, err)
		seen := map[uuid.UUID]int{}
		for _, rn := range nb.Nodes {
			seen[rn.ID]++
		}
		require.Len(t, nb.Nodes, 4)
		for id, count := range seen {
			require.Equal(t, 1, count, "node %s reached %d times", id, count)
		}
		depth := map[uuid.UUID]int{}
		for _, rn := range nb.Nodes {
			depth[rn.ID] = rn.Depth
		}
		require.Equal(t, 1, depth[n["b"].ID])
		require.Equal(t, 1, depth[n["c"].ID])
		require.Equal(t, 1, depth[n["d"].ID], "d -> a makes d a neighbour of a")
		require.Len(t, nb.Edges, 6)
	})
	t.Run("depth 0 is the start node only", func(t *testing.T) {
		batch, n := chain("feed-depth0")
		_, err := b.store.Write(ctx, batch)
		require.NoError(t, err)
		nb, err := b.store.FindRelated(ctx, n["hash"].ID, graph.RelatedOptions{Depth: -1})
		require.NoError(t, err)
		require.Len(t, nb.Nodes, 1)
		require.Equal(t, n["hash"].ID, nb.Nodes[0].ID)
		require.Nil(t, nb.Nodes[0].Via)
	})
	t.Run("unknown id is not found", func(t *testing.T) {
		_, err := b.store.FindRelated(ctx, uuid.New(), graph.RelatedOptions{})
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

func TestFindRelatedHubFanoutCap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	hub := graph.NamedNode(graph.KindInfrastructure, "bulletproof hoster")
	_, err := b.store.UpsertNodes(ctx, []graph.Node{hub})
	require.NoError(t, err)
	// 100,000 domains hosted on the hub, written in SQL for speed.
	_, err = b.pool.Exec(ctx, `
		WITH leaves AS (
			INSERT INTO nodes (id, kind, key, name)
			SELECT gen_random_uuid(), 'domain-name', 'd' || g || '.example', 'd' || g || '.example'
			FROM generate_series(1, 100000) g
			RETURNING id)
		INSERT INTO relations (src_id, relation, dst_id) SELECT id, 'hosted-on', $1 FROM leaves`, hub.ID)
	require.NoError(t, err)

	nb, err := b.store.FindRelated(ctx, hub.ID, graph.RelatedOptions{Depth: 2, Fanout: 50})
	require.NoError(t, err)
	require.True(t, nb.Truncated, "the fan-out cap cut the hub's edges")
	require.Len(t, nb.Nodes, 51, "the hub and at most 50 neighbours")

	nb, err = b.store.FindRelated(ctx, hub.ID, graph.RelatedOptions{Depth: 2, Fanout: 200000, MaxNodes: 1000})
	require.NoError(t, err)
	require.True(t, nb.Truncated, "the node cap cut the walk")
	require.Len(t, nb.Nodes, 1000)
}

func TestFindRelatedTelemetryWindowPrunesPartitions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	host := graph.ValueNode(graph.KindIPv4Addr, "10.9.8.7")
	recent := graph.ValueNode(graph.KindDomainName, "recent.example")
	old := graph.ValueNode(graph.KindDomainName, "old.example")
	today := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 12, 0, 0, 0, time.UTC)
	edges := []graph.TelemetryEdge{
		{Src: host, Relation: "resolved", Dst: recent, AgentID: "agent-1", ObservedAt: today},
		{Src: host, Relation: "resolved", Dst: old, AgentID: "agent-1", ObservedAt: today.AddDate(0, 0, -20)},
	}
	ts, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	require.EqualValues(t, 2, ts.Edges)
	require.Equal(t, 2, ts.PartitionsCreated)

	nb, err := b.store.FindRelated(ctx, host.ID, graph.RelatedOptions{Since: today.AddDate(0, 0, -3), Until: today.AddDate(0, 0, 1)})
	require.NoError(t, err)
	_, ok := nb.Node(recent.ID)
	require.True(t, ok)
	_, ok = nb.Node(old.ID)
	require.False(t, ok, "telemetry outside the window is not walked")
	require.Len(t, nb.Edges, 1)
	require.True(t, nb.Edges[0].Telemetry)
	require.EqualValues(t, 1, nb.Edges[0].Count)

	// With every day of the window partitioned, the default partition can
	// hold no row of the window, so it is pruned too.
	var days []time.Time
	for d := today.AddDate(0, 0, -3); !d.After(today.AddDate(0, 0, 1)); d = d.AddDate(0, 0, 1) {
		days = append(days, d)
	}
	_, err = partman.EnsureDays(ctx, b.pool, days, partman.Options{})
	require.NoError(t, err)
	_, err = b.store.FindRelated(ctx, host.ID, graph.RelatedOptions{Since: today.AddDate(0, 0, -3), Until: today.AddDate(0, 0, 1)})
	require.NoError(t, err)

	// EXPLAIN the very statement FindRelated sent: only the partitions
	// inside [since, until) may appear.
	b.counter.mu.Lock()
	sql, args := b.counter.lastSQL, b.counter.args
	b.counter.mu.Unlock()
	require.Contains(t, sql, "FindRelated")
	rows, err := b.pool.Query(ctx, "EXPLAIN "+sql, args...)
	require.NoError(t, err)
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	text := strings.Join(plan, "\n")
	require.Contains(t, text, "telemetry_edges_"+today.Format("2006_01_02"))
	require.NotContains(t, text, "telemetry_edges_"+today.AddDate(0, 0, -20).Format("2006_01_02"), "old partition pruned")
	require.NotContains(t, text, "telemetry_edges_default", "default partition pruned")
}

// snapshot returns every stored row of the graph tables as text; withTimes
// adds the bookkeeping timestamps.
func snapshot(t *testing.T, pool *pgxpool.Pool, withTimes bool) string {
	t.Helper()
	if withTimes {
		return pgtest.Dump(t, pool, pgtest.GraphQueriesWithTimes...)
	}
	return pgtest.Dump(t, pool, pgtest.GraphQueries...)
}

func TestWriteTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	batch, _ := chain("feed-a")
	batch.Relations = append(batch.Relations, graph.Relation{Src: "malware--not-yet-known", Type: "variant-of", Dst: batch.Nodes[3].Ref()})
	first, err := b.store.Write(ctx, batch)
	require.NoError(t, err)
	require.EqualValues(t, 1, first.RelationsPending)
	before := snapshot(t, b.pool, true)

	second, err := b.store.Write(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, graph.WriteStats{NodesUnchanged: 5}, second, "nothing inserted, merged or rewritten")
	require.Equal(t, before, snapshot(t, b.pool, true), "tables unchanged, timestamps included")
}

func TestMergeRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	t0 := time.Date(2025, 1, 10, 0, 0, 0, 0, time.UTC)
	high := graph.NamedNode(graph.KindMalware, "Conti")
	high.Name, high.Confidence, high.TLP = "Conti", conf(90), "amber"
	high.Sources, high.Labels = []string{"vendor-x"}, []string{"ransomware"}
	high.Props = map[string]any{"description": "from the good source"}
	high.FirstSeen, high.LastSeen = t0, t0.AddDate(0, 1, 0)
	_, err := b.store.UpsertNodes(ctx, []graph.Node{high})
	require.NoError(t, err)

	low := graph.NamedNode(graph.KindMalware, "  conti ")
	low.Name, low.Confidence, low.TLP = "conti (sloppy)", conf(10), "green"
	low.Sources, low.Labels = []string{"osint-y"}, []string{"crimeware"}
	low.Props = map[string]any{"description": "from the bad source", "x_extra": "kept"}
	low.FirstSeen, low.LastSeen = t0.AddDate(0, -1, 0), t0.AddDate(0, 2, 0)
	require.Equal(t, high.ID, low.ID, "normalized names merge")
	stats, err := b.store.UpsertNodes(ctx, []graph.Node{low})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.NodesMerged)

	got, err := b.store.GetNode(ctx, high.ID)
	require.NoError(t, err)
	require.Equal(t, "Conti", got.Name, "lower confidence does not overwrite the name")
	require.Equal(t, "from the good source", got.Props["description"])
	require.Equal(t, "kept", got.Props["x_extra"], "new keys are still added")
	require.Equal(t, 90, *got.Confidence)
	require.Equal(t, graph.TLP("amber"), got.TLP, "strictest TLP kept")
	require.Equal(t, []string{"osint-y", "vendor-x"}, got.Sources)
	require.Equal(t, []string{"crimeware", "ransomware"}, got.Labels)
	require.True(t, got.FirstSeen.Equal(low.FirstSeen), "earliest first seen")
	require.True(t, got.LastSeen.Equal(low.LastSeen), "latest last seen")
}

func TestPendingRelationsResolveWhenEndpointArrives(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	malware := graph.NamedNode(graph.KindMalware, "Ryuk")
	malware.Aliases = []string{"malware--aaaaaaaa-0000-4000-8000-000000000001"}
	_, err := b.store.UpsertNodes(ctx, []graph.Node{malware})
	require.NoError(t, err)
	rel := graph.Relation{Src: graph.Ref(malware.Aliases[0]), Type: "attributed-to", Dst: "intrusion-set--bbbbbbbb-0000-4000-8000-000000000002", Sources: []string{"f1"}}
	stats, err := b.store.AddRelations(ctx, []graph.Relation{rel})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.RelationsPending)
	require.Zero(t, stats.RelationsInserted)

	actor := graph.NamedNode(graph.KindIntrusionSet, "Wizard Spider")
	actor.Aliases = []string{string(rel.Dst)}
	stats, err = b.store.UpsertNodes(ctx, []graph.Node{actor})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.RelationsReleased)
	require.EqualValues(t, 1, stats.RelationsInserted)

	var pending, relations int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM pending_relations), (SELECT count(*) FROM relations)").Scan(&pending, &relations))
	require.Zero(t, pending)
	require.Equal(t, 1, relations)
	nb, err := b.store.FindRelated(ctx, malware.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	_, ok := nb.Node(actor.ID)
	require.True(t, ok)
}

func TestConcurrentWritersSameFinalState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Overlapping batches: 8 writers each write a different, overlapping
	// window of the same 2,000 nodes and their relations, shuffled.
	const total, writers = 2000, 8
	nodes := make([]graph.Node, total)
	for i := range nodes {
		nodes[i] = graph.ValueNode(graph.KindDomainName, fmt.Sprintf("host%04d.example", i))
		nodes[i].Sources = []string{fmt.Sprintf("feed-%d", i%3)}
		nodes[i].FirstSeen = time.Date(2025, 1, 1+i%28, 0, 0, 0, 0, time.UTC)
		nodes[i].LastSeen = nodes[i].FirstSeen.AddDate(0, 0, 1)
		nodes[i].Aliases = []string{fmt.Sprintf("domain-name--alias-%04d", i)}
	}
	batchFor := func(w int) graph.Batch {
		var b graph.Batch
		for i := w * 200; i < w*200+600 && i < total; i++ {
			j := (i * 7919) % total // spread over the id space
			b.Nodes = append(b.Nodes, nodes[j])
			b.Relations = append(b.Relations, graph.Relation{Src: graph.Ref(nodes[j].Aliases[0]), Type: "resolves-to",
				Dst: graph.Ref(nodes[(j+1)%total].Aliases[0]), FirstSeen: nodes[j].FirstSeen, Sources: nodes[j].Sources})
		}
		return b
	}

	one := setup(t)
	for w := 0; w < writers; w++ {
		_, err := one.store.Write(ctx, batchFor(w))
		require.NoError(t, err)
	}

	many := setup(t, store.WithBatchSize(100))
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for range 3 { // and each writes its batch three times
				if _, err := many.store.Write(ctx, batchFor(w)); err != nil {
					errs[w] = err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for w, err := range errs {
		require.NoError(t, err, "writer %d", w)
	}
	require.Equal(t, snapshot(t, one.pool, false), snapshot(t, many.pool, false))
}

func TestAppendTelemetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(1000))
	proc := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "agent-7:pid:4242", Name: "powershell.exe"}
	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	var edges []graph.TelemetryEdge
	for i := 0; i < 2500; i++ {
		file, _, _ := graph.FileNode(nil, fmt.Sprintf(`C:\Users\x\%d.tmp`, i%100))
		edges = append(edges, graph.TelemetryEdge{Src: proc, Relation: "wrote", Dst: file, AgentID: fmt.Sprintf("agent-%d", i%5),
			ObservedAt: day.Add(time.Duration(i) * time.Second)})
	}
	edges = append(edges,
		graph.TelemetryEdge{Src: proc, Relation: "wrote", Dst: proc, ObservedAt: day},                                                             // no agent
		graph.TelemetryEdge{Src: proc, Relation: "wrote", Dst: proc, AgentID: "agent-1", ObservedAt: time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)}, // out of window
	)
	stats, err := b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	require.EqualValues(t, 2501, stats.Edges)
	require.EqualValues(t, 1, stats.OutOfWindow)
	require.Equal(t, map[graph.DropReason]int64{graph.ReasonMissingAgentID: 1}, stats.Dropped)
	require.EqualValues(t, 101, stats.Nodes.NodesInserted, "one process and 100 files")

	var inDay, inDefault int
	require.NoError(t, b.pool.QueryRow(ctx, fmt.Sprintf(
		"SELECT (SELECT count(*) FROM telemetry_edges_%s), (SELECT count(*) FROM telemetry_edges_default)", day.Format("2006_01_02"))).Scan(&inDay, &inDefault))
	require.Equal(t, 2500, inDay)
	require.Equal(t, 1, inDefault, "out-of-window rows wait in the default partition, counted")
}

func TestMergeIsOrderIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t1 := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	older := graph.NamedNode(graph.KindTool, "Cobalt Strike")
	older.Confidence, older.FirstSeen, older.LastSeen = conf(50), t1, t1
	older.Props = map[string]any{"description": "v1", "only_in_v1": true}
	newer := older
	newer.Name = "Cobalt Strike 4.9"
	newer.LastSeen = t1.AddDate(0, 1, 0)
	newer.Props = map[string]any{"description": "v2"}

	forward, backward := setup(t), setup(t)
	for _, n := range []graph.Node{older, newer} {
		_, err := forward.store.UpsertNodes(ctx, []graph.Node{n})
		require.NoError(t, err)
	}
	for _, n := range []graph.Node{newer, older} {
		_, err := backward.store.UpsertNodes(ctx, []graph.Node{n})
		require.NoError(t, err)
	}
	require.Equal(t, snapshot(t, forward.pool, false), snapshot(t, backward.pool, false))
	got, err := forward.store.GetNode(ctx, older.ID)
	require.NoError(t, err)
	require.Equal(t, "Cobalt Strike 4.9", got.Name, "the later record of equal confidence wins")
	require.Equal(t, "v2", got.Props["description"])
	require.Equal(t, true, got.Props["only_in_v1"], "the older record still adds its missing keys")

	// Reloading either record now changes nothing, in either database.
	before := snapshot(t, backward.pool, true)
	for _, n := range []graph.Node{older, newer} {
		stats, err := backward.store.UpsertNodes(ctx, []graph.Node{n})
		require.NoError(t, err)
		require.EqualValues(t, 1, stats.NodesUnchanged)
	}
	require.Equal(t, before, snapshot(t, backward.pool, true))
}

func TestRelationsCollapsingOnOneEdgeMergeProps(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	mal := graph.NamedNode(graph.KindMalware, "Emotet")
	mal.Aliases = []string{"malware--e0000000-0000-4000-8000-000000000001", "malware--e0000000-0000-4000-8000-000000000002"}
	actor := graph.NamedNode(graph.KindIntrusionSet, "Mummy Spider")
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{mal, actor}, Relations: []graph.Relation{
		{Src: graph.Ref(mal.Aliases[0]), Type: "attributed-to", Dst: actor.Ref(), Props: map[string]any{"from_feed_a": 1}, Confidence: conf(40)},
		{Src: graph.Ref(mal.Aliases[1]), Type: "attributed-to", Dst: actor.Ref(), Props: map[string]any{"from_feed_b": 2, "note": "b"}, Confidence: conf(80)},
	}})
	require.NoError(t, err)
	nb, err := b.store.FindRelated(ctx, mal.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	require.Len(t, nb.Edges, 1, "two source ids of one node give one relation")
	require.Equal(t, 80, *nb.Edges[0].Confidence)
	var props map[string]any
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT props FROM relations").Scan(&props))
	require.Equal(t, map[string]any{"from_feed_a": float64(1), "from_feed_b": float64(2), "note": "b"}, props, "props of both rows are kept")
}

func TestReloadWithoutTimesLaterChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	b := setup(t, store.WithClock(func() time.Time { return clock }))
	ip := graph.ValueNode(graph.KindIPv4Addr, "192.0.2.44")
	ip.Aliases = []string{"ipv4-addr--" + ip.ID.String()}
	dom := graph.ValueNode(graph.KindDomainName, "untimed.example")
	batch := graph.Batch{Nodes: []graph.Node{ip, dom}, Relations: []graph.Relation{{Src: dom.Ref(), Type: "resolves-to", Dst: graph.Ref(ip.Aliases[0])}}}
	_, err := b.store.Write(ctx, batch)
	require.NoError(t, err)
	before := snapshot(t, b.pool, true)

	clock = clock.Add(48 * time.Hour) // the same feed, reloaded two days later
	stats, err := b.store.Write(ctx, batch)
	require.NoError(t, err)
	require.Equal(t, graph.WriteStats{NodesUnchanged: 2}, stats)
	require.Equal(t, before, snapshot(t, b.pool, true))

	got, err := b.store.GetNode(ctx, ip.ID)
	require.NoError(t, err)
	require.True(t, got.LastSeen.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)), "the load time was used on insert only")
}

// TestLabelsAndSourcesSurviveAnyText sends labels and sources that need
// quoting in a PostgreSQL array literal, with duplicates, and checks they
// come back as sent, sorted in byte order and without duplicates, whether
// the node is inserted or merged (the merge sorts on the server).
func TestLabelsAndSourcesSurviveAnyText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	odd := []string{`b`, `a"quoted"`, `back\slash`, `{brace,comma}`, `NULL`, ` spaced `, `É`, `Z`, `b`, `\"`}
	n := graph.NamedNode(graph.KindMalware, "Quoting")
	n.Labels, n.Sources = odd, []string{"feed \"one\"", "feed,two", "feed \"one\""}
	_, err := b.store.UpsertNodes(ctx, []graph.Node{n})
	require.NoError(t, err)
	got, err := b.store.GetNode(ctx, n.ID)
	require.NoError(t, err)
	want := slices.Compact(slices.Sorted(slices.Values(odd)))
	require.Equal(t, want, got.Labels)
	require.Equal(t, []string{"feed \"one\"", "feed,two"}, got.Sources)

	m := graph.NamedNode(graph.KindMalware, "Quoting")
	m.Labels, m.Sources = []string{`a`, `é`, `NULL`, `{brace,comma}`}, []string{"Feed-3", "feed,two"}
	stats, err := b.store.UpsertNodes(ctx, []graph.Node{m})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.NodesMerged)
	got, err = b.store.GetNode(ctx, n.ID)
	require.NoError(t, err)
	want = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(odd), m.Labels...))))
	require.Equal(t, want, got.Labels, "the server's union sorts in byte order, as the insert does")
	require.Equal(t, []string{"Feed-3", "feed \"one\"", "feed,two"}, got.Sources)

	stats, err = b.store.UpsertNodes(ctx, []graph.Node{m})
	require.NoError(t, err)
	require.EqualValues(t, 1, stats.NodesUnchanged, "labels and sources already held change nothing")
}

// TestAppendTelemetryNodeFailureStopsAndRetries makes the server reject one
// endpoint node: AppendTelemetry must return that error (not a partial
// success), and a second call on the same Store, once the node is accepted,
// must write every endpoint node, the rejected one and the ones whose
// upsert was queued behind it included.
func TestAppendTelemetryNodeFailureStopsAndRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, store.WithCopyChunk(100))
	_, err := b.pool.Exec(ctx, `
CREATE FUNCTION reject_poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.key = 'poison' THEN RAISE EXCEPTION 'poison node refused'; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER reject_poison BEFORE INSERT ON nodes FOR EACH ROW EXECUTE FUNCTION reject_poison();`)
	require.NoError(t, err)

	day := time.Date(b.now.Year(), b.now.Month(), b.now.Day(), 0, 0, 0, 0, time.UTC)
	host := graph.Node{ID: uuid.New(), Kind: graph.KindProcess, Key: "agent-1:pid:1"}
	var edges []graph.TelemetryEdge
	for i := range 1000 {
		dst := graph.Node{ID: uuid.New(), Kind: graph.KindFile, Key: fmt.Sprintf("file-%d", i)}
		if i == 150 {
			dst.Key = "poison"
		}
		edges = append(edges, graph.TelemetryEdge{Src: host, Relation: "wrote", Dst: dst, AgentID: "agent-1",
			ObservedAt: day.Add(time.Duration(i) * time.Second)})
	}
	_, err = b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.ErrorContains(t, err, "upsert telemetry endpoint nodes")
	require.Equal(t, 1, strings.Count(err.Error(), "poison node refused"), "one error, said once: %v", err)

	_, err = b.pool.Exec(ctx, `DROP TRIGGER reject_poison ON nodes`)
	require.NoError(t, err)
	_, err = b.store.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	var missing int
	require.NoError(t, b.pool.QueryRow(ctx, `
SELECT count(*) FROM (SELECT src_id AS id FROM telemetry_edges UNION SELECT dst_id FROM telemetry_edges) e
WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = e.id)`).Scan(&missing))
	require.Zero(t, missing, "every endpoint of a stored edge is a node after the retry")
}

// TestUpsertNodesInConcurrentBatches hands UpsertNodes more than a batch:
// the batches go to concurrent transactions, and the result must equal one
// Write of the same nodes, duplicates across batches merged. Pending
// relations between nodes of different batches must be released although
// neither batch's transaction could see the other's node.
func TestUpsertNodesInConcurrentBatches(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const total = 1000
	var nodes []graph.Node
	for i := range total {
		n := graph.ValueNode(graph.KindDomainName, fmt.Sprintf("c%04d.example", i))
		n.Sources = []string{fmt.Sprintf("feed-%d", i%3)}
		n.FirstSeen = time.Date(2025, 2, 1+i%20, 0, 0, 0, 0, time.UTC)
		n.LastSeen = n.FirstSeen.AddDate(0, 0, 2)
		nodes = append(nodes, n)
	}
	for i := 0; i < total; i += 7 { // the same node again, from another feed, later
		d := nodes[i]
		d.Sources = []string{"feed-late"}
		d.LastSeen = d.LastSeen.AddDate(0, 1, 0)
		nodes = append(nodes, d)
	}
	// Relations between the first and the last node (in id order, so in the
	// first and the last batch), parked before either exists.
	sorted := slices.SortedFunc(slices.Values(nodes[:total]), func(a, b graph.Node) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	first, last := sorted[0], sorted[total-1]
	// Two nodes at the two ends of the id range (so in different batches)
	// name the same source id: one Write gives it to the smaller id, and
	// so must the concurrent batches. Every node also has an alias of its own.
	for i := range nodes[:total] {
		nodes[i].Aliases = []string{fmt.Sprintf("domain-name--own-%04d", i)}
	}
	for i := range nodes[:total] {
		if nodes[i].ID == first.ID || nodes[i].ID == last.ID {
			nodes[i].Aliases = append(nodes[i].Aliases, "domain-name--contested")
		}
	}
	seen := time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)
	rels := []graph.Relation{{Src: first.Ref(), Type: "resolves-to", Dst: last.Ref(), FirstSeen: seen},
		{Src: last.Ref(), Type: "related-to", Dst: first.Ref(), FirstSeen: seen}}

	one := setup(t)
	_, err := one.store.AddRelations(ctx, rels)
	require.NoError(t, err)
	_, err = one.store.Write(ctx, graph.Batch{Nodes: nodes})
	require.NoError(t, err)

	many := setup(t, store.WithBatchSize(50), store.WithWriters(4))
	require.Equal(t, 4, many.store.Writers())
	st, err := many.store.AddRelations(ctx, rels)
	require.NoError(t, err)
	require.EqualValues(t, 2, st.RelationsPending)
	st, err = many.store.UpsertNodes(ctx, nodes)
	require.NoError(t, err)
	require.EqualValues(t, total, st.NodesInserted, "duplicates are merged before the batches are cut")
	require.EqualValues(t, 2, st.RelationsReleased)
	require.Equal(t, snapshot(t, one.pool, false), snapshot(t, many.pool, false))
	var owner uuid.UUID
	require.NoError(t, many.pool.QueryRow(ctx, "SELECT node_id FROM node_aliases WHERE source_id = 'domain-name--contested'").Scan(&owner))
	require.Equal(t, first.ID, owner, "the contested alias goes to the smallest node id, as in one Write")

	st, err = many.store.UpsertNodes(ctx, nodes)
	require.NoError(t, err)
	require.EqualValues(t, total, st.NodesUnchanged, "writing again changes nothing")
}

// TestReleasePendingSweepsStranded builds what two concurrent transactions
// can leave behind: relationships parked as pending whose missing endpoint
// was then written without releasing them (here by plain SQL, as a
// transaction that could not yet see the pending rows). ReleasePending must
// release exactly those whose endpoints both resolve, across several pages,
// with one writer and with pages released side by side (every page names
// the same source, so the writers compete for the same pending rows).
func TestReleasePendingSweepsStranded(t *testing.T) {
	t.Parallel()
	for _, writers := range []int{1, 4} {
		t.Run(fmt.Sprintf("writers=%d", writers), func(t *testing.T) {
			t.Parallel()
			releasePendingSweepsStranded(t, writers)
		})
	}
}

func releasePendingSweepsStranded(t *testing.T, writers int) {
	ctx := context.Background()
	b := setup(t, store.WithBatchSize(3), store.WithWriters(writers))
	src := graph.NamedNode(graph.KindMalware, "Stranded")
	_, err := b.store.UpsertNodes(ctx, []graph.Node{src})
	require.NoError(t, err)
	var rels []graph.Relation
	for i := range 10 {
		rels = append(rels, graph.Relation{Src: src.Ref(), Type: "uses", Dst: graph.Ref(fmt.Sprintf("tool--%08d-0000-4000-8000-000000000000", i))})
	}
	st, err := b.store.AddRelations(ctx, rels)
	require.NoError(t, err)
	require.EqualValues(t, 10, st.RelationsPending)

	// Seven of the tools arrive behind the store's back.
	for i := range 7 {
		tool := graph.NamedNode(graph.KindTool, fmt.Sprintf("tool %d", i))
		_, err := b.pool.Exec(ctx, `
WITH n AS (INSERT INTO nodes (id, kind, key, name) VALUES ($1, $2, $3, $3) RETURNING id)
INSERT INTO node_aliases (source_id, node_id, source) SELECT $4, id, 'test' FROM n`,
			tool.ID, string(tool.Kind), tool.Key, rels[i].Dst)
		require.NoError(t, err)
	}
	st, err = b.store.ReleasePending(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 7, st.RelationsReleased)
	require.EqualValues(t, 7, st.RelationsInserted)
	var pending, relations int
	require.NoError(t, b.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM pending_relations), (SELECT count(*) FROM relations)").Scan(&pending, &relations))
	require.Equal(t, 3, pending)
	require.Equal(t, 7, relations)

	st, err = b.store.ReleasePending(ctx)
	require.NoError(t, err)
	require.Zero(t, st.RelationsReleased, "nothing more to release")
}

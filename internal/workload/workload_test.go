package workload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/misp"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/internal/workload"
	"github.com/ransomeye/intel/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

// small is a workload of a few hundred edges a day.
func small(seed uint64) workload.Config {
	return workload.Config{Agents: 20, Days: 2, RowsPerDay: 900, Indicators: 30, Seed: seed,
		MaliciousRate: 0.05, Start: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
}

func newGen(t *testing.T, cfg workload.Config) *workload.Generator {
	t.Helper()
	g, err := workload.New(cfg)
	require.NoError(t, err)
	return g
}

// all returns every batch of every day of g, in order.
func all(g *workload.Generator) []graph.TelemetryEdge {
	var out []graph.TelemetryEdge
	for day := range g.Config().Days {
		for seq := range g.BatchesPerDay() {
			out = append(out, g.Batch(day, seq)...)
		}
	}
	return out
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// files returns the telemetry, STIX and MISP files of g.
func files(t *testing.T, g *workload.Generator) (tel, bundle, events []byte) {
	t.Helper()
	var a, b, c bytes.Buffer
	_, err := g.WriteTelemetry(&a)
	require.NoError(t, err)
	_, err = g.WriteSTIX(&b)
	require.NoError(t, err)
	_, err = g.WriteMISP(&c)
	require.NoError(t, err)
	return a.Bytes(), b.Bytes(), c.Bytes()
}

func TestGeneratorIsDeterministicForASeed(t *testing.T) {
	t.Parallel()
	a, b, other := newGen(t, small(7)), newGen(t, small(7)), newGen(t, small(8))
	require.Equal(t, jsonOf(t, all(a)), jsonOf(t, all(b)))
	require.NotEqual(t, jsonOf(t, all(a)), jsonOf(t, all(other)))
	ta, sa, ma := files(t, a)
	tb, sb, mb := files(t, b)
	require.Equal(t, ta, tb)
	require.Equal(t, sa, sb)
	require.Equal(t, ma, mb)
	to, so, mo := files(t, other)
	require.NotEqual(t, ta, to)
	require.NotEqual(t, sa, so)
	require.NotEqual(t, ma, mo)
}

func TestConfigRanges(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]workload.Config{
		"negative agents":    {Agents: -1},
		"max below min":      {MinBatch: 300, MaxBatch: 200},
		"too few indicators": {Indicators: 2},
		"rate above one":     {MaliciousRate: 1.5},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := workload.New(cfg)
			require.ErrorIs(t, err, workload.ErrConfig)
		})
	}
}

func TestGeneratorShapes(t *testing.T) {
	t.Parallel()
	g := newGen(t, small(1))
	edges := all(g)
	cfg := g.Config()
	require.InDelta(t, cfg.RowsPerDay*cfg.Days, len(edges), float64(cfg.Days*cfg.MaxBatch))
	relations := map[string]int{}
	dstKinds := map[graph.Kind]int{}
	agents := map[string]bool{}
	hubs := map[string]int{}
	for i, e := range edges {
		reason, err := store.CheckEdge(&e)
		require.NoError(t, err, "edge %d", i)
		require.Empty(t, reason)
		require.Equal(t, graph.KindProcess, e.Src.Kind)
		require.Regexp(t, `^agent-\d{6}:\d+$`, e.Src.Key, "a process per host and pid")
		require.Equal(t, e.AgentID+":", e.Src.Key[:len(e.AgentID)+1])
		require.Equal(t, g.DayStart(0).Add(time.Duration(cfg.Days)*24*time.Hour).After(e.ObservedAt), true)
		relations[e.Relation]++
		dstKinds[e.Dst.Kind]++
		agents[e.AgentID] = true
		if e.Dst.Kind == graph.KindFile {
			require.Len(t, e.Implied.Nodes, 1, "a file brings its hash")
			require.Equal(t, graph.KindHash, e.Implied.Nodes[0].Kind)
			require.Equal(t, graph.RelHasHash, e.Implied.Relations[0].Type)
		}
		switch e.Dst.Name {
		case "ntdll.dll", "kernel32.dll", "8.8.8.8", "1.1.1.1", "windowsupdate.microsoft.com":
			hubs[e.Dst.Name]++
		}
	}
	for _, rel := range []string{workload.RelLoaded, workload.RelWrote, workload.RelResolved, workload.RelConnected, workload.RelSpawned} {
		require.Positive(t, relations[rel], rel)
	}
	for _, k := range []graph.Kind{graph.KindFile, graph.KindDomainName, graph.KindIPv4Addr, graph.KindProcess} {
		require.Positive(t, dstKinds[k], k)
	}
	require.Len(t, hubs, 5, "every hub is met")
	for name, n := range hubs {
		require.Greater(t, n, 10, "hub %s is met by many edges", name)
	}
	require.Greater(t, len(agents), cfg.Agents/2)
}

// capture is an engine.TelemetryWriter that keeps the edges it reads.
type capture struct{ edges []graph.TelemetryEdge }

func (c *capture) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	var st store.TelemetryStats
	for e, err := range edges {
		if err != nil {
			return st, err
		}
		c.edges = append(c.edges, e)
		st.Edges++
	}
	return st, nil
}

func TestTelemetryLinesAreTheEdges(t *testing.T) {
	t.Parallel()
	g := newGen(t, small(3))
	var buf bytes.Buffer
	n, err := g.WriteTelemetry(&buf)
	require.NoError(t, err)
	var c capture
	rep, err := telemetry.Load(context.Background(), &buf, &c, engine.Options{Logger: quiet})
	require.NoError(t, err)
	require.Zero(t, rep.DroppedTotal())
	require.Equal(t, n, rep.RecordsRead)
	want := all(g)
	require.Len(t, c.edges, len(want))
	for i := range want {
		require.Equal(t, jsonOf(t, want[i]), jsonOf(t, c.edges[i]), "line %d", i+1)
	}
}

func TestFeedsLoadAndTelemetryReachesThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	g := newGen(t, small(5))
	st := store.NewStore(pgtest.Pool(t), store.WithLogger(quiet))
	_, bundle, events := files(t, g)
	fc := g.Feeds()

	rep, err := stix.Load(ctx, bytes.NewReader(bundle), st, stix.Options{Feed: "gen-stix", Logger: quiet})
	require.NoError(t, err)
	require.Zero(t, rep.DroppedTotal(), "%+v", rep.Dropped)
	require.Equal(t, int64(fc.IntrusionSets+fc.Malware+fc.Indicators+fc.Relationships), rep.RecordsRead)
	require.Zero(t, rep.Written.RelationsPending)

	mrep, err := misp.LoadFile(ctx, bytes.NewReader(events), st, misp.Options{Options: engine.Options{Feed: "gen-misp", Logger: quiet}})
	require.NoError(t, err)
	require.Zero(t, mrep.DroppedTotal(), "%+v", mrep.Dropped)
	require.Positive(t, mrep.Written.NodesMerged, "MISP attributes meet the STIX indicators' observables")

	// The indicator files the telemetry writes reach an intrusion set.
	var hit graph.TelemetryEdge
	for _, e := range all(g) {
		if e.Relation == workload.RelWrote && len(e.Dst.Name) > 8 && e.Dst.Name[:8] == "invoice-" {
			hit = e
			break
		}
	}
	require.NotEmpty(t, hit.AgentID, "the telemetry meets an indicator file")
	st = store.NewStore(st.Pool(), store.WithLogger(quiet), store.WithClock(func() time.Time { return hit.ObservedAt }))
	_, err = st.AppendTelemetry(ctx, store.SliceEdges([]graph.TelemetryEdge{hit}))
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, hit.Dst.ID, graph.RelatedOptions{Depth: 4,
		Since: hit.ObservedAt.Add(-time.Hour), Until: hit.ObservedAt.Add(time.Hour)})
	require.NoError(t, err)
	kinds := map[graph.Kind]bool{}
	for _, n := range nb.Nodes {
		kinds[n.Kind] = true
	}
	for _, k := range []graph.Kind{graph.KindProcess, graph.KindHash, graph.KindIndicator, graph.KindMalware, graph.KindIntrusionSet} {
		require.True(t, kinds[k], "walk from the file reaches %s: %v", k, kinds)
	}
}

func TestRunScaleSmoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	cfg := small(9)
	cfg.Start = time.Now()
	rep, err := workload.RunScale(ctx, pool, workload.ScaleOptions{Config: cfg, Writers: 4, Queriers: 1,
		QueryInterval: 5 * time.Millisecond, Keep: 24 * time.Hour, Logger: quiet})
	require.NoError(t, err)
	require.Zero(t, rep.Feed.Dropped)
	require.Len(t, rep.Days, 2)
	var total int64
	for _, d := range rep.Days {
		require.Positive(t, d.Rows)
		require.Zero(t, d.Dropped)
		require.Positive(t, d.AppendP99)
		require.Positive(t, d.Partitions)
		require.Positive(t, d.EdgesTable)
		require.Positive(t, d.PeakRSS)
		total += d.Rows
	}
	require.Equal(t, 1, rep.Days[1].Pruned, "retention drops yesterday's partition at the second midnight")
	var n int64
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM telemetry_edges").Scan(&n))
	require.Equal(t, total, n)
	var out bytes.Buffer
	require.NoError(t, rep.Write(&out))
	require.Contains(t, out.String(), "day 2 / day 1: rows/s")
	require.Contains(t, out.String(), "20 agents, 2 simulated days")
}

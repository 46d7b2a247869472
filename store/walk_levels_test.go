package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
)

// walkRelations are the relation types of the random graphs: every class,
// and names whose order depends on the collation ("has" < "has-hash" <
// "hash"...), so both engines must sort the way the server does.
var walkRelations = []string{"indicates", "uses", "related-to", "has", "has-hash", "object", "contains",
	"created-by", "derived-from", "revoked-by", "duplicate-of"}

var walkKinds = []graph.Kind{graph.KindMalware, graph.KindIndicator, graph.KindIntrusionSet, graph.KindReport,
	graph.KindProcess, graph.KindFile}

// randomWalkGraph writes a seeded random graph of size to 2*size nodes through s: hubs (the first
// nodes get most edges), cycles, self loops, relations of every class and
// telemetry edges with repeated observations, some outside the default
// window. It returns the nodes. Times are fixed, so two servers given the
// same graph hold the same rows.
func randomWalkGraph(t testing.TB, s *store.Store, seed uint64, now time.Time, size int) []graph.Node {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 7))
	seen := now.Add(-48 * time.Hour)
	nodes := make([]graph.Node, size+r.IntN(size))
	for i := range nodes {
		n := graph.NamedNode(walkKinds[r.IntN(len(walkKinds))], fmt.Sprintf("walk-%d-%d", seed, i))
		n.FirstSeen, n.LastSeen = seen, seen
		if i >= 3 && r.IntN(8) == 0 { // withdrawn, hidden unless IncludeWithdrawn
			n.Props = map[string]any{graph.PropLifecycle: []string{graph.LifecycleRevoked, graph.LifecycleDeprecated}[r.IntN(2)]}
		}
		nodes[i] = n
	}
	pick := func() graph.Node {
		if r.IntN(3) == 0 {
			return nodes[r.IntN(3)] // hubs
		}
		return nodes[r.IntN(len(nodes))]
	}
	var rels []graph.Relation
	for range len(nodes) * 3 {
		rel := graph.Relation{Src: pick().Ref(), Type: walkRelations[r.IntN(len(walkRelations))], Dst: pick().Ref(),
			FirstSeen: seen, LastSeen: seen, Sources: []string{"walk"}}
		if r.IntN(12) == 0 { // a withdrawn relationship, not walked unless IncludeWithdrawn
			rel.Props = map[string]any{graph.PropLifecycle: graph.LifecycleDeprecated}
		}
		rels = append(rels, rel)
	}
	_, err := s.Write(ctx, graph.Batch{Nodes: nodes, Relations: rels})
	require.NoError(t, err)
	var edges []graph.TelemetryEdge
	for range len(nodes) * 3 {
		src, dst := pick(), pick()
		at := now.Add(-time.Duration(r.IntN(72)) * time.Hour)
		for range 1 + r.IntN(3) { // repeated observations
			edges = append(edges, graph.TelemetryEdge{Src: src, Relation: []string{"wrote", "connected", "spawned"}[r.IntN(3)],
				Dst: dst, AgentID: fmt.Sprintf("agent-%d", r.IntN(4)), ObservedAt: at})
		}
	}
	_, err = s.AppendTelemetry(ctx, store.SliceEdges(edges))
	require.NoError(t, err)
	return nodes
}

// randomWalkOptions are walk options that cut: small fan-out and node caps,
// relation, kind and provenance switches, narrow and wide windows.
func randomWalkOptions(r *rand.Rand, now time.Time) graph.RelatedOptions {
	o := graph.RelatedOptions{Depth: r.IntN(5) - 1, Fanout: 1 + r.IntN(6), MaxNodes: 2 + r.IntN(30)}
	if r.IntN(4) == 0 {
		o.Fanout = 0 // the defaults
		o.MaxNodes = 0
	}
	switch r.IntN(5) {
	case 0:
		o.Relations = []string{walkRelations[r.IntN(len(walkRelations))], walkRelations[r.IntN(len(walkRelations))], "wrote"}
	case 1:
		o.ExcludeRelations = []string{walkRelations[r.IntN(len(walkRelations))], "connected"}
	}
	if r.IntN(4) == 0 {
		o.Kinds = []graph.Kind{walkKinds[r.IntN(len(walkKinds))], walkKinds[r.IntN(len(walkKinds))]}
	}
	o.IncludeProvenance = r.IntN(2) == 0
	o.IncludeWithdrawn = r.IntN(3) == 0
	if r.IntN(3) == 0 {
		o.Since, o.Until = now.Add(-24*time.Hour), now.Add(time.Hour)
	}
	return o
}

// walkStore is a store on pool with a fixed clock.
func walkStore(pool *pgxpool.Pool, now time.Time) *store.Store {
	clock := func() time.Time { return now }
	return store.NewStore(pool, store.WithClock(clock),
		store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{Now: clock})))
}

// walkNow is the fixed clock of the same-answer tests: noon today (UTC), so
// the day partitions of the last days fall in the default window.
func walkNow() time.Time { return graph.UTCDay(time.Now()).Add(12 * time.Hour) }

// walkFunc is FindRelated or FindRelatedLevels of some store.
type walkFunc func(context.Context, uuid.UUID, graph.RelatedOptions) (*graph.Neighbourhood, error)

// sameWalks walks from every node, perStart times with random options
// (seeded), with want and got, and requires the same answers. It returns
// how many walks it compared and how many of them a cap cut.
func sameWalks(t *testing.T, seed uint64, nodes []graph.Node, perStart int, now time.Time, want, got walkFunc) (compared, cut int) {
	t.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(seed, 11))
	for _, start := range nodes {
		for range perStart {
			opts := randomWalkOptions(r, now)
			w, err := want(ctx, start.ID, opts)
			require.NoError(t, err)
			g, err := got(ctx, start.ID, opts)
			require.NoError(t, err)
			require.Equal(t, w, g, "seed %d start %s options %+v", seed, start.Key, opts)
			compared++
			if w.Truncated {
				cut++
			}
		}
	}
	return compared, cut
}

// TestFindRelatedLevelsSameAnswer: on random graphs, the level-by-level
// engine returns exactly what the recursive FindRelated returns, for every
// start and random options (caps that cut, filters, windows). On Citus,
// where FindRelated is refused, see TestFindRelatedLevelsSameAnswerOnCitus.
func TestFindRelatedLevelsSameAnswer(t *testing.T) {
	if pgtest.CitusMode() {
		t.Skip("the recursive FindRelated does not run on Citus")
	}
	t.Parallel()
	now := walkNow()
	for seed := uint64(1); seed <= 6; seed++ {
		s := walkStore(pgtest.Pool(t), now)
		nodes := randomWalkGraph(t, s, seed, now, 24)
		compared, cut := sameWalks(t, seed, nodes, 3, now, s.FindRelated, s.FindRelatedLevels)
		require.Positive(t, cut, "seed %d: some walks must be cut", seed)
		require.Less(t, cut, compared, "seed %d: some walks must not be cut", seed)
	}
}

// TestFindRelatedLevelsSameAnswerOnCitus: the level-by-level engine on the
// Citus cluster returns what the recursive FindRelated returns on one plain
// PostgreSQL server holding the same random graphs.
func TestFindRelatedLevelsSameAnswerOnCitus(t *testing.T) {
	if !pgtest.CitusMode() {
		t.Skip("not on Citus (" + pgtest.CitusEnv + "=1)")
	}
	now := walkNow()
	plain := walkStore(pgtest.PoolFor(t, pgtest.StartMigratedServer(t)), now)
	citus := walkStore(pgtest.Pool(t), now)
	for seed := uint64(1); seed <= 3; seed++ {
		nodes := randomWalkGraph(t, plain, seed, now, 24)
		require.Equal(t, nodes, randomWalkGraph(t, citus, seed, now, 24))
		_, cut := sameWalks(t, seed, nodes, 2, now, plain.FindRelated, citus.FindRelatedLevels)
		require.Positive(t, cut, "seed %d: some walks must be cut", seed)
	}
}

// BenchmarkWalkEngines times FindRelated (one recursive statement) and
// FindRelatedLevels (one statement per hop) side by side, alternating which
// goes first, from the same 40 starts of a random graph of 300 to 600
// nodes with default caps, best of 3 rounds. On Citus only the level engine
// runs. go test -run '^$' -bench WalkEngines ./store/
func BenchmarkWalkEngines(b *testing.B) {
	ctx := context.Background()
	now := walkNow()
	s := walkStore(pgtest.Pool(b), now)
	nodes := randomWalkGraph(b, s, 42, now, 300)
	engines := map[string]walkFunc{
		"recursive": s.FindRelated, "levels": s.FindRelatedLevels,
	}
	order := []string{"recursive", "levels"}
	if pgtest.CitusMode() {
		order = []string{"levels"}
	}
	starts := nodes[:40]
	b.ResetTimer()
	for range b.N {
		best := map[string]latencies{}
		for round := range 3 {
			lat := map[string]latencies{}
			for i, start := range starts {
				for k := range order {
					name := order[(i+round+k)%len(order)]
					t0 := time.Now()
					if _, err := engines[name](ctx, start.ID, graph.RelatedOptions{}); err != nil {
						b.Fatal(err)
					}
					lat[name] = append(lat[name], time.Since(t0))
				}
			}
			for name, l := range lat {
				if best[name] == nil || l.percentile(50) < best[name].percentile(50) {
					best[name] = l
				}
			}
		}
		r := newReport(fmt.Sprintf("walk engines: %d nodes, 40 starts, depth 4, default caps, best of 3 rounds (citus=%v)", len(nodes), pgtest.CitusMode()))
		r.row("engine", "p50", "p99", "mean", "p50 vs recursive")
		for _, name := range order {
			ratio := "-"
			if rec := best["recursive"]; rec != nil {
				ratio = fmtRatio(float64(best[name].percentile(50)) / float64(rec.percentile(50)))
			}
			r.row(name, ms(best[name].percentile(50)), ms(best[name].percentile(99)), ms(best[name].mean()), ratio)
		}
		r.flush()
	}
}

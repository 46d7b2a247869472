package store_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/corpus"
	"github.com/ransomeye/intel/internal/feedtest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// loadCorpusFeeds loads the given feeds (paths relative to the corpus
// directory; a directory is every feed under it, as ingest/order_test.go
// finds them) into a fresh database. With strict, every feed must load;
// without, feeds that fail (the corpus holds malformed files on purpose)
// keep what they loaded before the error.
func loadCorpusFeeds(t testing.TB, strict bool, rels ...string) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	dir := corpus.Dir(t)
	var feeds []ingest.Feed
	for _, rel := range rels {
		feeds = append(feeds, feedtest.FeedsUnder(t, dir, filepath.Join(dir, rel))...)
	}
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	res, err := ingest.Run(context.Background(), st, feeds, ingest.Options{Concurrency: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if strict {
		require.NoError(t, err)
		for _, r := range res {
			require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
		}
	}
	return st, pool
}

// requireRelationsClassified fails unless every relation type stored has
// an explicit class in graph.
func requireRelationsClassified(t testing.TB, pool *pgxpool.Pool) []string {
	t.Helper()
	rels, missing := relationClasses(t, pool)
	require.Empty(t, missing, "relation types the mappers emit with no explicit class in graph (relclass.go)")
	return rels
}

// relationClasses returns the relation types stored and those of them with
// no explicit class in graph.
func relationClasses(t testing.TB, pool *pgxpool.Pool) (rels, missing []string) {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT DISTINCT relation FROM relations ORDER BY 1`)
	require.NoError(t, err)
	rels, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.NotEmpty(t, rels)
	for _, r := range rels {
		if _, ok := graph.ExplicitClass(r); !ok {
			missing = append(missing, r)
		}
	}
	return rels, missing
}

// TestCorpusTurlaWalkSkipsProvenance loads the ESET MISP Turla event, a
// second ESET event (Zebrocy) and ATT&CK for Mobile: from a Turla hash the
// default walk reaches no node through created-by or x-mitre-modified-by,
// while the walk with provenance reaches the other event's indicators
// through "created by ESET". Every relation type loaded has an explicit
// class.
func TestCorpusTurlaWalkSkipsProvenance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := loadCorpusFeeds(t, true, "misp/eset/turla_misp-turla-lightneuron-event.json",
		"misp/eset/sednit_2018-11-20_Zebrocy.json", "stix/mitre-attack/mobile-attack-1.0.json")
	rels := requireRelationsClassified(t, pool)
	require.Contains(t, rels, "created-by")
	require.Contains(t, rels, "x-mitre-modified-by")

	var start uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT n.id FROM nodes n
		WHERE n.kind = 'hash' AND n.sources @> ARRAY['misp/eset/turla_misp-turla-lightneuron-event.json']
		ORDER BY n.key LIMIT 1`).Scan(&start))

	def, err := st.FindRelated(ctx, start, graph.RelatedOptions{})
	require.NoError(t, err)
	prov, err := st.FindRelated(ctx, start, graph.RelatedOptions{IncludeProvenance: true})
	require.NoError(t, err)

	inDefault := map[uuid.UUID]bool{}
	for _, n := range def.Nodes {
		inDefault[n.ID] = true
		if n.Via != nil {
			c := graph.ClassOf(n.Via.Relation)
			require.Contains(t, []graph.RelationClass{graph.ClassIntelligence, graph.ClassContainment}, c,
				"%s reached through %s", nodeLabelOf(n.Node), n.Via.Relation)
		}
	}
	for _, e := range def.Edges {
		require.Contains(t, []graph.RelationClass{graph.ClassIntelligence, graph.ClassContainment}, graph.ClassOf(e.Relation), e.Relation)
	}
	// Every node of the default walk is in the provenance walk's reach
	// unless a cap cut it; the provenance walk reaches more, each through
	// created-by somewhere on its path.
	onlyProv, zebrocy := 0, 0
	for _, n := range prov.Nodes {
		if inDefault[n.ID] {
			continue
		}
		onlyProv++
		path := prov.PathTo(n.ID)
		throughProvenance := false
		for _, step := range path {
			if step.Via != nil && graph.ClassOf(step.Via.Relation) == graph.ClassProvenance {
				throughProvenance = true
			}
		}
		require.True(t, throughProvenance, "%s is reached only with provenance, so its path has a provenance edge", nodeLabelOf(n.Node))
		if slices.Contains(n.Sources, "misp/eset/sednit_2018-11-20_Zebrocy.json") && !slices.Contains(n.Sources, "misp/eset/turla_misp-turla-lightneuron-event.json") {
			zebrocy++
		}
	}
	t.Logf("from %s: default walk %d nodes, with provenance %d (%d only through provenance, %d of them Zebrocy's)",
		start, len(def.Nodes), len(prov.Nodes), onlyProv, zebrocy)
	require.Positive(t, zebrocy, "with provenance, ESET links the Turla hash to the Zebrocy event")
	require.Greater(t, len(def.Nodes), 10, "the default walk still finds the Turla event's intelligence")
}

func nodeLabelOf(n graph.Node) string {
	name := n.Name
	if name == "" {
		name = n.Key
	}
	return fmt.Sprintf("%s %q", n.Kind, name)
}

// BenchmarkCorpusRelated loads the whole shared corpus (ATT&CK for ICS and
// mobile, Unit 42 playbooks, ESET and Citizen Lab MISP events, MISP
// galaxies, ...), lists the relation types it writes that have no explicit
// class, and times FindRelated at depth 4 with the default caps
// from EVERY node, reporting p50, p99 and max and the slowest start (#14:
// under 1 s from any node). INTEL_BENCH_CORPUS_SAMPLE=N walks from every
// N-th node by id instead.
//
//	make bench BENCH=CorpusRelated
func BenchmarkCorpusRelated(b *testing.B) {
	ctx := context.Background()
	began := time.Now()
	st, pool := loadCorpusFeeds(b, false, "misp", "stix")
	loaded := time.Since(began)
	_, unclassified := relationClasses(b, pool)
	var nodes, relations int
	require.NoError(b, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM relations)`).Scan(&nodes, &relations))
	_, err := pool.Exec(ctx, `ANALYZE`)
	require.NoError(b, err)
	every := envInt(b, "INTEL_BENCH_CORPUS_SAMPLE", 1)
	rows, err := pool.Query(ctx, `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM nodes) s
		WHERE rn % greatest($1::int, 1) = 0 ORDER BY id`, every)
	require.NoError(b, err)
	starts, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(b, err)

	var took latencies
	var worst uuid.UUID
	var worstDur time.Duration
	var maxNodes, truncated int
	for b.Loop() {
		took, worstDur, maxNodes, truncated = took[:0], 0, 0, 0
		for _, id := range starts {
			t0 := time.Now()
			nb, err := st.FindRelated(ctx, id, graph.RelatedOptions{})
			d := time.Since(t0)
			require.NoError(b, err)
			took = append(took, d)
			if d > worstDur {
				worst, worstDur = id, d
			}
			maxNodes = max(maxNodes, len(nb.Nodes))
			if nb.Truncated {
				truncated++
			}
		}
	}
	r := newReport(fmt.Sprintf("related depth 4, default caps, from %d of %d corpus nodes", len(starts), nodes))
	r.row("starts", "p50", "p99", "max", "mean", "largest result", "truncated")
	r.row(len(took), ms(took.percentile(50)), ms(took.percentile(99)), ms(took.percentile(100)), ms(took.mean()),
		maxNodes, truncated)
	r.flush()
	note("corpus: %d nodes, %d relations, loaded in %s; slowest start %s", nodes, relations, loaded.Round(time.Millisecond), worst)
	note("relation types with no explicit class in graph (walked as intelligence): %v", unclassified)
	b.ReportMetric(msf(took.percentile(50)), "p50-ms")
	b.ReportMetric(msf(took.percentile(99)), "p99-ms")
	b.ReportMetric(msf(took.percentile(100)), "max-ms")
}

// TestCorpusICSWalkSkipsWithdrawn loads ATT&CK for ICS, which revokes and
// deprecates objects, and walks with the default options from nodes next
// to withdrawn ones and a sample of the others:
// no walk returns a withdrawn node other than its start, nor one reached
// through a provenance or lifecycle edge. With IncludeWithdrawn, walks from
// the live neighbours of withdrawn nodes (one hop: the walk reaches them
// first) return them, marked.
func TestCorpusICSWalkSkipsWithdrawn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, pool := loadCorpusFeeds(t, true, "stix/mitre-attack/ics-attack-18.1.json")
	requireRelationsClassified(t, pool)
	// Starts: the first 30 nodes by id one hop from a withdrawn one (their
	// walks would reach it first) and every 20th other node (walks through
	// the ICS collection reach most of the graph, so each is slow).
	rows, err := pool.Query(ctx, `
		WITH w AS (SELECT id FROM nodes WHERE node_withdrawn(props)),
		     near AS (SELECT r.dst_id AS id FROM relations r JOIN w ON w.id = r.src_id
		              UNION SELECT r.src_id FROM relations r JOIN w ON w.id = r.dst_id),
		     first_near AS (SELECT id FROM near ORDER BY id LIMIT 30)
		SELECT n.id, node_withdrawn(n.props),
		       row_number() OVER (ORDER BY n.id) % 20 = 0 OR n.id IN (SELECT id FROM first_near)
		FROM nodes n ORDER BY n.id`)
	require.NoError(t, err)
	withdrawn := map[uuid.UUID]bool{}
	var starts []uuid.UUID
	for rows.Next() {
		var id uuid.UUID
		var w, start bool
		require.NoError(t, rows.Scan(&id, &w, &start))
		if start {
			starts = append(starts, id)
		}
		if w {
			withdrawn[id] = true
		}
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, withdrawn, "ATT&CK for ICS has revoked and deprecated objects")

	for _, id := range starts {
		def, err := st.FindRelated(ctx, id, graph.RelatedOptions{})
		require.NoError(t, err)
		for _, n := range def.Nodes {
			require.Equal(t, withdrawn[n.ID], graph.Lifecycle(n.Props) != "", "node_withdrawn and graph.Lifecycle agree on %s", n.ID)
			require.Equal(t, graph.Lifecycle(n.Props), n.Withdrawn)
			if n.Via == nil {
				continue
			}
			require.False(t, withdrawn[n.ID], "default walk from %s returns withdrawn %s", id, nodeLabelOf(n.Node))
			c := graph.ClassOf(n.Via.Relation)
			require.Contains(t, []graph.RelationClass{graph.ClassIntelligence, graph.ClassContainment}, c,
				"default walk from %s reaches %s through %s", id, nodeLabelOf(n.Node), n.Via.Relation)
		}
	}
	// Only lifecycle edges (revoked-by) link live and withdrawn nodes in
	// ATT&CK for ICS: walk them by name, from the live end.
	rows, err = pool.Query(ctx, `
		SELECT CASE WHEN node_withdrawn(a.props) THEN b.id ELSE a.id END,
		       CASE WHEN node_withdrawn(a.props) THEN a.id ELSE b.id END, r.relation
		FROM relations r JOIN nodes a ON a.id = r.src_id JOIN nodes b ON b.id = r.dst_id
		WHERE node_withdrawn(a.props) <> node_withdrawn(b.props)
		ORDER BY 1, 2`)
	require.NoError(t, err)
	type pair struct {
		live, gone uuid.UUID
		relation   string
	}
	pairs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (pair, error) {
		var p pair
		return p, r.Scan(&p.live, &p.gone, &p.relation)
	})
	require.NoError(t, err)
	require.NotEmpty(t, pairs, "live nodes are linked to withdrawn ones")
	for _, p := range pairs {
		o := graph.RelatedOptions{Depth: 1, Relations: []string{p.relation}, Fanout: 100_000, MaxNodes: 100_000}
		live, err := st.FindRelated(ctx, p.live, o)
		require.NoError(t, err)
		_, found := live.Node(p.gone)
		require.False(t, found, "walk of %s from %s returns withdrawn %s", p.relation, p.live, p.gone)
		o.IncludeWithdrawn = true
		all, err := st.FindRelated(ctx, p.live, o)
		require.NoError(t, err)
		n, found := all.Node(p.gone)
		require.True(t, found, "walk of %s with IncludeWithdrawn from %s returns %s", p.relation, p.live, p.gone)
		require.Equal(t, graph.Lifecycle(n.Props), n.Withdrawn)
		require.NotEmpty(t, n.Withdrawn)
	}
	t.Logf("%d default walks, %d withdrawn nodes; %d live-withdrawn links walked both ways", len(starts), len(withdrawn), len(pairs))
}

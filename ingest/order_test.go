package ingest_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

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

// graphCounts counts the rows of the graph tables.
const graphCounts = `SELECT (SELECT count(*) FROM nodes), (SELECT count(*) FROM node_aliases),
       (SELECT count(*) FROM relations), (SELECT count(*) FROM pending_relations)`

// orderRun is one load of a set of feeds into a fresh database.
type orderRun struct {
	name    string
	dump    string
	walks   string
	counts  [4]int64
	results []ingest.Result
}

// walkAnswers walks from every 25th node (by id) with FindRelated's
// defaults and returns one line per start: its id and a hash of the whole
// answer (nodes, depths, paths, degrees, edges, truncation), so that two
// loads of the same feeds can be held to the same answers, not only the
// same rows (an answer also depends on how the walk breaks ties).
func walkAnswers(t *testing.T, st *store.Store, pool *pgxpool.Pool) string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT id FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM nodes) s WHERE rn % 25 = 1 ORDER BY id`)
	require.NoError(t, err)
	starts, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	var out strings.Builder
	for _, id := range starts {
		nb, err := st.FindRelated(ctx, id, graph.RelatedOptions{})
		require.NoError(t, err)
		raw, err := json.Marshal(struct {
			Nodes     []graph.RelatedNode
			Edges     []graph.Edge
			Truncated bool
		}{nb.Nodes, nb.Edges, nb.Truncated})
		require.NoError(t, err)
		fmt.Fprintf(&out, "%s %x\n", id, sha256.Sum256(raw))
	}
	return out.String()
}

// loadInOrders loads feeds into three fresh databases — forward one at a
// time, in reverse one at a time, and forward four at a time — and returns
// the graph each ends with and the answers of walks on it (walkAnswers);
// then it reloads the feeds with Force into the first and returns its graph
// and walk answers again.
func loadInOrders(t *testing.T, feeds []ingest.Feed) (runs []orderRun, reloaded orderRun) {
	t.Helper()
	ctx := context.Background()
	reversed := slices.Clone(feeds)
	slices.Reverse(reversed)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var first func(opts ingest.Options)
	for _, order := range []struct {
		name        string
		feeds       []ingest.Feed
		concurrency int
	}{{"forward", feeds, 1}, {"reverse", reversed, 1}, {"concurrency 4", feeds, 4}} {
		st, pool := newStore(t)
		res, _ := ingest.Run(ctx, st, order.feeds, ingest.Options{Concurrency: order.concurrency, Logger: quiet})
		run := orderRun{name: order.name, dump: pgtest.Dump(t, pool, pgtest.GraphQueries...), walks: walkAnswers(t, st, pool), results: res}
		require.NoError(t, pool.QueryRow(ctx, graphCounts).Scan(&run.counts[0], &run.counts[1], &run.counts[2], &run.counts[3]))
		runs = append(runs, run)
		if first == nil {
			first = func(opts ingest.Options) {
				_, _ = ingest.Run(ctx, st, feeds, opts)
				reloaded = orderRun{name: "forced reload", dump: pgtest.Dump(t, pool, pgtest.GraphQueries...), walks: walkAnswers(t, st, pool)}
			}
		}
	}
	first(ingest.Options{Concurrency: 1, Force: true, Logger: quiet})
	return runs, reloaded
}

// TestLoadOrderDoesNotMatter loads 36 real STIX and MISP feeds
// (testdata/order, see its SOURCES.md) forward, in reverse and four at a
// time: every column of nodes, node_aliases, relations and
// pending_relations must come out the same (the clock is fixed, so even the
// load times of untimed records agree), walks from every 25th node must
// give the same answers, and a forced reload must change nothing.
func TestLoadOrderDoesNotMatter(t *testing.T) {
	t.Parallel()
	order := filepath.Join("..", "testdata", "order")
	feeds := feedtest.FeedsUnder(t, order, order)
	require.GreaterOrEqual(t, len(feeds), 20)
	runs, reloaded := loadInOrders(t, feeds)
	for _, r := range runs[0].results {
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
	}
	require.Positive(t, runs[0].counts[0])
	require.Positive(t, runs[0].counts[2])
	for _, r := range runs[1:] {
		require.Equal(t, runs[0].counts, r.counts, "%s: row counts (nodes, aliases, relations, pending); rows only in one: %s", r.name, diff(runs[0].dump, r.dump))
		require.True(t, runs[0].dump == r.dump, "%s gives another graph than forward; rows only in one: %s", r.name, diff(runs[0].dump, r.dump))
	}
	for _, r := range append(runs[1:], reloaded) {
		require.NotEmpty(t, r.walks)
		require.True(t, runs[0].walks == r.walks, "%s: walks answer otherwise than after the forward load; starts only in one: %s", r.name, diff(runs[0].walks, r.walks))
	}
	require.True(t, runs[0].dump == reloaded.dump, "a forced reload changes the graph; rows only in one: %s", diff(runs[0].dump, reloaded.dump))
}

// TestCorpusLoadOrder is TestLoadOrderDoesNotMatter over a whole corpus
// directory (every .json file a feed, a directory with a manifest.json one
// MISP feed), for measuring by hand: INTEL_CORPUS_ORDER=1 (the corpus in
// INTEL_CORPUS_DIR, default the shared corpus, see internal/corpus). Feeds that fail (the
// corpus holds malformed files on purpose) keep what they loaded before the
// error. It logs the counts of each order and fails if the graphs differ.
func TestCorpusLoadOrder(t *testing.T) {
	if os.Getenv("INTEL_CORPUS_ORDER") == "" {
		t.Skip("set INTEL_CORPUS_ORDER=1 to load the whole corpus in three orders")
	}
	dir := os.Getenv("INTEL_CORPUS_DIR")
	if dir == "" {
		dir = corpus.Dir(t)
	}
	feeds := feedtest.FeedsUnder(t, dir, dir)
	runs, reloaded := loadInOrders(t, feeds)
	failed := 0
	for _, r := range runs[0].results {
		if r.Status == ingest.StatusFailed {
			failed++
			t.Logf("failed: %s: %s", r.Feed.Name, r.Error)
		}
	}
	t.Logf("%d feeds (%d failed in the forward load)", len(feeds), failed)
	for _, r := range runs {
		t.Logf("%-14s nodes %d, aliases %d, relations %d, pending %d, same graph as forward: %v",
			r.name, r.counts[0], r.counts[1], r.counts[2], r.counts[3], r.dump == runs[0].dump)
	}
	for _, r := range append(runs[1:], reloaded) {
		t.Logf("%s: same graph as forward: %v, same walk answers: %v", r.name, r.dump == runs[0].dump, r.walks == runs[0].walks)
		if r.dump != runs[0].dump {
			t.Errorf("%s: rows only in one: %s", r.name, diff(runs[0].dump, r.dump))
		}
		if r.walks != runs[0].walks {
			t.Errorf("%s: walk answers only in one: %s", r.name, diff(runs[0].walks, r.walks))
		}
	}
}

// diff lists the rows (dump lines) that only a or only b holds, the first
// ten of each, with how many there are.
func diff(a, b string) string {
	count := map[string]int{}
	for _, l := range strings.Split(a, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(b, "\n") {
		count[l]--
	}
	var onlyA, onlyB []string
	for l, c := range count {
		for ; c > 0; c-- {
			onlyA = append(onlyA, l)
		}
		for ; c < 0; c++ {
			onlyB = append(onlyB, l)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return fmt.Sprintf("%d only in the first: %s\n%d only in the second: %s", len(onlyA), strings.Join(onlyA[:min(10, len(onlyA))], "\n"),
		len(onlyB), strings.Join(onlyB[:min(10, len(onlyB))], "\n"))
}

// TestConcurrentWritersGiveTheSameGraph loads the feeds of
// TestLoadOrderDoesNotMatter one at a time with batches written one after
// another and with small batches written four at a time (Options.Writers):
// every column of the graph tables, relation_records included, must come
// out the same. Without the sweep that ends a load with several writers,
// relationships parked while their endpoint's batch was being written
// stay pending and the graphs differ.
func TestConcurrentWritersGiveTheSameGraph(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	order := filepath.Join("..", "testdata", "order")
	feeds := feedtest.FeedsUnder(t, order, order)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var dumps []string
	for _, opts := range []ingest.Options{
		{Concurrency: 1, Writers: 1, Logger: quiet},
		{Concurrency: 1, Writers: 4, BatchSize: 25, Logger: quiet},
	} {
		st, pool := newStore(t)
		res, err := ingest.Run(ctx, st, feeds, opts)
		require.NoError(t, err)
		for _, r := range res {
			require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
		}
		dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
	}
	require.True(t, dumps[0] == dumps[1], "four writers give another graph than one; rows only in one: %s", diff(dumps[0], dumps[1]))
}

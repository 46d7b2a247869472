package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
	"github.com/ransomeye/intel/tuning"
)

// nodesChecksum digests every column a writer sets, so two databases can be
// compared after the same nodes went in by different paths.
const nodesChecksum = `
SELECT count(*), md5(coalesce(string_agg(concat_ws('|', id, kind, key, name, props, labels, confidence, tlp,
       first_seen, last_seen, sources, name_rank, props_rank, props_key_ranks, timed), E'\n' ORDER BY id), ''))
FROM nodes`

// feedNodes returns n nodes as a feed would send them: observables and
// named objects with props, labels, confidence, TLP, times and a source.
// Pass 0 inserts them; pass 1 sends the same nodes again from a second feed,
// seen later and with more confidence, so that every one is merged.
func feedNodes(n, pass int, base time.Time) []graph.Node {
	kinds := []graph.Kind{graph.KindIPv4Addr, graph.KindDomainName, graph.KindHash, graph.KindIndicator, graph.KindMalware}
	nodes := make([]graph.Node, n)
	for i := range nodes {
		k := kinds[i%len(kinds)]
		key := fmt.Sprintf("bench-%s-%07d", k, i)
		c := 50 + 10*pass
		nodes[i] = graph.Node{
			ID: graph.NamedID(k, key), Kind: k, Key: key, Name: key,
			Props:      map[string]any{"x_feed_score": i % 100, "description": "generated for the upsert benchmark"},
			Labels:     []string{"bench", fmt.Sprintf("label-%d", i%7)},
			Confidence: &c, TLP: []graph.TLP{"green", "amber"}[pass],
			FirstSeen: base.Add(time.Duration(pass) * time.Hour), LastSeen: base.Add(time.Duration(pass+1) * time.Hour),
			Sources: []string{fmt.Sprintf("feed-%c", 'a'+pass)},
		}
	}
	return nodes
}

// nodeUpsertOneSQL is NodeUpsertMany (db/queries/nodes.sql) for a single
// row with times of its own (every benchmark node has them): the same merge
// rules, so that both writers leave the same table, which the benchmark
// checks. It is written out with VALUES rather than by calling
// NodeUpsertMany with one-element arrays, which costs the server two to
// three times as much per row and would flatter the batched writer.
const nodeUpsertOneSQL = `
INSERT INTO nodes AS n (id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources,
                        name_rank, props_rank, props_key_ranks, timed)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, true)
ON CONFLICT (id) DO UPDATE SET
    kind = CASE WHEN ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
                THEN excluded.kind ELSE n.kind END,
    key = CASE WHEN ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
               THEN excluded.key ELSE n.key END,
    name = CASE WHEN excluded.name_rank > n.name_rank THEN excluded.name ELSE n.name END,
    name_rank = greatest(n.name_rank, excluded.name_rank),
    -- The common case inline: both rows come whole from one record and the
    -- incoming one outranks the stored one and has all its keys.
    props = CASE WHEN n.props_key_ranks = '{}' AND excluded.props_key_ranks = '{}' AND excluded.props_rank > n.props_rank
                      AND excluded.props ?& ARRAY(SELECT jsonb_object_keys(n.props))
                 THEN excluded.props
                 ELSE props_merge(jsonb_build_object('p', n.props, 'r', n.props_rank, 'k', n.props_key_ranks),
                                  jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'p' END,
    props_key_ranks = CASE WHEN n.props_key_ranks = '{}' AND excluded.props_key_ranks = '{}' AND excluded.props_rank > n.props_rank
                                AND excluded.props ?& ARRAY(SELECT jsonb_object_keys(n.props))
                           THEN '{}'::jsonb
                           ELSE props_merge(jsonb_build_object('p', n.props, 'r', n.props_rank, 'k', n.props_key_ranks),
                                            jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'k' END,
    props_rank = greatest(n.props_rank, excluded.props_rank),
    labels = CASE WHEN n.labels @> excluded.labels THEN n.labels
                  ELSE ARRAY(SELECT DISTINCT l COLLATE "C" FROM unnest(n.labels || excluded.labels) AS l ORDER BY 1) END,
    confidence = greatest(n.confidence, excluded.confidence),
    tlp = CASE WHEN ROW(tlp_rank(excluded.tlp), coalesce(excluded.tlp, '') COLLATE "C") > ROW(tlp_rank(n.tlp), coalesce(n.tlp, '') COLLATE "C")
               THEN excluded.tlp ELSE n.tlp END,
    first_seen = CASE WHEN NOT n.timed THEN excluded.first_seen ELSE least(n.first_seen, excluded.first_seen) END,
    last_seen = CASE WHEN NOT n.timed THEN excluded.last_seen ELSE greatest(n.last_seen, excluded.last_seen) END,
    timed = true,
    sources = CASE WHEN n.sources @> excluded.sources THEN n.sources
                   ELSE ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(n.sources || excluded.sources) AS s ORDER BY 1) END,
    updated_at = now()
WHERE NOT n.timed OR excluded.first_seen < n.first_seen OR excluded.last_seen > n.last_seen
   OR ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
   OR NOT n.labels @> excluded.labels
   OR NOT n.sources @> excluded.sources
   OR coalesce(excluded.confidence, -1) > coalesce(n.confidence, -1)
   OR ROW(tlp_rank(excluded.tlp), coalesce(excluded.tlp, '') COLLATE "C") > ROW(tlp_rank(n.tlp), coalesce(n.tlp, '') COLLATE "C")
   OR excluded.name_rank > n.name_rank
   OR excluded.props_rank > n.props_rank
   OR EXISTS (SELECT 1 FROM jsonb_object_keys(excluded.props) AS k
              WHERE NOT n.props ? k
                 OR coalesce(excluded.props_key_ranks->>k COLLATE "C", excluded.props_rank)
                    > coalesce(n.props_key_ranks->>k COLLATE "C", n.props_rank))`

// upsertOneByOne writes each node with its own autocommitted INSERT … ON
// CONFLICT, the way a naive loader would.
func upsertOneByOne(ctx context.Context, pool *pgxpool.Pool, nodes []graph.Node) error {
	for _, n := range nodes {
		props, err := json.Marshal(n.Props)
		if err != nil {
			return err
		}
		var conf *int16
		if n.Confidence != nil {
			c := int16(*n.Confidence)
			conf = &c
		}
		var tlp *string
		if n.TLP != "" {
			t := strings.ToLower(string(n.TLP))
			tlp = &t
		}
		labels := slices.Compact(slices.Sorted(slices.Values(n.Labels)))
		sources := slices.Compact(slices.Sorted(slices.Values(n.Sources)))
		ranks := n.Ranks()
		keyRanks, err := json.Marshal(ranks.Keys)
		if err != nil || len(ranks.Keys) == 0 {
			keyRanks = []byte("{}")
		}
		if _, err := pool.Exec(ctx, nodeUpsertOneSQL, n.ID, string(n.Kind), n.Key, n.Name, json.RawMessage(props),
			labels, conf, tlp, n.FirstSeen, n.LastSeen, sources, ranks.Name, ranks.Props, json.RawMessage(keyRanks)); err != nil {
			return fmt.Errorf("upsert node %s: %w", n.ID, err)
		}
	}
	return nil
}

// upsertBatched writes the nodes through the Store, handing it one batch
// (BatchSize nodes: one transaction, one multi-row statement) per
// UpsertNodes call, one call after the other, the way the ingest pipeline
// writes a feed.
func upsertBatched(ctx context.Context, gs *store.Store, nodes []graph.Node) error {
	for chunk := range slices.Chunk(nodes, gs.BatchSize()) {
		if _, err := gs.UpsertNodes(ctx, chunk); err != nil {
			return err
		}
	}
	return nil
}

type upsertResult struct {
	server     string
	nodes      int
	batch      int
	writers    int
	store, seq [2]time.Duration // per pass (insert, merge): all nodes in one UpsertNodes call; one batch per call
	rows       [2]time.Duration // one autocommitted statement per row
}

// best keeps, for each writer and pass, the shorter of r's and o's times.
func (r *upsertResult) best(o upsertResult) {
	for pass := range 2 {
		r.store[pass] = min(r.store[pass], o.store[pass])
		r.seq[pass] = min(r.seq[pass], o.seq[pass])
		r.rows[pass] = min(r.rows[pass], o.rows[pass])
	}
}

// compareUpserts runs the three writers on the same nodes, each into its
// own fresh database (dsns: all-at-once, batch per call, row by row), and
// checks they leave the same table.
func compareUpserts(b *testing.B, server string, n int, dsns [3]string) upsertResult {
	b.Helper()
	ctx := context.Background()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var pools [3]*pgxpool.Pool
	for i, dsn := range dsns {
		pools[i] = productPool(b, dsn, nil)
	}
	plan, _ := tuning.LocalPlan() // as the CLI sizes its store
	gs := store.NewStore(pools[0], store.WithLogger(quietLogger), store.WithBatchSize(plan.BatchSize), store.WithWriters(plan.Writers))
	seq := store.NewStore(pools[1], store.WithLogger(quietLogger), store.WithBatchSize(plan.BatchSize))
	res := upsertResult{server: server, nodes: n, batch: gs.BatchSize(), writers: gs.Writers()}
	for pass := range 2 {
		nodes := feedNodes(n, pass, base)
		start := time.Now()
		if _, err := gs.UpsertNodes(ctx, nodes); err != nil {
			b.Fatalf("UpsertNodes: %v", err)
		}
		res.store[pass] = time.Since(start)
		start = time.Now()
		if err := upsertBatched(ctx, seq, nodes); err != nil {
			b.Fatalf("UpsertNodes per batch: %v", err)
		}
		res.seq[pass] = time.Since(start)
		start = time.Now()
		if err := upsertOneByOne(ctx, pools[2], nodes); err != nil {
			b.Fatalf("row by row: %v", err)
		}
		res.rows[pass] = time.Since(start)

		var counts [3]int
		var sums [3]string
		for i, p := range pools {
			if err := p.QueryRow(ctx, nodesChecksum).Scan(&counts[i], &sums[i]); err != nil {
				b.Fatal(err)
			}
		}
		if counts != [3]int{n, n, n} || sums[0] != sums[1] || sums[0] != sums[2] {
			b.Fatalf("pass %d: the writers left different tables: rows %v, checksums %v", pass, counts, sums)
		}
	}
	return res
}

// durableDatabases starts a server that commits durably (fsync,
// synchronous_commit and full_page_writes on, unlike the test harness) and
// returns three migrated databases on it.
func durableDatabases(b *testing.B) [3]string {
	b.Helper()
	ctx := context.Background()
	super := pgtest.StartServer(b, map[string]string{"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"})
	admin, err := pgxpool.New(ctx, super)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close()
	var dsns [3]string
	for i, name := range []string{"upsert_store", "upsert_batches", "upsert_rows"} {
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			b.Fatalf("create database %s: %v", name, err)
		}
		u, err := url.Parse(super)
		if err != nil {
			b.Fatal(err)
		}
		u.Path = "/" + name
		db, err := sql.Open("pgx", u.String())
		if err != nil {
			b.Fatal(err)
		}
		p, err := migrations.NewProvider(db)
		if err == nil {
			_, err = p.Up(ctx)
		}
		db.Close()
		if err != nil {
			b.Fatalf("migrate %s: %v", name, err)
		}
		dsns[i] = u.String()
	}
	return dsns
}

// BenchmarkNodeUpsert compares Store.UpsertNodes with one INSERT … ON
// CONFLICT per row, each in its own transaction, on the same nodes: first
// inserting them, then merging a second feed's copy of each into them.
// UpsertNodes gets all the nodes in one call, as a bulk loader hands them
// (batches of BatchSize, Writers transactions at once); the "one batch per
// call" column is the same Store called once per batch, one call after the
// other, as the ingest pipeline writes a feed. It runs on the test
// harness's server (fsync off) and, unless INTEL_BENCH_DURABLE_NODES=0, on a
// server that commits durably, where each autocommitted row waits for a WAL
// flush. With INTEL_BENCH_ROUNDS it runs that many rounds, each on fresh
// databases, and reports each writer's best.
func BenchmarkNodeUpsert(b *testing.B) {
	cfg := loadBenchConfig(b)
	var results []upsertResult
	for b.Loop() {
		results = results[:0]
		for range cfg.rounds {
			round := []upsertResult{compareUpserts(b, "harness (fsync off)", cfg.upsertRows,
				[3]string{pgtest.DSN(b), pgtest.DSN(b), pgtest.DSN(b)})}
			if cfg.durableRow > 0 {
				round = append(round, compareUpserts(b, "durable (fsync on)", cfg.durableRow, durableDatabases(b)))
			}
			if results == nil {
				results = round
				continue
			}
			for i := range results {
				results[i].best(round[i])
			}
		}
	}
	r := newReport(fmt.Sprintf("node upsert: Store.UpsertNodes vs one autocommitted INSERT … ON CONFLICT per row, best of %d round(s)", cfg.rounds))
	r.row("server", "nodes", "pass", "UpsertNodes", "ratio", "one batch per call", "ratio", "row by row")
	for _, res := range results {
		for pass, name := range []string{"insert", "merge"} {
			s, q, o := rate(res.nodes, res.store[pass]), rate(res.nodes, res.seq[pass]), rate(res.nodes, res.rows[pass])
			r.row(res.server, res.nodes, name, fmtRate(s), fmtRatio(s/o), fmtRate(q), fmtRatio(q/o), fmtRate(o))
		}
	}
	r.flush()
	note("UpsertNodes: batch size %d, %d batches at once (both tuned for this machine); all writers leave identical tables (checked)",
		results[0].batch, results[0].writers)
	for _, res := range results {
		unit := strings.Fields(res.server)[0]
		total := rate(2*res.nodes, res.store[0]+res.store[1])
		seq := rate(2*res.nodes, res.seq[0]+res.seq[1])
		rows := rate(2*res.nodes, res.rows[0]+res.rows[1])
		b.ReportMetric(total, unit+"-batched-rows/s")
		b.ReportMetric(seq, unit+"-batch-per-call-rows/s")
		b.ReportMetric(rows, unit+"-onebyone-rows/s")
		b.ReportMetric(total/rows, unit+"-ratio")
	}
}

package store_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"iter"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/store"
	"github.com/ransomeye/intel/tuning"
)

// telemetryRow is one generated telemetry edge, kept small so that millions
// fit in memory; edges() expands it to what an agent would send.
type telemetryRow struct {
	src, dst int32 // indexes into telemetrySet.nodes
	relation uint8
	agent    uint16
	pid      uint32
	at       time.Time
}

// telemetrySet is the same telemetry for every writer being compared:
// edges among a fixed set of endpoint nodes with random uuids, spread over
// the seven UTC days ending today, in time order as agents stream them
// (shuffled gives the same rows in random order, as a backfill of many
// agents' files would arrive).
type telemetrySet struct {
	nodes    []graph.Node
	rows     []telemetryRow
	shuffled []int32
	days     []time.Time
	// agents and pidProps are each row's agent id and props, made once:
	// a caller of AppendTelemetry holds its edges' values already, as
	// psql's CSV file is written before it is timed. (Made per row, their
	// formatting and maps were a tenth of AppendTelemetry's timed CPU.)
	agents   []string
	pidProps []map[string]any
}

var telemetryRelations = []string{"wrote", "connected-to", "spawned", "resolved", "loaded"}

func newTelemetrySet(rows, nodes int, now time.Time) *telemetrySet {
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []graph.Kind{graph.KindProcess, graph.KindFile, graph.KindIPv4Addr, graph.KindDomainName}
	ts := &telemetrySet{nodes: make([]graph.Node, nodes), rows: make([]telemetryRow, rows),
		agents: make([]string, 50_000), pidProps: make([]map[string]any, 1<<16)}
	for i := range ts.agents {
		ts.agents[i] = fmt.Sprintf("agent-%05d", i)
	}
	for i := range ts.pidProps {
		ts.pidProps[i] = map[string]any{"pid": uint32(i)}
	}
	for i := range ts.nodes {
		var id uuid.UUID
		for j := range id {
			id[j] = byte(rng.Uint32())
		}
		id[6] = id[6]&0x0f | 0x40 // version 4
		id[8] = id[8]&0x3f | 0x80 // RFC 4122 variant
		k := kinds[i%len(kinds)]
		ts.nodes[i] = graph.Node{ID: id, Kind: k, Key: fmt.Sprintf("bench-%s-%d", k, i)}
	}
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	first := today.AddDate(0, 0, -6)
	for d := range 7 {
		ts.days = append(ts.days, first.AddDate(0, 0, d))
	}
	week := int64(7 * 24 * time.Hour / time.Microsecond)
	for i := range ts.rows {
		ts.rows[i] = telemetryRow{
			src:      int32(rng.IntN(nodes)),
			dst:      int32(rng.IntN(nodes)),
			relation: uint8(rng.IntN(len(telemetryRelations))),
			agent:    uint16(rng.IntN(len(ts.agents))),
			pid:      uint32(rng.IntN(len(ts.pidProps))),
			at:       first.Add(time.Duration(rng.Int64N(week)) * time.Microsecond),
		}
	}
	slices.SortFunc(ts.rows, func(a, b telemetryRow) int { return a.at.Compare(b.at) })
	ts.shuffled = make([]int32, rows)
	for i := range ts.shuffled {
		ts.shuffled[i] = int32(i)
	}
	rng.Shuffle(rows, func(i, j int) { ts.shuffled[i], ts.shuffled[j] = ts.shuffled[j], ts.shuffled[i] })
	return ts
}

func (ts *telemetrySet) agent(r telemetryRow) string { return ts.agents[r.agent] }

func (ts *telemetrySet) props(r telemetryRow) map[string]any { return ts.pidProps[r.pid] }

// edges streams the rows as AppendTelemetry reads them: in time order, or
// in the order of the indexes in order. With timed, the endpoint nodes are
// seen at the row's time, as ingest/telemetry maps a line; otherwise they
// have no times.
func (ts *telemetrySet) edges(order []int32, timed bool) iter.Seq2[graph.TelemetryEdge, error] {
	return func(yield func(graph.TelemetryEdge, error) bool) {
		for i := range ts.rows {
			r := ts.rows[i]
			if order != nil {
				r = ts.rows[order[i]]
			}
			e := graph.TelemetryEdge{Src: ts.nodes[r.src], Relation: telemetryRelations[r.relation],
				Dst: ts.nodes[r.dst], AgentID: ts.agent(r), ObservedAt: r.at, Props: ts.props(r)}
			if timed {
				e.Src.FirstSeen, e.Src.LastSeen = r.at, r.at
				e.Dst.FirstSeen, e.Dst.LastSeen = r.at, r.at
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}

var telemetryColumns = []string{"src_id", "dst_id", "relation", "agent_id", "observed_at", "props"}

// writeCSV writes the rows as `psql \copy … WITH (FORMAT csv)` reads them.
func (ts *telemetrySet) writeCSV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	w := csv.NewWriter(bw)
	for _, r := range ts.rows {
		props, _ := json.Marshal(ts.props(r))
		if err := w.Write([]string{ts.nodes[r.src].ID.String(), ts.nodes[r.dst].ID.String(),
			telemetryRelations[r.relation], ts.agent(r), r.at.UTC().Format(time.RFC3339Nano), string(props)}); err != nil {
			_ = f.Close() // the write error is the one to report
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	if err := bw.Flush(); err != nil {
		_ = f.Close() // the write error is the one to report
		return err
	}
	return f.Close()
}

// telemetryDB is a fresh migrated database with the day partitions of the
// telemetry set already made.
func telemetryDB(b *testing.B, ts *telemetrySet) (string, *pgxpool.Pool) {
	b.Helper()
	dsn := pgtest.DSN(b)
	pool := productPool(b, dsn, nil)
	res, err := partman.EnsureDays(context.Background(), pool, ts.days, partman.Options{Logger: quietLogger})
	if err != nil {
		b.Fatalf("make partitions: %v", err)
	}
	if res.Created() != len(ts.days) {
		b.Fatalf("made %d partitions, want %d", res.Created(), len(ts.days))
	}
	return dsn, pool
}

// checkTelemetry fails unless the database holds exactly the set's rows,
// none of them in the default partition.
func checkTelemetry(b *testing.B, pool *pgxpool.Pool, ts *telemetrySet, what string) {
	b.Helper()
	var total, inDefault int
	err := pool.QueryRow(context.Background(),
		`SELECT (SELECT count(*) FROM telemetry_edges), (SELECT count(*) FROM telemetry_edges_default)`).Scan(&total, &inDefault)
	if err != nil {
		b.Fatalf("%s: count rows: %v", what, err)
	}
	if total != len(ts.rows) || inDefault != 0 {
		b.Fatalf("%s: %d rows (%d in the default partition), want %d in the day partitions", what, total, inDefault, len(ts.rows))
	}
}

// psqlCopy runs `psql \copy` of the CSV file into telemetry_edges.
func psqlCopy(ctx context.Context, dsn, file string) (time.Duration, error) {
	cmd := fmt.Sprintf(`\copy telemetry_edges(%s) FROM '%s' WITH (FORMAT csv)`,
		strings.Join(telemetryColumns, ","), strings.ReplaceAll(file, "'", "''"))
	start := time.Now()
	out, err := exec.CommandContext(ctx, "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", cmd).CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("psql \\copy: %w: %s", err, out)
	}
	return d, nil
}

// pgxCopy is the COPY half of AppendTelemetry alone: one pgx.CopyFrom
// stream of the same rows with the same row source, no node upsert.
func pgxCopy(ctx context.Context, pool *pgxpool.Pool, ts *telemetrySet) (time.Duration, error) {
	start := time.Now()
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == len(ts.rows) {
			return nil, nil
		}
		r := ts.rows[i]
		i++
		props, err := json.Marshal(ts.props(r))
		if err != nil {
			return nil, err
		}
		return []any{ts.nodes[r.src].ID, ts.nodes[r.dst].ID, telemetryRelations[r.relation], ts.agent(r), r.at, json.RawMessage(props)}, nil
	})
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"telemetry_edges"}, telemetryColumns, src)
	return time.Since(start), err
}

// BenchmarkTelemetryCopy compares AppendTelemetry with `psql \copy` of the
// same rows into the same daily-partitioned table (two indexes on random
// uuids), each into a fresh database with the seven day partitions made.
// AppendTelemetry also upserts the endpoint nodes of every chunk, which
// \copy does not; the pgx CopyFrom line is the COPY alone, for reference
// (the Store has no option to skip the node upsert). AppendTelemetry runs
// twice: on the rows in time order, as agents stream them, and shuffled,
// since its endpoint cache depends on the order.
func BenchmarkTelemetryCopy(b *testing.B) {
	cfg := loadBenchConfig(b)
	ctx := context.Background()
	if _, err := exec.LookPath("psql"); err != nil {
		b.Fatalf("psql is needed for the \\copy baseline: %v", err)
	}
	now := time.Now().UTC()
	ts := newTelemetrySet(cfg.copyRows, cfg.copyNodes, now)
	file := filepath.Join(b.TempDir(), "telemetry.csv")
	csvStart := time.Now()
	if err := ts.writeCSV(file); err != nil {
		b.Fatalf("write csv: %v", err)
	}
	csvTime := time.Since(csvStart)
	fi, _ := os.Stat(file)

	type variant struct {
		name  string
		run   func(dsn string, pool *pgxpool.Pool) (time.Duration, error)
		times []time.Duration
		stats store.TelemetryStats
	}
	var batch int // the Store's default
	plan, err := tuning.LocalPlan()
	if err != nil {
		b.Fatalf("plan: %v", err)
	}
	appendRows := func(v *variant, order []int32, timed bool, opts ...store.Option) func(string, *pgxpool.Pool) (time.Duration, error) {
		return func(_ string, pool *pgxpool.Pool) (time.Duration, error) {
			opts := append([]store.Option{store.WithLogger(quietLogger), store.WithDayEnsurer(partman.NewDayEnsurer(pool, partman.Options{Logger: quietLogger}))}, opts...)
			gs := store.NewStore(pool, opts...)
			if len(opts) == 2 {
				batch = gs.BatchSize()
			}
			start := time.Now()
			st, err := gs.AppendTelemetry(ctx, ts.edges(order, timed))
			d := time.Since(start)
			v.stats = st
			if err == nil && timed {
				checkSeen(b, pool, v.name)
			}
			return d, err
		}
	}
	variants := []*variant{
		{name: `psql \copy (CSV file)`, run: func(dsn string, _ *pgxpool.Pool) (time.Duration, error) { return psqlCopy(ctx, dsn, file) }},
		{name: "AppendTelemetry"},
		{name: "AppendTelemetry, rows shuffled"},
		{name: "AppendTelemetry, Store as the CLI sizes it (writers, batch, endpoint cache)"},
		{name: "pgx CopyFrom alone, no node upsert", run: func(_ string, pool *pgxpool.Pool) (time.Duration, error) { return pgxCopy(ctx, pool, ts) }},
		{name: "AppendTelemetry, endpoints timed as ingest maps lines"},
		{name: "AppendTelemetry, endpoints timed, rows shuffled"},
	}
	variants[1].run = appendRows(variants[1], nil, false)
	variants[2].run = appendRows(variants[2], ts.shuffled, false)
	variants[3].run = appendRows(variants[3], nil, false, store.WithEndpointCache(plan.EndpointCacheKeys),
		store.WithWriters(plan.Writers), store.WithBatchSize(plan.BatchSize))
	variants[5].run = appendRows(variants[5], nil, true)
	variants[6].run = appendRows(variants[6], ts.shuffled, true)

	for b.Loop() {
		for round := 0; round < cfg.rounds; round++ {
			for _, v := range variants {
				dsn, pool := telemetryDB(b, ts)
				d, err := v.run(dsn, pool)
				if err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
				checkTelemetry(b, pool, ts, v.name)
				v.times = append(v.times, d)
				pool.Close()
			}
		}
	}

	psql := rate(len(ts.rows), best(variants[0].times))
	r := newReport(fmt.Sprintf("telemetry COPY: %d rows among %d endpoint nodes, %d day partitions, best of %d round(s)",
		len(ts.rows), len(ts.nodes), len(ts.days), cfg.rounds))
	r.row("writer", "best", "rows/s", "vs psql", "all rounds")
	for _, v := range variants {
		rr := rate(len(ts.rows), best(v.times))
		var all []string
		for _, d := range v.times {
			all = append(all, fmtRate(rate(len(ts.rows), d)))
		}
		r.row(v.name, ms(best(v.times)), fmtRate(rr), fmtRatio(rr/psql), strings.Join(all, " "))
	}
	r.flush()
	note("rows in time order (as agents stream them) unless shuffled; the same rows and table for every writer")
	note("CSV file: %d MB written in %s (not counted for psql)", fi.Size()>>20, ms(csvTime))
	for _, v := range append(variants[1:4:4], variants[5:]...) {
		n := v.stats.Nodes
		note("%s: endpoint upserts %d for %d endpoint observations (inserted %d, merged %d, unchanged %d)",
			v.name, n.NodesInserted+n.NodesMerged+n.NodesUnchanged, 2*len(ts.rows), n.NodesInserted, n.NodesMerged, n.NodesUnchanged)
	}
	note("Store defaults (one writer, batch %d, its default copy chunk and endpoint cache), except the row sized as the CLI sizes it: %d writers, batch %d, %d endpoint cache keys (tuning.Plan)",
		batch, plan.Writers, plan.BatchSize, plan.EndpointCacheKeys)

	appendRate := rate(len(ts.rows), best(variants[1].times))
	b.ReportMetric(psql, "psql-rows/s")
	b.ReportMetric(appendRate, "append-rows/s")
	b.ReportMetric(rate(len(ts.rows), best(variants[2].times)), "append-shuffled-rows/s")
	b.ReportMetric(rate(len(ts.rows), best(variants[3].times)), "append-tuned-rows/s")
	b.ReportMetric(rate(len(ts.rows), best(variants[4].times)), "pgxcopy-rows/s")
	b.ReportMetric(rate(len(ts.rows), best(variants[5].times)), "append-timed-rows/s")
	b.ReportMetric(rate(len(ts.rows), best(variants[6].times)), "append-timed-shuffled-rows/s")
	b.ReportMetric(appendRate/psql, "ratio")
}

// checkSeen fails b unless every endpoint node is seen from the first to
// the last of the rows that name it.
func checkSeen(b *testing.B, pool *pgxpool.Pool, name string) {
	b.Helper()
	var wrong int64
	err := pool.QueryRow(context.Background(), `
		SELECT count(*) FROM nodes n JOIN (
			SELECT id, min(at) AS first, max(at) AS last FROM (
				SELECT src_id AS id, observed_at AS at FROM telemetry_edges
				UNION ALL SELECT dst_id, observed_at FROM telemetry_edges) e GROUP BY id) o USING (id)
		WHERE n.first_seen <> o.first OR n.last_seen <> o.last OR NOT n.timed`).Scan(&wrong)
	if err != nil {
		b.Fatalf("%s: check first/last seen: %v", name, err)
	}
	if wrong > 0 {
		b.Fatalf("%s: %d endpoint nodes are not seen from their first to their last row", name, wrong)
	}
}

package store_test

import (
	"context"
	"crypto/md5"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

// benchGraph describes a graph generated in SQL straight into the tables:
// node i has the id md5(prefix || i)::uuid (see nodeID), so Go can name any
// node without asking the database.
//
//   - nodes: N of eight kinds;
//   - relations: every node has R/N outgoing relations to pseudo-random other
//     nodes, plus relHubs hub nodes with relHubDegree incoming relations each;
//   - telemetry: T edges between pseudo-random nodes observed over the
//     spanDays UTC days from first (seven when zero), plus telHubs hub nodes
//     with telHubDegree incoming edges each (a domain every host resolves).
//
// Hubs are nodes 0 … relHubs+telHubs-1.
type benchGraph struct {
	prefix                       string
	nodes, relations, telemetry  int
	relHubs, relHubDegree        int
	telHubs, telHubDegree        int
	first                        time.Time // midnight UTC of the first telemetry day
	spanDays                     int       // days of telemetry from first; 0 means 7
	genTime, loadTime, indexTime time.Duration
	vacuumTime                   time.Duration
}

// nodeID returns the id of node i of a generated graph: md5(prefix || i)
// read as a uuid, as the SQL computes it.
func nodeID(prefix string, i int) uuid.UUID {
	return uuid.UUID(md5.Sum([]byte(prefix + strconv.Itoa(i))))
}

func (g *benchGraph) id(i int) uuid.UUID { return nodeID(g.prefix, i) }

// hubNeighbour returns a node with a relation to relation hub h (the m-th
// source generateGraph gives it).
func (g *benchGraph) hubNeighbour(h, m int) int { return (m*7919 + h*104729) % g.nodes }

// span is how many days of telemetry the graph holds.
func (g *benchGraph) span() int {
	if g.spanDays <= 0 {
		return 7
	}
	return g.spanDays
}

func (g *benchGraph) days() []time.Time {
	var days []time.Time
	for d := range g.span() {
		days = append(days, g.first.AddDate(0, 0, d))
	}
	return days
}

var (
	benchNodeKinds     = []string{"file", "hash", "indicator", "malware", "intrusion-set", "ipv4-addr", "domain-name", "process"}
	benchRelationTypes = []string{"indicates", "uses", "attributed-to", "based-on", "related-to", "targets", "communicates-with", "drops"}
)

// generate fills the tables of a fresh database with g. Loading without
// indexes and building them afterwards is several times faster than
// inserting into indexed tables, so relations and telemetry_edges lose
// their keys, indexes and foreign keys for the load and get the very same
// ones back (from pg_get_constraintdef / pg_get_indexdef) before ANALYZE.
func (g *benchGraph) generate(ctx context.Context, pool *pgxpool.Pool) error {
	start := time.Now()
	if _, err := partman.EnsureDays(ctx, pool, g.days(), partman.Options{Logger: quietLogger}); err != nil {
		return fmt.Errorf("make partitions: %w", err)
	}
	_, err := pool.Exec(ctx, `
		INSERT INTO nodes (id, kind, key, name)
		SELECT md5($1 || i)::uuid, ($2::text[])[1 + i % cardinality($2::text[])], 'bench-' || i, 'node ' || i
		FROM generate_series(0, $3::int - 1) AS i
		ORDER BY 1`, g.prefix, benchNodeKinds, g.nodes)
	if err != nil {
		return fmt.Errorf("generate nodes: %w", err)
	}

	before, err := schemaDigest(ctx, pool)
	if err != nil {
		return err
	}
	var keys, fks []string
	for _, table := range []string{"relations", "telemetry_edges"} {
		k, f, err := dropKeys(ctx, pool, table)
		if err != nil {
			return err
		}
		keys, fks = append(keys, k...), append(fks, f...)
	}
	loadStart := time.Now()
	eg, egCtx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.loadRelations(egCtx, pool) })
	eg.Go(func() error { return g.loadTelemetry(egCtx, pool) })
	if err := eg.Wait(); err != nil {
		return err
	}
	g.loadTime = time.Since(loadStart)

	// Rebuild: primary keys and indexes first (two at a time, one per
	// core), then the foreign keys that need them.
	idxStart := time.Now()
	if err := runConcurrently(ctx, pool, 2, keys); err != nil {
		return err
	}
	if err := runConcurrently(ctx, pool, 2, fks); err != nil {
		return err
	}
	g.indexTime = time.Since(idxStart)
	after, err := schemaDigest(ctx, pool)
	if err != nil {
		return err
	}
	if after != before {
		return fmt.Errorf("keys and indexes not made again as they were:\nbefore: %s\nafter:  %s", before, after)
	}
	vacStart := time.Now()
	if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) nodes, relations, telemetry_edges`); err != nil {
		return fmt.Errorf("vacuum analyze: %w", err)
	}
	g.vacuumTime = time.Since(vacStart)
	g.genTime = time.Since(start)
	return nil
}

func (g *benchGraph) loadRelations(ctx context.Context, pool *pgxpool.Pool) error {
	hubs := g.relHubs * g.relHubDegree
	base := max(g.relations-hubs, 0)
	// Node s gets out-relations k = 0 … base/N: relation type k makes
	// (src, relation, dst) unique whatever dst the hash picks.
	_, err := pool.Exec(ctx, `
		INSERT INTO relations (src_id, relation, dst_id, confidence, sources)
		SELECT md5($1 || s)::uuid,
		       CASE WHEN k < cardinality($4::text[]) THEN ($4::text[])[k + 1] ELSE 'related-to-' || k END,
		       md5($1 || ((s + 1 + abs(hashint8extended(j, 7)) % ($2::int - 1)) % $2::int))::uuid,
		       50 + (j % 50)::int, '{bench}'
		FROM generate_series(0, $3::bigint - 1) AS j,
		     LATERAL (SELECT (j % $2::int)::int AS s, (j / $2::int)::int AS k) AS x`,
		g.prefix, g.nodes, base, benchRelationTypes)
	if err != nil {
		return fmt.Errorf("generate relations: %w", err)
	}
	// Hub h gets relHubDegree distinct sources (m·7919 + h·104729 mod N
	// is one-to-one in m while N is not a multiple of 7919).
	_, err = pool.Exec(ctx, `
		INSERT INTO relations (src_id, relation, dst_id, confidence, sources)
		SELECT md5($1 || ((m::bigint * 7919 + h::bigint * 104729) % $2::int))::uuid, 'beacons-to', md5($1 || h)::uuid, 80, '{bench}'
		FROM generate_series(0, $3::int - 1) AS h, generate_series(0, $4::int - 1) AS m`,
		g.prefix, g.nodes, g.relHubs, g.relHubDegree)
	if err != nil {
		return fmt.Errorf("generate hub relations: %w", err)
	}
	return nil
}

func (g *benchGraph) loadTelemetry(ctx context.Context, pool *pgxpool.Pool) error {
	hubs := g.telHubs * g.telHubDegree
	base := max(g.telemetry-hubs, 0)
	span := int64(time.Duration(g.span()) * 24 * time.Hour / time.Microsecond)
	// Plain INSERT … SELECT routes each row to its day partition.
	_, err := pool.Exec(ctx, `
		INSERT INTO telemetry_edges (src_id, dst_id, relation, agent_id, observed_at, props)
		SELECT md5($1 || (abs(hashint8extended(i, 1)) % $2::int))::uuid,
		       CASE WHEN i < $6::bigint THEN md5($1 || ($7::int + i % $8::int))::uuid
		            ELSE md5($1 || (abs(hashint8extended(i, 2)) % $2::int))::uuid END,
		       ($3::text[])[1 + (i % cardinality($3::text[]))],
		       'agent-' || lpad((i % 50000)::text, 5, '0'),
		       $4::timestamptz + interval '1 microsecond' * (abs(hashint8extended(i, 3)) % $5::bigint),
		       jsonb_build_object('pid', i % 65536)
		FROM generate_series(0, $9::bigint - 1) AS i`,
		g.prefix, g.nodes, telemetryRelations, g.first, span,
		int64(hubs), g.relHubs, max(g.telHubs, 1), int64(base+hubs))
	if err != nil {
		return fmt.Errorf("generate telemetry: %w", err)
	}
	return nil
}

// dropKeys drops the primary key, foreign keys and other indexes of table
// and returns the statements that make them again: keys and indexes, then
// foreign keys. (pg_get_indexdef spells an index of a partitioned table
// "ON ONLY", which would make it on the parent alone and leave it invalid;
// the statement made again covers every partition.)
func dropKeys(ctx context.Context, pool *pgxpool.Pool, table string) (keys, fks []string, err error) {
	rows, err := pool.Query(ctx, `
		SELECT format('ALTER TABLE %s ADD CONSTRAINT %I %s', conrelid::regclass, conname, pg_get_constraintdef(oid)),
		       format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname),
		       contype = 'f'
		FROM pg_constraint
		WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'f')
		UNION ALL
		SELECT replace(pg_get_indexdef(i.indexrelid), ' ON ONLY ', ' ON '), format('DROP INDEX %s', i.indexrelid::regclass), false
		FROM pg_index i
		WHERE i.indrelid = $1::regclass
		  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)`, table)
	if err != nil {
		return nil, nil, fmt.Errorf("list keys of %s: %w", table, err)
	}
	type key struct {
		create, drop string
		fk           bool
	}
	all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (key, error) {
		var k key
		err := r.Scan(&k.create, &k.drop, &k.fk)
		return k, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list keys of %s: %w", table, err)
	}
	// Foreign keys are dropped first: the primary key may not go while
	// something depends on it.
	for _, fk := range []bool{true, false} {
		for _, k := range all {
			if k.fk != fk {
				continue
			}
			if _, err := pool.Exec(ctx, k.drop); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", k.drop, err)
			}
			if fk {
				fks = append(fks, k.create)
			} else {
				keys = append(keys, k.create)
			}
		}
	}
	return keys, fks, nil
}

// schemaDigest lists the constraints and valid indexes of every table, so
// that generate can check it put back exactly what it dropped.
func schemaDigest(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var digest string
	err := pool.QueryRow(ctx, `
		SELECT string_agg(d, '; ' ORDER BY d) FROM (
		    SELECT format('%s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid)) AS d
		    FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'u', 'f')
		    UNION ALL
		    SELECT format('%s valid=%s', pg_get_indexdef(indexrelid), indisvalid)
		    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
		    WHERE c.relnamespace = 'public'::regnamespace
		) AS x`).Scan(&digest)
	if err != nil {
		return "", fmt.Errorf("describe keys and indexes: %w", err)
	}
	return digest, nil
}

// runConcurrently runs the statements on up to n connections at once.
func runConcurrently(ctx context.Context, pool *pgxpool.Pool, n int, stmts []string) error {
	eg, egCtx := errgroup.WithContext(ctx)
	eg.SetLimit(n)
	for _, s := range stmts {
		eg.Go(func() error {
			conn, err := pool.Acquire(egCtx)
			if err != nil {
				return err
			}
			defer conn.Release()
			if _, err := conn.Exec(egCtx, `SET maintenance_work_mem = '512MB'`); err != nil {
				return err
			}
			if _, err := conn.Exec(egCtx, s); err != nil {
				return fmt.Errorf("%s: %w", s, err)
			}
			return nil
		})
	}
	return eg.Wait()
}

// generatedGraph makes a database holding g and returns its URL and a pool
// on it: a fresh test database, or, when INTEL_BENCH_GRAPH_URL names a
// server (a postgres:// URL whose user may create databases), a database on
// it named after g that is generated once and reused by later runs (the
// 1M-node graph takes many minutes to build). A reused database is migrated
// up to the current schema first, so migrations that backfill (the
// telemetry rollup) run on it. Such databases are never dropped: drop them
// by hand, or stop the server, when done.
func generatedGraph(b *testing.B, g *benchGraph) (string, *pgxpool.Pool) {
	b.Helper()
	ctx := context.Background()
	dsn, reused := "", false
	if base := os.Getenv("INTEL_BENCH_GRAPH_URL"); base != "" {
		var err error
		dsn, reused, err = cachedGraphDB(ctx, base, g)
		if err != nil {
			b.Fatalf("INTEL_BENCH_GRAPH_URL: %v", err)
		}
	} else {
		dsn = pgtest.DSN(b)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	if reused {
		note("graph reused from database %s", cfg.ConnConfig.Database)
		return dsn, pool
	}
	if err := g.generate(ctx, pool); err != nil {
		b.Fatalf("generate graph: %v", err)
	}
	if base := os.Getenv("INTEL_BENCH_GRAPH_URL"); base != "" {
		if _, err := pool.Exec(ctx, `CREATE TABLE bench_graph_done (generated_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			b.Fatal(err)
		}
	}
	return dsn, pool
}

// cachedGraphDB returns the URL of the database on the server at base that
// holds g (its name says the prefix, sizes, hubs and first day), creating
// and migrating it when missing, and whether g is already generated in it
// (a database whose generation did not finish is dropped and made again).
func cachedGraphDB(ctx context.Context, base string, g *benchGraph) (string, bool, error) {
	name := fmt.Sprintf("bench_%s_%d_%d_%d_%d_%d_%d_%d_%s", g.prefix, g.nodes, g.relations, g.telemetry,
		g.relHubs, g.relHubDegree, g.telHubs, g.telHubDegree, g.first.Format("20060102"))
	if g.span() != 7 {
		name += fmt.Sprintf("_d%d", g.span())
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", false, err
	}
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", false, err
	}
	defer admin.Close(ctx)
	u.Path = "/" + name
	dsn := u.String()
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", false, err
	}
	done := false
	if exists {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return "", false, err
		}
		err = conn.QueryRow(ctx, `SELECT to_regclass('bench_graph_done') IS NOT NULL`).Scan(&done)
		conn.Close(ctx)
		if err != nil {
			return "", false, err
		}
		if !done {
			if _, err := admin.Exec(ctx, `DROP DATABASE `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
				return "", false, err
			}
		}
	}
	if !done {
		if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", false, err
		}
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", false, err
	}
	defer db.Close()
	p, err := migrations.NewProvider(db)
	if err != nil {
		return "", false, err
	}
	if _, err := p.Up(ctx); err != nil {
		return "", false, fmt.Errorf("migrate %s: %w", name, err)
	}
	return dsn, done, nil
}

package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// walkLevelSQL expands one level of a walk: the neighbours of every
// frontier node over relations (both directions) and telemetry edges in
// [since, until), at most fanout+1 edges per frontier node (the extra one
// tells that the cap cut something) — what one step of the FindRelated CTE
// reads. The caller drops the visited nodes.
const walkLevelSQL = `
SELECT f.id, x.nbr, x.relation, x.direction, x.rn
FROM unnest($1::uuid[]) AS f(id)
CROSS JOIN LATERAL (
    SELECT y.nbr, y.relation, y.direction, row_number() OVER () AS rn
    FROM (
        (SELECT r.dst_id AS nbr, r.relation, 'out'::text AS direction
         FROM relations r WHERE r.src_id = f.id)
        UNION ALL
        (SELECT r.src_id AS nbr, r.relation, 'in'::text AS direction
         FROM relations r WHERE r.dst_id = f.id)
        UNION ALL
        (SELECT t.dst_id AS nbr, t.relation, 'telemetry-out'::text AS direction
         FROM telemetry_edges t
         WHERE t.src_id = f.id AND t.observed_at >= $3::timestamptz AND t.observed_at < $4::timestamptz)
        UNION ALL
        (SELECT t.src_id AS nbr, t.relation, 'telemetry-in'::text AS direction
         FROM telemetry_edges t
         WHERE t.dst_id = f.id AND t.observed_at >= $3::timestamptz AND t.observed_at < $4::timestamptz)
    ) AS y
    LIMIT $2::int + 1
) AS x`

// The three statements that fetch what FindRelated returns besides the
// walk itself: the reached nodes, the relations among them, and their
// telemetry aggregated per (src, relation, dst).
const (
	walkNodesSQL = `
SELECT id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources
FROM nodes WHERE id = ANY($1::uuid[])`
	walkRelationsSQL = `
SELECT src_id, relation, dst_id, confidence, sources, first_seen, last_seen
FROM relations WHERE src_id = ANY($1::uuid[]) AND dst_id = ANY($1::uuid[])`
	walkTelemetrySQL = `
SELECT src_id, relation, dst_id, count(*), count(DISTINCT agent_id), min(observed_at), max(observed_at)
FROM telemetry_edges
WHERE src_id = ANY($1::uuid[]) AND dst_id = ANY($1::uuid[]) AND observed_at >= $2::timestamptz AND observed_at < $3::timestamptz
GROUP BY src_id, relation, dst_id`
)

// walkResult is what a walk reached.
type walkResult struct {
	nodes, edges int
	truncated    bool
	statements   int
	hash         string // of the whole result, for walks that return a graph.Neighbourhood
}

// hopWalk is the baseline FindRelated is measured against: a level-by-level
// walk driven from Go that keeps the visited set in a map and issues one
// query per hop over the whole frontier, with the same caps and choices as
// the CTE (at most fanout+1 edges read per frontier node, visited nodes
// dropped, a node cut by the fan-out cap only if no uncut edge reaches it,
// the node cap filled in id order, each node reached by its first edge in
// the CTE's order), then fetches the reached nodes and the edges among them
// in one round trip (a pgx.Batch of three statements).
func hopWalk(ctx context.Context, pool *pgxpool.Pool, start uuid.UUID, o graph.RelatedOptions) (walkResult, error) {
	var res walkResult
	visited := map[uuid.UUID]bool{start: true}
	order := []uuid.UUID{start}
	frontier := []uuid.UUID{start}
	type reach struct {
		cut                 bool
		direction, relation string
		parent              uuid.UUID
	}
	// better reports whether a reaches a node before b in the CTE's
	// DISTINCT ON order.
	better := func(a, b reach) bool {
		if a.cut != b.cut {
			return !a.cut
		}
		if a.direction != b.direction {
			return a.direction < b.direction
		}
		if a.relation != b.relation {
			return a.relation < b.relation
		}
		return bytes.Compare(a.parent[:], b.parent[:]) < 0
	}
	for depth := 0; depth < o.Depth && len(frontier) > 0; depth++ {
		rows, err := pool.Query(ctx, walkLevelSQL, frontier, o.Fanout, o.Since, o.Until)
		if err != nil {
			return res, fmt.Errorf("walk level %d: %w", depth+1, err)
		}
		res.statements++
		best := map[uuid.UUID]reach{}
		var (
			parent, nbr         uuid.UUID
			relation, direction string
			rn                  int64
		)
		_, err = pgx.ForEachRow(rows, []any{&parent, &nbr, &relation, &direction, &rn}, func() error {
			if visited[nbr] {
				return nil
			}
			r := reach{cut: rn > int64(o.Fanout), direction: direction, relation: relation, parent: parent}
			if old, ok := best[nbr]; !ok || better(r, old) {
				best[nbr] = r
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("walk level %d: %w", depth+1, err)
		}
		next := make([]uuid.UUID, 0, len(best))
		for id, r := range best {
			if r.cut {
				res.truncated = true
				continue
			}
			next = append(next, id)
		}
		slices.SortFunc(next, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		if room := max(o.MaxNodes-len(order), 0); len(next) > room {
			next, res.truncated = next[:room], true
		}
		for _, id := range next {
			visited[id] = true
		}
		order = append(order, next...)
		frontier = next
	}

	batch := &pgx.Batch{}
	batch.Queue(walkNodesSQL, order)
	batch.Queue(walkRelationsSQL, order)
	batch.Queue(walkTelemetrySQL, order, o.Since, o.Until)
	br := pool.SendBatch(ctx, batch)
	defer func() { _ = br.Close() }() // the queries' own errors are returned below
	res.statements += 3
	rows, err := br.Query()
	if err != nil {
		return res, fmt.Errorf("fetch nodes: %w", err)
	}
	var nodes []graph.Node
	for rows.Next() {
		var (
			n          graph.Node
			kind       string
			props      []byte
			confidence *int16
			tlp        *string
		)
		if err := rows.Scan(&n.ID, &kind, &n.Key, &n.Name, &props, &n.Labels, &confidence, &tlp, &n.FirstSeen, &n.LastSeen, &n.Sources); err != nil {
			rows.Close()
			return res, fmt.Errorf("fetch nodes: %w", err)
		}
		n.Kind = graph.Kind(kind)
		if len(props) > 2 {
			if err := json.Unmarshal(props, &n.Props); err != nil {
				rows.Close()
				return res, err
			}
		}
		nodes = append(nodes, n)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("fetch nodes: %w", err)
	}
	if len(nodes) == 0 {
		return res, fmt.Errorf("walk from %s: %w", start, store.ErrNotFound)
	}
	res.nodes = len(nodes)
	var edges []graph.Edge
	rows, err = br.Query()
	if err != nil {
		return res, fmt.Errorf("fetch relations: %w", err)
	}
	for rows.Next() {
		var (
			e    graph.Edge
			conf *int16
		)
		if err := rows.Scan(&e.Src, &e.Relation, &e.Dst, &conf, &e.Sources, &e.FirstSeen, &e.LastSeen); err != nil {
			rows.Close()
			return res, fmt.Errorf("fetch relations: %w", err)
		}
		edges = append(edges, e)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("fetch relations: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return res, fmt.Errorf("fetch telemetry: %w", err)
	}
	for rows.Next() {
		e := graph.Edge{Telemetry: true}
		if err := rows.Scan(&e.Src, &e.Relation, &e.Dst, &e.Count, &e.Agents, &e.FirstSeen, &e.LastSeen); err != nil {
			rows.Close()
			return res, fmt.Errorf("fetch telemetry: %w", err)
		}
		edges = append(edges, e)
	}
	if err := rows.Err(); err != nil {
		return res, fmt.Errorf("fetch telemetry: %w", err)
	}
	res.edges = len(edges)
	return res, nil
}

// pathWalkSQL is the walk DESIGN.md warns about: a recursive CTE in which
// each row carries only its own path, so a node is expanded once per simple
// path that reaches it.
const pathWalkSQL = `
WITH RECURSIVE walk(id, depth, path) AS (
    SELECT $1::uuid, 0, ARRAY[$1::uuid]
    UNION ALL
    SELECT y.nbr, w.depth + 1, w.path || y.nbr
    FROM walk w
    CROSS JOIN LATERAL (
        SELECT r.dst_id AS nbr FROM relations r WHERE r.src_id = w.id
        UNION ALL
        SELECT r.src_id AS nbr FROM relations r WHERE r.dst_id = w.id
    ) AS y
    WHERE w.depth < $2::int AND NOT y.nbr = ANY(w.path)
)
SELECT id, depth FROM walk`

// pathWalkResult is how far the path-tracking walk got.
type pathWalkResult struct {
	rows     int64
	perDepth []int64
	distinct int
	elapsed  time.Duration
	timedOut bool
}

// pathWalk streams the rows of pathWalkSQL under statement_timeout,
// counting them, until the walk ends or the timeout cancels it.
func pathWalk(ctx context.Context, pool *pgxpool.Pool, start uuid.UUID, depth int, timeout time.Duration) (pathWalkResult, error) {
	res := pathWalkResult{perDepth: make([]int64, depth+1)}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, fmt.Sprintf("SET statement_timeout = %d", timeout.Milliseconds())); err != nil {
		return res, err
	}
	defer func() { _, _ = conn.Exec(context.Background(), "RESET statement_timeout") }()
	seen := map[uuid.UUID]bool{}
	begin := time.Now()
	rows, err := conn.Query(ctx, pathWalkSQL, start, depth)
	if err != nil {
		return res, err
	}
	var (
		id uuid.UUID
		d  int
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &d}, func() error {
		res.rows++
		res.perDepth[d]++
		seen[id] = true
		return nil
	})
	res.elapsed = time.Since(begin)
	res.distinct = len(seen)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "57014" { // query_canceled: statement_timeout
		res.timedOut = true
		return res, nil
	}
	return res, err
}

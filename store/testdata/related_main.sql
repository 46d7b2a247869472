-- FindRelated as it was on main at c48f4f4 (edges returned as JSON per
-- node), kept for BenchmarkFindRelated to run side by side with the current
-- query (generated text, positional parameters in gen.FindRelatedParams
-- order: see FindRelatedWith).
WITH RECURSIVE walk AS (
    SELECT 0 AS depth,
           ARRAY[$2::uuid] AS visited,
           ARRAY[$2::uuid] AS ids,
           ARRAY[NULL::uuid] AS parents,
           ARRAY[''::text] AS relations,
           ARRAY[''::text] AS directions,
           '{}'::uuid[] AS cut_ids,
           '{}'::bigint[] AS cut_degrees,
           false AS truncated,
           $3::int AS max_nodes,
           $1::int AS fanout
    UNION ALL
    SELECT w.depth + 1, w.visited || lvl.ids, lvl.ids, lvl.parents, lvl.relations, lvl.directions,
           ea.cut_ids, ea.cut_degrees, (lvl.truncated OR cardinality(ea.cut_ids) > 0),
           w.max_nodes, w.fanout
    FROM walk w
    CROSS JOIN LATERAL (
        -- Every edge examined from the frontier (at most fanout+1 per
        -- node: the extra one says the cap cut something), as parallel
        -- arrays, and the frontier nodes that were cut with their degree.
        SELECT coalesce(array_agg(e.parent), '{}')::uuid[] AS parents,
               coalesce(array_agg(e.nbr), '{}')::uuid[] AS nbrs,
               coalesce(array_agg(e.relation), '{}')::text[] AS relations,
               coalesce(array_agg(e.direction), '{}')::text[] AS directions,
               coalesce(array_agg(e.cls), '{}')::int[] AS classes,
               coalesce(array_agg(e.rn), '{}')::bigint[] AS rns,
               coalesce(array_agg(e.parent ORDER BY e.parent) FILTER (WHERE e.rn > w.fanout), '{}')::uuid[] AS cut_ids,
               coalesce(array_agg(e.degree ORDER BY e.parent) FILTER (WHERE e.rn > w.fanout), '{}')::bigint[] AS cut_degrees
        FROM (
            SELECT f.id AS parent, x.nbr, x.relation, x.direction, x.cls, x.degree,
                   row_number() OVER (PARTITION BY f.id ORDER BY x.cls, x.dord, x.relation, x.nbr) AS rn
            FROM unnest(w.ids) AS f(id)
            CROSS JOIN LATERAL (
                SELECT y.nbr, y.relation, y.direction, y.dord, y.cls, count(*) OVER () AS degree
                FROM (
                    SELECT z.nbr, z.relation, z.direction, z.dord,
                           CASE WHEN z.relation = ANY($4::text[]) THEN 1
                                WHEN z.relation = ANY($5::text[]) THEN 2
                                WHEN z.relation = ANY($6::text[]) THEN 3
                                ELSE 0 END AS cls
                    FROM (
                        -- relations both ways, as entities (entity_relations),
                        -- each once: two members of one entity (two revoked
                        -- copies, two clusters of one group) linking to one
                        -- peer are one edge of the entity
                        (SELECT DISTINCT r.nbr, r.relation, r.direction, r.dord
                         FROM entity_relations(ARRAY[f.id], $7::boolean)
                              AS r(parent, nbr, relation, direction, dord, confidence, sources, first_seen, last_seen))
                        UNION ALL
                        (SELECT t.dst_id AS nbr, t.relation, 'telemetry-out'::text AS direction, 2 AS dord
                         FROM telemetry_edges t
                         WHERE t.src_id = f.id AND t.observed_at >= $8::timestamptz AND t.observed_at < $9::timestamptz)
                        UNION ALL
                        (SELECT t.src_id AS nbr, t.relation, 'telemetry-in'::text AS direction, 3 AS dord
                         FROM telemetry_edges t
                         WHERE t.dst_id = f.id AND t.observed_at >= $8::timestamptz AND t.observed_at < $9::timestamptz)
                    ) AS z
                    WHERE (cardinality($10::text[]) = 0 OR z.relation = ANY($10::text[]))
                      AND z.relation <> ALL($11::text[])
                      AND (cardinality($12::text[]) = 0
                           OR EXISTS (SELECT 1 FROM nodes k WHERE k.id = z.nbr AND k.kind = ANY($12::text[])))
                      AND ($7::boolean
                           -- an InitPlan, evaluated once: no probe per edge when no node is withdrawn
                           -- (a count, so that it reads the partial index: EXISTS was planned as a
                           -- sequential scan of nodes, guessing half of them withdrawn)
                           OR (SELECT count(*) FROM nodes k WHERE node_withdrawn(k.props)) = 0
                           OR NOT EXISTS (SELECT 1 FROM nodes k WHERE k.id = z.nbr AND node_withdrawn(k.props)))
                ) AS y
                ORDER BY y.cls, y.dord, y.relation, y.nbr
                LIMIT w.fanout + 1
            ) AS x
        ) AS e
    ) AS ea
    CROSS JOIN LATERAL (
        SELECT coalesce((array_agg(d.nbr ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.fan_cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::uuid[] AS ids,
               coalesce((array_agg(d.parent ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.fan_cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::uuid[] AS parents,
               coalesce((array_agg(d.relation ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.fan_cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::text[] AS relations,
               coalesce((array_agg(d.direction ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.fan_cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::text[] AS directions,
               (coalesce(cardinality(array_agg(d.nbr) FILTER (WHERE NOT d.fan_cut)), 0) > w.max_nodes - cardinality(w.visited))::boolean AS truncated
        FROM (
            SELECT DISTINCT ON (e.nbr) e.nbr, e.parent, e.relation, e.direction, e.cls, e.rn > w.fanout AS fan_cut
            FROM (
                -- The arrays read back by ordinality: subscripts for the
                -- fixed-width ones, joins for the text ones (a subscript
                -- walks a text array from its start).
                SELECT ea.parents[rl.k] AS parent, ea.nbrs[rl.k] AS nbr, rl.v AS relation, dr.v AS direction,
                       ea.classes[rl.k] AS cls, ea.rns[rl.k] AS rn
                FROM unnest(ea.relations) WITH ORDINALITY AS rl(v, k)
                JOIN unnest(ea.directions) WITH ORDINALITY AS dr(v, k) ON dr.k = rl.k
            ) AS e
            LEFT JOIN unnest(w.visited) AS v(id) ON v.id = e.nbr
            WHERE v.id IS NULL
            ORDER BY e.nbr, e.rn > w.fanout, e.cls, e.direction, e.relation, e.parent
        ) AS d
    ) AS lvl
    WHERE w.depth < $13::int AND cardinality(w.ids) > 0
), reached AS (
    -- The level's parallel arrays, joined on their ordinality: reading
    -- them by subscript would walk a text array from its start each time.
    SELECT w.depth, i.id AS node_id, p.id AS via_id, rl.v AS via_relation, d.v AS via_direction
    FROM walk w
    CROSS JOIN LATERAL unnest(w.ids) WITH ORDINALITY AS i(id, k)
    JOIN LATERAL unnest(w.parents) WITH ORDINALITY AS p(id, k) ON p.k = i.k
    JOIN LATERAL unnest(w.relations) WITH ORDINALITY AS rl(v, k) ON rl.k = i.k
    JOIN LATERAL unnest(w.directions) WITH ORDINALITY AS d(v, k) ON d.k = i.k
), cuts AS (
    -- Each node is expanded once, so it is cut at most once.
    SELECT i.id, d.degree
    FROM walk w
    CROSS JOIN LATERAL unnest(w.cut_ids) WITH ORDINALITY AS i(id, k)
    JOIN LATERAL unnest(w.cut_degrees) WITH ORDINALITY AS d(degree, k) ON d.k = i.k
), rel_out AS (
    -- entity_edges_out gets the reached ids as a subquery argument, which
    -- keeps it a function scan: inlined (the ids as a lateral column), its
    -- generic plan, which a prepared statement switches to after five runs,
    -- rescanned reached once per edge (2.5-3x slower on the 1M-node graph;
    -- docs/benchmarks.md).
    SELECT x.parent AS src_id, json_agg(json_build_object(
                'relation', x.relation, 'dst', x.nbr, 'confidence', x.confidence, 'sources', x.sources,
                'first_seen', x.first_seen, 'last_seen', x.last_seen) ORDER BY x.relation, x.nbr) AS edges
    FROM entity_edges_out((SELECT array_agg(a.node_id) FROM reached a), $7::boolean)
         AS x(parent, nbr, relation, confidence, sources, first_seen, last_seen)
    JOIN reached b ON b.node_id = x.nbr
    WHERE (cardinality($10::text[]) = 0 OR x.relation = ANY($10::text[]))
      AND x.relation <> ALL($11::text[])
    GROUP BY x.parent
), tel_out AS (
    SELECT tg.src_id, json_agg(json_build_object(
                'relation', tg.relation, 'dst', tg.dst_id, 'count', tg.observations, 'agents', tg.agents,
                'first_seen', tg.first_at, 'last_seen', tg.last_at) ORDER BY tg.relation, tg.dst_id) AS edges
    FROM (
        SELECT t.src_id, t.relation, t.dst_id, count(*) AS observations, count(DISTINCT t.agent_id) AS agents,
               min(t.observed_at) AS first_at, max(t.observed_at) AS last_at
        FROM reached a
        JOIN telemetry_edges t ON t.src_id = a.node_id
        JOIN reached b ON b.node_id = t.dst_id
        WHERE t.observed_at >= $8::timestamptz AND t.observed_at < $9::timestamptz
          AND (cardinality($10::text[]) = 0 OR t.relation = ANY($10::text[]))
          AND t.relation <> ALL($11::text[])
        GROUP BY t.src_id, t.relation, t.dst_id
    ) AS tg
    GROUP BY tg.src_id
)
SELECT
    r.depth::int AS depth,
    n.id, n.kind, n.key, n.name, n.props, n.labels, n.confidence, n.tlp, n.first_seen, n.last_seen, n.sources,
    coalesce(r.via_id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS via_id,
    r.via_relation::text AS via_relation,
    r.via_direction::text AS via_direction,
    (SELECT coalesce(bool_or(w.truncated), false) FROM walk w)::boolean AS truncated,
    coalesce(c.degree, 0)::bigint AS degree,
    coalesce(c.degree - $1::int, 0)::bigint AS edges_cut,
    coalesce(ro.edges, '[]')::json AS relations_out,
    coalesce(tout.edges, '[]')::json AS telemetry_out
FROM reached r
JOIN nodes n ON n.id = r.node_id
LEFT JOIN rel_out ro ON ro.src_id = r.node_id
LEFT JOIN tel_out tout ON tout.src_id = r.node_id
LEFT JOIN cuts c ON c.id = r.node_id
ORDER BY r.depth, n.kind, n.key

-- name: WalkLevel :many
-- WalkLevel is one level of the level-by-level walk (store.FindRelatedLevels):
-- the same step as one round of the FindRelated recursion, as a statement
-- of its own, so that on Citus the telemetry scans push down to the shards
-- (a recursive CTE over a distributed table is refused there). @frontier is
-- the level's nodes, @visited every node reached so far.
-- The candidate edges of each frontier node are its relations in both
-- directions and its telemetry edges in [@since, @until), filtered as in
-- FindRelated (@only_relations, @skip_relations, @kinds, @include_withdrawn) and ranked by
-- (class, direction order, relation, neighbour); identical telemetry
-- observations are grouped with their multiplicity (m), which keeps the
-- ranks and degrees of the rows they stand for. A group whose first rank
-- is beyond @fanout was cut.
-- Rows with cut = true name a frontier node the fan-out cap cut (id) and
-- its true degree. The others are the new nodes (not visited), each once
-- with the edge that reached it (the best by not cut, class, direction,
-- relation, parent), ordered by ord (class, then id): the caller keeps as
-- many as the node cap allows.
WITH tel AS (
    SELECT t.src_id, t.dst_id, t.relation, count(*) AS m
    FROM telemetry_edges t
    WHERE (t.src_id = ANY(@frontier::uuid[]) OR t.dst_id = ANY(@frontier::uuid[]))
      AND t.observed_at >= @since::timestamptz AND t.observed_at < @until::timestamptz
      AND (cardinality(@only_relations::text[]) = 0 OR t.relation = ANY(@only_relations::text[]))
      AND t.relation <> ALL(@skip_relations::text[])
    GROUP BY t.src_id, t.dst_id, t.relation
), z AS (
    -- relations both ways, as entities: WalkEntityRelations of the frontier,
    -- read by a statement of its own (Citus refuses entity_relations, a SQL
    -- function, in a statement with the distributed telemetry_edges)
    SELECT unnest(@rel_parents::uuid[]) AS parent, unnest(@rel_nbrs::uuid[]) AS nbr,
           unnest(@rel_relations::text[]) AS relation, unnest(@rel_directions::text[]) AS direction,
           unnest(@rel_dords::int[]) AS dord, 1::bigint AS m
    UNION ALL
    SELECT tel.src_id, tel.dst_id, tel.relation, 'telemetry-out'::text, 2, tel.m
    FROM tel WHERE tel.src_id = ANY(@frontier::uuid[])
    UNION ALL
    SELECT tel.dst_id, tel.src_id, tel.relation, 'telemetry-in'::text, 3, tel.m
    FROM tel WHERE tel.dst_id = ANY(@frontier::uuid[])
), y AS (
    SELECT z.parent, z.nbr, z.relation, z.direction, z.dord, z.m,
           CASE WHEN z.relation = ANY(@containment::text[]) THEN 1
                WHEN z.relation = ANY(@provenance::text[]) THEN 2
                WHEN z.relation = ANY(@lifecycle::text[]) THEN 3
                ELSE 0 END AS cls
    FROM z
    WHERE (cardinality(@only_relations::text[]) = 0 OR z.relation = ANY(@only_relations::text[]))
      AND z.relation <> ALL(@skip_relations::text[])
      AND (cardinality(@kinds::text[]) = 0 OR z.nbr IN (SELECT k.id FROM nodes k WHERE k.kind = ANY(@kinds::text[])))
      -- As in FindRelated: unless @include_withdrawn, an edge to a revoked
      -- or deprecated node (node_withdrawn) does not exist for the walk.
      AND (@include_withdrawn::boolean OR z.nbr NOT IN (SELECT k.id FROM nodes k WHERE node_withdrawn(k.props)))
), ranked AS (
    SELECT y.parent, y.nbr, y.relation, y.direction, y.cls,
           (sum(y.m) OVER (PARTITION BY y.parent ORDER BY y.cls, y.dord, y.relation, y.nbr
                           ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) - y.m + 1)::bigint AS first_rank
    FROM y
), fresh AS (
    SELECT DISTINCT ON (e.nbr) e.nbr, e.parent, e.relation, e.direction, e.cls, (e.first_rank > @fanout::bigint)::boolean AS fan_cut
    FROM ranked e
    WHERE e.first_rank - 1 <= @fanout::bigint AND e.nbr <> ALL(@visited::uuid[])
    ORDER BY e.nbr, e.first_rank > @fanout::bigint, e.cls, e.direction, e.relation, e.parent
)
SELECT false AS cut, f.nbr::uuid AS id, f.parent::uuid AS parent, f.relation::text AS relation, f.direction::text AS direction,
       0::bigint AS degree, row_number() OVER (ORDER BY f.cls, f.nbr)::bigint AS ord
FROM fresh f
WHERE NOT f.fan_cut
UNION ALL
SELECT true, y.parent, y.parent, ''::text, ''::text, sum(y.m)::bigint, 0::bigint
FROM y
GROUP BY y.parent
HAVING sum(y.m) > @fanout::bigint
ORDER BY 1, 7;

-- name: WalkLevelsResult :many
-- WalkLevelsResult returns the nodes a level-by-level walk reached (@ids,
-- with their @depths), ordered by depth, kind and key as FindRelated, each
-- with its relations and telemetry edges (aggregated per relation and peer)
-- to the other reached nodes, with FindRelated's filters. The telemetry
-- aggregate runs on the shards on Citus (one pushed-down scan).
WITH reached AS (
    SELECT i.id, d.depth
    FROM unnest(@ids::uuid[]) WITH ORDINALITY AS i(id, k)
    JOIN unnest(@depths::int[]) WITH ORDINALITY AS d(depth, k) ON d.k = i.k
), tg AS (
    SELECT t.src_id, t.relation, t.dst_id, count(*) AS observations, count(DISTINCT t.agent_id) AS agents,
           min(t.observed_at) AS first_at, max(t.observed_at) AS last_at
    FROM telemetry_edges t
    WHERE t.src_id = ANY(@ids::uuid[]) AND t.dst_id = ANY(@ids::uuid[])
      AND t.observed_at >= @since::timestamptz AND t.observed_at < @until::timestamptz
      AND (cardinality(@only_relations::text[]) = 0 OR t.relation = ANY(@only_relations::text[]))
      AND t.relation <> ALL(@skip_relations::text[])
    GROUP BY t.src_id, t.relation, t.dst_id
), tel_out AS (
    -- as parallel arrays, as FindRelated returns them (store.edgeArrays)
    SELECT tg.src_id, array_agg(tg.relation) AS relations, array_agg(tg.dst_id) AS dsts,
           array_agg(tg.observations) AS counts, array_agg(tg.agents) AS agents,
           array_agg(tg.first_at) AS first_seen, array_agg(tg.last_at) AS last_seen
    FROM tg
    GROUP BY tg.src_id
)
SELECT r.depth::int AS depth,
       n.id, n.kind, n.key, n.name, n.props, n.labels, n.confidence, n.tlp, n.first_seen, n.last_seen, n.sources,
       coalesce(tout.relations, '{}')::text[] AS tel_relations,
       coalesce(tout.dsts, '{}')::uuid[] AS tel_dsts,
       coalesce(tout.counts, '{}')::bigint[] AS tel_counts,
       coalesce(tout.agents, '{}')::bigint[] AS tel_agents,
       coalesce(tout.first_seen, '{}')::timestamptz[] AS tel_first_seen,
       coalesce(tout.last_seen, '{}')::timestamptz[] AS tel_last_seen
FROM reached r
JOIN nodes n ON n.id = r.id
LEFT JOIN tel_out tout ON tout.src_id = r.id
ORDER BY r.depth, n.kind, n.key;

-- name: WalkEntityRelations :many
-- WalkEntityRelations returns the relations of @ids in both directions as
-- entities (entity_relations), for WalkLevel, which takes them as arrays.
-- It reads no distributed table, so Citus plans it on the coordinator.
-- Each edge once, as FindRelated takes them.
SELECT DISTINCT x.parent::uuid AS parent, x.nbr::uuid AS nbr, x.relation::text AS relation,
       x.direction::text AS direction, x.dord::int AS dord
FROM entity_relations(@ids::uuid[], @include_withdrawn::boolean)
     AS x(parent, nbr, relation, direction, dord, confidence, sources, first_seen, last_seen);

-- name: WalkLevelsRelationsOut :many
-- WalkLevelsRelationsOut returns, for each of the reached nodes @ids, its
-- relations (as entities) to the other reached nodes with FindRelated's
-- filters, as WalkLevelsResult returns its telemetry edges (one per
-- relation and peer: entity_edges_out); a statement of its own for the
-- reason WalkEntityRelations gives.
SELECT x.parent::uuid AS src_id, array_agg(x.relation)::text[] AS relations, array_agg(x.nbr)::uuid[] AS dsts,
       array_agg(coalesce(x.confidence, -1))::smallint[] AS confidences, array_agg(x.sources::text)::text[] AS sources,
       array_agg(x.first_seen)::timestamptz[] AS first_seen, array_agg(x.last_seen)::timestamptz[] AS last_seen
FROM entity_edges_out(@ids::uuid[], @include_withdrawn::boolean)
     AS x(parent, nbr, relation, confidence, sources, first_seen, last_seen)
WHERE x.nbr = ANY(@ids::uuid[])
  AND (cardinality(@only_relations::text[]) = 0 OR x.relation = ANY(@only_relations::text[]))
  AND x.relation <> ALL(@skip_relations::text[])
GROUP BY x.parent;

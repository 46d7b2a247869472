-- name: FindRelated :many
-- FindRelated walks the graph from @start_id up to @max_depth hops in one
-- statement: relations in both directions, and telemetry edges observed in
-- [@since, @until) (so only those day partitions are scanned). It walks level
-- by level, carrying the set of visited nodes, so no node is expanded twice
-- however many paths lead to it (a walk that tracks only its own path
-- enumerates every simple path and explodes on hubs); the visited set is
-- anti-joined once per level.
-- Which edges it may follow: when @only_relations is not empty, only those
-- relation names; never those in @skip_relations (the caller puts there the
-- excluded names and the provenance and lifecycle names it does not walk,
-- see graph.RelatedOptions); when @kinds is not empty, only edges to nodes
-- of those kinds; unless @include_withdrawn, never a withdrawn relation
-- (relation_withdrawn, migration 00027) nor an edge to a withdrawn
-- node (node_withdrawn(props): revoked or deprecated, graph.Lifecycle),
-- which is therefore neither returned nor expanded, exactly as if the
-- edges to it did not exist (they take no fan-out slot and do not count in
-- a degree); the start node is returned and expanded whatever its
-- lifecycle. Each edge has its class rank (0 intelligence, 1 names in
-- @containment, 2 in @provenance, 3 in @lifecycle: the classification is
-- graph.ClassOf, passed in). From each node it follows at most @fanout
-- edges, the lowest class first, then by direction (out, in,
-- telemetry-out, telemetry-in), relation and neighbour id; a node whose
-- followable edges were cut comes back with its true degree (the edges it
-- may follow). A hub's relations (more than @fanout one way) are counted
-- in the indexes and, when they need no entity mapping, read from them in
-- that order only as far as the cap. It reaches at most @max_nodes nodes
-- in all, filled level by level in (class, id) order; truncated says whether either cap cut anything,
-- max_nodes_reached whether the node cap did.
-- Each reached node comes with its depth and the edge that first reached it
-- (via_id, via_relation, via_direction: out, in, telemetry-out,
-- telemetry-in), so the path back to the start can be drawn, plus its
-- relations and telemetry edges (aggregated per relation and peer, the
-- same relation filters applied) to the other reached nodes, gathered for
-- all reached nodes at once.
WITH RECURSIVE moved AS (
    -- The nodes whose relations entity_relations does not return as stored
    -- when they are a peer: those that stand for another node, and (unless
    -- @include_withdrawn) the withdrawn ones, whose edges are dropped.
    SELECT m.node_id AS id FROM node_entities m
    WHERE m.entity_id IS NOT NULL AND (NOT @include_withdrawn::boolean OR m.reason = 'alias')
    UNION ALL
    SELECT k.id FROM nodes k WHERE NOT @include_withdrawn::boolean AND node_withdrawn(k.props)
), walk AS (
    SELECT 0 AS depth,
           ARRAY[@start_id::uuid] AS visited,
           ARRAY[@start_id::uuid] AS ids,
           ARRAY[NULL::uuid] AS parents,
           ARRAY[''::text] AS relations,
           ARRAY[''::text] AS directions,
           '{}'::uuid[] AS cut_ids,
           '{}'::bigint[] AS cut_degrees,
           false AS capped,
           @max_nodes::int AS max_nodes,
           @fanout::int AS fanout,
           g.indexable, g.unmerged, g.indexable AND g.unmerged AND g.unwithdrawn AS plain
    FROM (
        -- indexable: no kinds filter, so a node's relations may be counted
        -- and read in the indexes; unmerged: no node stands for another
        -- (node_entities), so the reached nodes' edges are read as stored;
        -- plain: both, and no node or relation is withdrawn (or
        -- @include_withdrawn), so every node's relations are read as
        -- stored, unchecked.
        SELECT cardinality(@kinds::text[]) = 0 AS indexable,
               NOT EXISTS (SELECT 1 FROM node_entities m
                           WHERE m.entity_id IS NOT NULL AND (NOT @include_withdrawn::boolean OR m.reason = 'alias')) AS unmerged,
               (@include_withdrawn::boolean OR ((SELECT count(*) FROM nodes k WHERE node_withdrawn(k.props)) = 0
                                                AND (SELECT count(*) FROM relations r WHERE relation_withdrawn(r.props)) = 0)) AS unwithdrawn
    ) AS g
    UNION ALL
    SELECT w.depth + 1, w.visited || lvl.ids, lvl.ids, lvl.parents, lvl.relations, lvl.directions,
           lvl.cut_ids, lvl.cut_degrees, lvl.truncated,
           w.max_nodes, w.fanout, w.indexable, w.unmerged, w.plain
    FROM walk w
    CROSS JOIN LATERAL (
        -- The level in one pass over the edges examined from the frontier
        -- (at most fanout+1 per node, in rank order rn: the extra one says
        -- the cap cut something): each new node once, by its best uncut
        -- edge (class, direction, relation, parent), the first ones in
        -- (class, id) order up to the node cap; and each cut frontier node
        -- (its fanout+1-th edge) with its true degree. No arrays in
        -- between: aggregating the edges into arrays and unnesting them
        -- again, with their sorts, cost about a quarter of the walk's
        -- server CPU on the 1M-node graph (docs/benchmarks.md, Walks).
        SELECT coalesce((array_agg(d.nbr ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::uuid[] AS ids,
               coalesce((array_agg(d.parent ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::uuid[] AS parents,
               coalesce((array_agg(d.relation ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::text[] AS relations,
               coalesce((array_agg(d.direction ORDER BY d.cls, d.nbr) FILTER (WHERE NOT d.cut))[1:(w.max_nodes - cardinality(w.visited))], '{}')::text[] AS directions,
               (count(*) FILTER (WHERE NOT d.cut) > w.max_nodes - cardinality(w.visited))::boolean AS truncated,
               coalesce(array_agg(d.parent ORDER BY d.parent) FILTER (WHERE d.cut), '{}')::uuid[] AS cut_ids,
               coalesce(array_agg(d.degree ORDER BY d.parent) FILTER (WHERE d.cut), '{}')::bigint[] AS cut_degrees
        FROM (
            SELECT DISTINCT ON (e.rn > w.fanout, CASE WHEN e.rn > w.fanout THEN e.parent ELSE e.nbr END)
                   e.rn > w.fanout AS cut, e.nbr, e.parent, e.relation, e.direction, e.cls, e.degree
            FROM (
                SELECT f.id AS parent, x.nbr, x.relation, x.direction, x.cls, x.degree,
                       row_number() OVER (PARTITION BY f.id ORDER BY x.cls, x.dord, x.relation, x.nbr) AS rn
                FROM unnest(w.ids) AS f(id)
                -- Whether f is a hub: more than fanout relations one way
                -- (in the indexes, unfiltered, read no further). Only a
                -- hub's relations are counted and checked in full, and
                -- read in walk order as far as the cap when entity_relations
                -- would return them as stored (plain: no node stands for f,
                -- none of its peers is moved and none of its relations is
                -- withdrawn); a node that is no hub is
                -- plain when no node at all is moved (w.plain), and then its
                -- relations are read as stored, all of them. (Counting and
                -- checking every node's relations cost more than they saved
                -- on the corpus, whose nodes have a few dozen each.)
                CROSS JOIN LATERAL (
                    SELECT (SELECT count(*) FROM (SELECT 1 FROM relations r
                                                  WHERE w.indexable AND r.src_id = f.id LIMIT w.fanout + 1) AS s) > w.fanout
                           OR (SELECT count(*) FROM (SELECT 1 FROM relations r
                                                     WHERE w.indexable AND r.dst_id = f.id LIMIT w.fanout + 1) AS s) > w.fanout AS hub
                    OFFSET 0
                ) AS a
                CROSS JOIN LATERAL (
                    SELECT o.n + i.n AS relations,
                           w.plain OR (o.moved + i.moved = 0 AND NOT EXISTS (
                               SELECT 1 FROM node_entities m
                               WHERE m.entity_id = f.id AND (NOT @include_withdrawn::boolean OR m.reason = 'alias'))
                               -- and none of its relations is withdrawn (relations_withdrawn_idx)
                               AND (@include_withdrawn::boolean
                                    OR NOT EXISTS (SELECT 1 FROM relations r WHERE r.src_id = f.id AND relation_withdrawn(r.props))
                                       AND NOT EXISTS (SELECT 1 FROM relations r WHERE r.dst_id = f.id AND relation_withdrawn(r.props)))) AS plain
                    FROM (SELECT count(*) AS n,
                                 count(*) FILTER (WHERE NOT w.plain AND r.dst_id IN (SELECT v.id FROM moved v)) AS moved
                          FROM relations r
                          WHERE a.hub AND r.src_id = f.id
                            AND (cardinality(@only_relations::text[]) = 0 OR r.relation = ANY(@only_relations::text[]))
                            AND r.relation <> ALL(@skip_relations::text[])) AS o
                    CROSS JOIN (
                          SELECT count(*) AS n,
                                 count(*) FILTER (WHERE NOT w.plain AND r.src_id IN (SELECT v.id FROM moved v)) AS moved
                          FROM relations r
                          WHERE a.hub AND r.dst_id = f.id
                            AND (cardinality(@only_relations::text[]) = 0 OR r.relation = ANY(@only_relations::text[]))
                            AND r.relation <> ALL(@skip_relations::text[])) AS i
                    WHERE a.hub
                    UNION ALL
                    SELECT 0, w.plain
                    WHERE NOT a.hub
                    OFFSET 0
                ) AS c
                CROSS JOIN LATERAL (
                    -- A plain hub's relations are counted above and read
                    -- only as far as the cap: its degree is that count plus
                    -- its telemetry edges.
                    SELECT y.nbr, y.relation, y.direction, y.dord, y.cls,
                           CASE WHEN c.plain AND a.hub THEN c.relations ELSE 0 END
                           + count(*) FILTER (WHERE NOT (c.plain AND a.hub) OR y.dord >= 2) OVER () AS degree
                    FROM (
                        SELECT z.nbr, z.relation, z.direction, z.dord,
                               CASE WHEN z.relation = ANY(@containment::text[]) THEN 1
                                    WHEN z.relation = ANY(@provenance::text[]) THEN 2
                                    WHEN z.relation = ANY(@lifecycle::text[]) THEN 3
                                    ELSE 0 END AS cls
                        FROM (
                            -- relations both ways, as entities (entity_relations),
                            -- each once: two members of one entity (two revoked
                            -- copies, two clusters of one group) linking to one
                            -- peer are one edge of the entity
                            (SELECT DISTINCT r.nbr, r.relation, r.direction, r.dord
                             FROM entity_relations(ARRAY[f.id], @include_withdrawn::boolean)
                                  AS r(parent, nbr, relation, direction, dord, confidence, sources, first_seen, last_seen)
                             WHERE NOT c.plain)
                            UNION ALL
                            -- a plain node that is no hub: all its relations
                            (SELECT r.dst_id AS nbr, r.relation, 'out'::text AS direction, 0 AS dord
                             FROM relations r
                             WHERE c.plain AND NOT a.hub AND r.src_id = f.id)
                            UNION ALL
                            (SELECT r.src_id AS nbr, r.relation, 'in'::text AS direction, 1 AS dord
                             FROM relations r
                             WHERE c.plain AND NOT a.hub AND r.dst_id = f.id)
                            UNION ALL
                            -- a plain hub:
                            -- the first fanout+1 of each direction and class
                            -- in index order (relation, peer), the classes
                            -- other than intelligence one relation name at a time
                            (SELECT r.dst_id AS nbr, r.relation, 'out'::text AS direction, 0 AS dord
                             FROM relations r
                             WHERE c.plain AND a.hub AND r.src_id = f.id
                               AND r.relation <> ALL(@containment::text[]) AND r.relation <> ALL(@provenance::text[])
                               AND r.relation <> ALL(@lifecycle::text[])
                               AND (cardinality(@only_relations::text[]) = 0 OR r.relation = ANY(@only_relations::text[]))
                               AND r.relation <> ALL(@skip_relations::text[])
                             ORDER BY r.relation, r.dst_id
                             LIMIT w.fanout + 1)
                            UNION ALL
                            (SELECT r.src_id AS nbr, r.relation, 'in'::text AS direction, 1 AS dord
                             FROM relations r
                             WHERE c.plain AND a.hub AND r.dst_id = f.id
                               AND r.relation <> ALL(@containment::text[]) AND r.relation <> ALL(@provenance::text[])
                               AND r.relation <> ALL(@lifecycle::text[])
                               AND (cardinality(@only_relations::text[]) = 0 OR r.relation = ANY(@only_relations::text[]))
                               AND r.relation <> ALL(@skip_relations::text[])
                             ORDER BY r.relation, r.src_id
                             LIMIT w.fanout + 1)
                            UNION ALL
                            (SELECT p.nbr, nm.relation, p.direction, p.dord
                             FROM (SELECT DISTINCT u.relation
                                   FROM unnest(@containment::text[] || @provenance::text[] || @lifecycle::text[]) AS u(relation)
                                   WHERE c.plain AND a.hub
                                     AND (cardinality(@only_relations::text[]) = 0 OR u.relation = ANY(@only_relations::text[]))
                                     AND u.relation <> ALL(@skip_relations::text[])) AS nm
                             CROSS JOIN LATERAL (
                                 (SELECT r.dst_id AS nbr, 'out'::text AS direction, 0 AS dord
                                  FROM relations r WHERE r.src_id = f.id AND r.relation = nm.relation
                                  ORDER BY r.dst_id LIMIT w.fanout + 1)
                                 UNION ALL
                                 (SELECT r.src_id, 'in'::text, 1
                                  FROM relations r WHERE r.dst_id = f.id AND r.relation = nm.relation
                                  ORDER BY r.src_id LIMIT w.fanout + 1)
                             ) AS p)
                            UNION ALL
                            (SELECT t.dst_id AS nbr, t.relation, 'telemetry-out'::text AS direction, 2 AS dord
                             FROM telemetry_edges t
                             WHERE t.src_id = f.id AND t.observed_at >= @since::timestamptz AND t.observed_at < @until::timestamptz)
                            UNION ALL
                            (SELECT t.src_id AS nbr, t.relation, 'telemetry-in'::text AS direction, 3 AS dord
                             FROM telemetry_edges t
                             WHERE t.dst_id = f.id AND t.observed_at >= @since::timestamptz AND t.observed_at < @until::timestamptz)
                        ) AS z
                        WHERE (cardinality(@only_relations::text[]) = 0 OR z.relation = ANY(@only_relations::text[]))
                          AND z.relation <> ALL(@skip_relations::text[])
                          AND (cardinality(@kinds::text[]) = 0
                               OR EXISTS (SELECT 1 FROM nodes k WHERE k.id = z.nbr AND k.kind = ANY(@kinds::text[])))
                          AND (@include_withdrawn::boolean
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
            -- new nodes only (a hashed anti-join with the visited set; cut
            -- rows name their parent and skip it)
            LEFT JOIN unnest(w.visited) AS v(id) ON v.id = e.nbr AND e.rn <= w.fanout
            WHERE v.id IS NULL
            ORDER BY e.rn > w.fanout, CASE WHEN e.rn > w.fanout THEN e.parent ELSE e.nbr END,
                     e.cls, e.direction, e.relation, e.parent
        ) AS d
    ) AS lvl
    WHERE w.depth < @max_depth::int AND cardinality(w.ids) > 0
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
    -- Each reached node's relations to the other reached nodes, as
    -- parallel arrays, one element per edge (decoded by store.edgeArrays,
    -- which puts them in (relation, peer) order; the arrays are aggregated
    -- without ORDER BY, which would sort once per array); an edge's
    -- sources as one text array literal. Arrays, not one JSON object per
    -- edge: building and parsing those was a third of the slowest corpus
    -- walks (docs/benchmarks.md). entity_edges_out gets the reached ids as
    -- a subquery argument, which keeps it a function scan: inlined (the ids
    -- as a lateral column), its generic plan, which a prepared statement
    -- switches to after five runs, rescanned reached once per edge
    -- (2.5-3x slower on the 1M-node graph). When no node stands for
    -- another (unmerged), entity_edges_out would return the relations as
    -- stored, one per (relation, peer): they are read straight from the
    -- primary key instead.
    SELECT x.parent AS src_id, array_agg(x.relation) AS relations, array_agg(x.nbr) AS dsts,
           array_agg(coalesce(x.confidence, -1)) AS confidences, array_agg(x.sources::text) AS sources,
           array_agg(x.first_seen) AS first_seen, array_agg(x.last_seen) AS last_seen
    FROM (
        SELECT e.parent, e.nbr, e.relation, e.confidence, e.sources, e.first_seen, e.last_seen
        FROM entity_edges_out((SELECT array_agg(a.node_id) FROM reached a), @include_withdrawn::boolean)
             AS e(parent, nbr, relation, confidence, sources, first_seen, last_seen)
        WHERE NOT (SELECT w.unmerged FROM walk w WHERE w.depth = 0)
        UNION ALL
        SELECT r.src_id, r.dst_id, r.relation, r.confidence, r.sources, r.first_seen, r.last_seen
        FROM reached a
        JOIN relations r ON r.src_id = a.node_id
        WHERE (SELECT w.unmerged FROM walk w WHERE w.depth = 0)
          AND (@include_withdrawn::boolean OR NOT relation_withdrawn(r.props))
    ) AS x
    JOIN reached b ON b.node_id = x.nbr
    WHERE (cardinality(@only_relations::text[]) = 0 OR x.relation = ANY(@only_relations::text[]))
      AND x.relation <> ALL(@skip_relations::text[])
    GROUP BY x.parent
), tel_out AS (
    -- Each reached node's telemetry edges to the other reached nodes,
    -- aggregated per relation and peer, as parallel arrays (the same way).
    SELECT tg.src_id, array_agg(tg.relation) AS relations, array_agg(tg.dst_id) AS dsts,
           array_agg(tg.observations) AS counts, array_agg(tg.agents) AS agents,
           array_agg(tg.first_at) AS first_seen, array_agg(tg.last_at) AS last_seen
    FROM (
        SELECT t.src_id, t.relation, t.dst_id, count(*) AS observations, count(DISTINCT t.agent_id) AS agents,
               min(t.observed_at) AS first_at, max(t.observed_at) AS last_at
        FROM reached a
        JOIN telemetry_edges t ON t.src_id = a.node_id
        JOIN reached b ON b.node_id = t.dst_id
        WHERE t.observed_at >= @since::timestamptz AND t.observed_at < @until::timestamptz
          AND (cardinality(@only_relations::text[]) = 0 OR t.relation = ANY(@only_relations::text[]))
          AND t.relation <> ALL(@skip_relations::text[])
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
    (SELECT coalesce(bool_or(w.capped OR cardinality(w.cut_ids) > 0), false) FROM walk w)::boolean AS truncated,
    (SELECT coalesce(bool_or(w.capped), false) FROM walk w)::boolean AS max_nodes_reached,
    coalesce(c.degree, 0)::bigint AS degree,
    coalesce(c.degree - @fanout::int, 0)::bigint AS edges_cut,
    coalesce(ro.relations, '{}')::text[] AS out_relations,
    coalesce(ro.dsts, '{}')::uuid[] AS out_dsts,
    coalesce(ro.confidences, '{}')::smallint[] AS out_confidences,
    coalesce(ro.sources, '{}')::text[] AS out_sources,
    coalesce(ro.first_seen, '{}')::timestamptz[] AS out_first_seen,
    coalesce(ro.last_seen, '{}')::timestamptz[] AS out_last_seen,
    coalesce(tout.relations, '{}')::text[] AS tel_relations,
    coalesce(tout.dsts, '{}')::uuid[] AS tel_dsts,
    coalesce(tout.counts, '{}')::bigint[] AS tel_counts,
    coalesce(tout.agents, '{}')::bigint[] AS tel_agents,
    coalesce(tout.first_seen, '{}')::timestamptz[] AS tel_first_seen,
    coalesce(tout.last_seen, '{}')::timestamptz[] AS tel_last_seen
FROM reached r
JOIN nodes n ON n.id = r.node_id
LEFT JOIN rel_out ro ON ro.src_id = r.node_id
LEFT JOIN tel_out tout ON tout.src_id = r.node_id
LEFT JOIN cuts c ON c.id = r.node_id
ORDER BY r.depth, n.kind, n.key;

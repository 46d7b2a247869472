-- +goose Up
-- entity_relations (00018) without repeated edges (#14): two revoked nodes
-- replaced by one entity (T1086 and T1064, both revoked by T1059), or two
-- MISP clusters standing for one group, that each have a link of one type
-- to one node gave the entity that link twice: in the walks' edges, in the
-- degree the fan-out cap counts and in the slots it takes. A moved edge
-- (one of a member's, or one whose peer stands for an entity) is now given
-- once per (parent, neighbour, relation, direction): its confidence the
-- highest, its sources the union, its first and last seen the widest of
-- the edges it stands for. An edge of the node's own is never repeated
-- (relations holds one row per src, relation and dst), and a moved edge
-- that repeats one of the node's own is still left out. Everything else is
-- 00018's definition: see the comment there.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entity_relations(ids uuid[], raw boolean)
RETURNS TABLE (parent uuid, nbr uuid, relation text, direction text, dord int,
               confidence smallint, sources text[], first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH e AS MATERIALIZED (
        SELECT m.parent, m.member, p.peer, p.relation, p.direction, p.dord, p.confidence, p.sources, p.first_seen, p.last_seen,
               coalesce(s.entity_id, p.peer) AS nbr
        FROM (
            SELECT f.id AS parent, f.id AS member FROM unnest(ids) AS f(id)
            UNION ALL
            SELECT x.entity_id, x.node_id FROM node_entities x
            WHERE x.entity_id = ANY(ids) AND (NOT raw OR x.reason = 'alias')
        ) AS m
        CROSS JOIN LATERAL (
            SELECT r.dst_id AS peer, r.relation, 'out'::text AS direction, 0 AS dord,
                   r.confidence, r.sources, r.first_seen, r.last_seen
            FROM relations r WHERE r.src_id = m.member
            UNION ALL
            SELECT r.src_id, r.relation, 'in'::text, 1, r.confidence, r.sources, r.first_seen, r.last_seen
            FROM relations r WHERE r.dst_id = m.member
        ) AS p
        -- a join, not a subquery: the peer's entity is read once per edge
        LEFT JOIN node_entities s ON s.node_id = p.peer AND (NOT raw OR s.reason = 'alias')
    ), moved AS (
        SELECT e.* FROM e
        WHERE NOT (e.member = e.parent AND e.peer = e.nbr) AND e.nbr <> e.parent
          -- OFFSET 0 keeps each a probe (the planner would otherwise hash
          -- every relation).
          AND CASE WHEN e.dord = 0 THEN NOT EXISTS (SELECT 1 FROM relations d
                                                    WHERE d.src_id = e.parent AND d.relation = e.relation AND d.dst_id = e.nbr
                                                    OFFSET 0)
                   ELSE NOT EXISTS (SELECT 1 FROM relations d
                                    WHERE d.src_id = e.nbr AND d.relation = e.relation AND d.dst_id = e.parent
                                    OFFSET 0)
              END
    )
    SELECT e.parent, e.nbr, e.relation, e.direction, e.dord, e.confidence, e.sources, e.first_seen, e.last_seen
    FROM e WHERE e.member = e.parent AND e.peer = e.nbr
    UNION ALL
    SELECT m.parent, m.nbr, m.relation, m.direction, m.dord, max(m.confidence),
           coalesce(array_agg(DISTINCT x.source ORDER BY x.source) FILTER (WHERE x.source IS NOT NULL), '{}'),
           min(m.first_seen), max(m.last_seen)
    FROM moved m
    LEFT JOIN LATERAL unnest(m.sources) AS x(source) ON true
    GROUP BY m.parent, m.nbr, m.relation, m.direction, m.dord
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entity_relations(ids uuid[], raw boolean)
RETURNS TABLE (parent uuid, nbr uuid, relation text, direction text, dord int,
               confidence smallint, sources text[], first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT e.parent, e.nbr, e.relation, e.direction, e.dord, e.confidence, e.sources, e.first_seen, e.last_seen
    FROM (
        SELECT m.parent, m.member, p.peer, p.relation, p.direction, p.dord, p.confidence, p.sources, p.first_seen, p.last_seen,
               coalesce(s.entity_id, p.peer) AS nbr
        FROM (
            SELECT f.id AS parent, f.id AS member FROM unnest(ids) AS f(id)
            UNION ALL
            SELECT x.entity_id, x.node_id FROM node_entities x
            WHERE x.entity_id = ANY(ids) AND (NOT raw OR x.reason = 'alias')
        ) AS m
        CROSS JOIN LATERAL (
            SELECT r.dst_id AS peer, r.relation, 'out'::text AS direction, 0 AS dord,
                   r.confidence, r.sources, r.first_seen, r.last_seen
            FROM relations r WHERE r.src_id = m.member
            UNION ALL
            SELECT r.src_id, r.relation, 'in'::text, 1, r.confidence, r.sources, r.first_seen, r.last_seen
            FROM relations r WHERE r.dst_id = m.member
        ) AS p
        -- a join, not a subquery: the peer's entity is read once per edge
        LEFT JOIN node_entities s ON s.node_id = p.peer AND (NOT raw OR s.reason = 'alias')
    ) AS e
    -- A CASE, so that the probes run only for the edges that moved; OFFSET 0
    -- keeps each a probe (the planner would otherwise hash every relation).
    WHERE CASE WHEN e.member = e.parent AND e.peer = e.nbr THEN true
               WHEN e.nbr = e.parent THEN false
               WHEN e.dord = 0 THEN NOT EXISTS (SELECT 1 FROM relations d
                                                WHERE d.src_id = e.parent AND d.relation = e.relation AND d.dst_id = e.nbr
                                                OFFSET 0)
               ELSE NOT EXISTS (SELECT 1 FROM relations d
                                WHERE d.src_id = e.nbr AND d.relation = e.relation AND d.dst_id = e.parent
                                OFFSET 0)
          END
$$;
-- +goose StatementEnd

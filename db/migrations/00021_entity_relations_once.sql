-- +goose Up
-- entity_relations (00018) without repeated edges (#14): two revoked nodes
-- replaced by one entity (T1086 and T1064, both revoked by T1059), or two
-- MISP clusters standing for one group, that each have a link of one type
-- to one node gave the entity that link twice: in the walks' edges, in the
-- degree the fan-out cap counts and in the slots it takes. Each (parent,
-- neighbour, relation, direction) is now given once: the entity's own
-- relation when it has one (a moved edge repeating it is left out, as in
-- 00018), else the first of the moved edges by (member, peer) id, with its
-- confidence, sources and times. Everything else is 00018's definition:
-- see the comment there.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entity_relations(ids uuid[], raw boolean)
RETURNS TABLE (parent uuid, nbr uuid, relation text, direction text, dord int,
               confidence smallint, sources text[], first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT DISTINCT ON (e.parent, e.nbr, e.relation, e.dord)
           e.parent, e.nbr, e.relation, e.direction, e.dord, e.confidence, e.sources, e.first_seen, e.last_seen
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
    ORDER BY e.parent, e.nbr, e.relation, e.dord, e.member, e.peer
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

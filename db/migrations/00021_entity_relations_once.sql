-- +goose Up
-- entity_relations (00018) without repeated edges (#14): two revoked nodes
-- replaced by one entity (T1086 and T1064, both revoked by T1059), or two
-- MISP clusters standing for one group, that each have a link of one type
-- to one node gave the entity that link twice: in the walks' edges, in the
-- degree the fan-out cap counts and in the slots it takes. A moved edge
-- (one of a member's, or one whose peer stands for an entity) now stands
-- for all the stored relations of its type between the nodes that stand
-- for its two ends (the entity and the nodes whose node_entities row names
-- it): it is given when none of them is the entity's own (as in 00018) and
-- it is the first of them in (source id, target id) order, so each edge
-- comes once, with that relation's confidence, sources and times. The
-- probe runs only for moved edges, as 00018's did. Everything else is
-- 00018's definition: see the comment there.
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
    -- A CASE, so that the probe runs only for the edges that moved; OFFSET 0
    -- keeps it a probe (the planner would otherwise hash every relation).
    -- In stored direction the edge is src -> dst between the entities
    -- srce -> dste; it is left out when a relation of its type joins a node
    -- standing for srce to one standing for dste that is the entities' own
    -- or comes before it.
    WHERE CASE WHEN e.member = e.parent AND e.peer = e.nbr THEN true
               WHEN e.nbr = e.parent THEN false
               ELSE NOT EXISTS (
                   SELECT 1
                   FROM (SELECT CASE WHEN e.dord = 0 THEN e.parent ELSE e.nbr END AS srce,
                                CASE WHEN e.dord = 0 THEN e.nbr ELSE e.parent END AS dste,
                                CASE WHEN e.dord = 0 THEN e.member ELSE e.peer END AS src,
                                CASE WHEN e.dord = 0 THEN e.peer ELSE e.member END AS dst) AS k
                   CROSS JOIN LATERAL (
                       SELECT k.srce AS id
                       UNION ALL
                       SELECT x.node_id FROM node_entities x WHERE x.entity_id = k.srce AND (NOT raw OR x.reason = 'alias')
                   ) AS a
                   CROSS JOIN LATERAL (
                       SELECT k.dste AS id
                       UNION ALL
                       SELECT x.node_id FROM node_entities x WHERE x.entity_id = k.dste AND (NOT raw OR x.reason = 'alias')
                   ) AS b
                   JOIN relations d ON d.src_id = a.id AND d.relation = e.relation AND d.dst_id = b.id
                   WHERE (a.id = k.srce AND b.id = k.dste) OR (a.id, b.id) < (k.src, k.dst)
                   OFFSET 0)
          END
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

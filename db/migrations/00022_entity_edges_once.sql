-- +goose Up
-- entity_relations (00018) gave an entity one edge per member that had it:
-- two nodes standing for one entity (a MISP threat-actor cluster and a
-- MISP intrusion-set cluster of the same ATT&CK group, two revoked copies
-- of one technique) that both link to a third made two edges with the
-- same relation to the same peer. They took two fan-out slots, counted
-- twice in a degree, and came back in an order the plan chose, so the
-- same walk could return its edges in a different order (seen on the
-- corpus: 174 of 660 starts changed their result hash between two plans
-- of the same query). Now an entity has one edge per peer, relation and
-- direction: its own edge if it has one (as before), else the one of its
-- lowest member. The probes that dropped repeats of the node's own edges
-- are no longer needed: DISTINCT ON keeps the own edge first.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION entity_relations(ids uuid[], raw boolean)
RETURNS TABLE (parent uuid, nbr uuid, relation text, direction text, dord int,
               confidence smallint, sources text[], first_seen timestamptz, last_seen timestamptz)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT DISTINCT ON (e.parent, e.nbr, e.relation, e.direction)
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
    -- an edge that became a loop (a revoked-by, a link between two
    -- members) is not the entity's
    WHERE e.nbr <> e.parent OR (e.member = e.parent AND e.peer = e.nbr)
    -- one edge per entity pair, relation and direction: the node's own
    -- edge if it has one, else that of the lowest member, then peer, id
    ORDER BY e.parent, e.nbr, e.relation, e.direction,
             (e.member = e.parent AND e.peer = e.nbr) DESC, e.member, e.peer
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

-- +goose Up
-- A relationship a source withdraws is not walked. STIX marks a
-- relationship object revoked ("revoked": true) and ATT&CK deprecates
-- relationships ("x_mitre_deprecated": true) in a newer version of the
-- same object; until now only withdrawn nodes were hidden, so such a link
-- stayed live in every walk. A relation is withdrawn when its props say so,
-- by the rule that marks nodes (relation_withdrawn is node_withdrawn: the
-- mappers set props lifecycle on a withdrawn relationship record, which,
-- as for a node, a live record of the relation never has, so the merged
-- row keeps it; see graph.Lifecycle and the README, Query). Unless a walk
-- includes withdrawn objects, entity_relations (and so entity_edges_out,
-- the level engine and FindRelated's entity path) leaves withdrawn
-- relations out, also when it checks whether a member's edge repeats the
-- entity's own; FindRelated's plain paths (db/queries/related.sql) check
-- relations_withdrawn_idx. Few relations are withdrawn: the partial index
-- is small, and a walk on a graph with none pays one probe of it.
CREATE FUNCTION relation_withdrawn(props jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT node_withdrawn(props)
$$;
COMMENT ON FUNCTION relation_withdrawn(jsonb) IS 'True when relation props mark it revoked or deprecated: the rule of node_withdrawn (graph.Lifecycle).';

CREATE INDEX relations_withdrawn_idx ON relations (src_id, dst_id) WHERE relation_withdrawn(props);

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
            FROM relations r WHERE r.src_id = m.member AND (raw OR NOT relation_withdrawn(r.props))
            UNION ALL
            SELECT r.src_id, r.relation, 'in'::text, 1, r.confidence, r.sources, r.first_seen, r.last_seen
            FROM relations r WHERE r.dst_id = m.member AND (raw OR NOT relation_withdrawn(r.props))
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
                                                  AND (raw OR NOT relation_withdrawn(d.props))
                                                OFFSET 0)
               ELSE NOT EXISTS (SELECT 1 FROM relations d
                                WHERE d.src_id = e.nbr AND d.relation = e.relation AND d.dst_id = e.parent
                                  AND (raw OR NOT relation_withdrawn(d.props))
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
DROP INDEX relations_withdrawn_idx;
DROP FUNCTION relation_withdrawn(jsonb);

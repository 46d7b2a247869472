-- +goose Up
-- The newest version of a renamed object is the newest, withdrawn or not.
-- Migration 00026 made a name-keyed node none of whose names an entity
-- claims stand for the node holding the newest version of a source id it
-- shares, ranking live versions first: a vendor that renamed AND revoked
-- an object in one newer version (Alpha, then Beta with "revoked": true)
-- left the old name live, standing for itself, so `show malware:alpha`
-- said live and walks reached it, while the same revocation without the
-- rename withdraws the one node. A revocation is final (STIX): the newest
-- version (latest last_seen, then the smallest id) is the entity, and the
-- walks, which hide withdrawn nodes, hide the old name's links with it.
-- The identity tables are recomputed.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_name_entities(ids uuid[]) RETURNS TABLE (node_id uuid, entity_id uuid, reason text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH named AS (
        SELECT u.node_id, coalesce(w.entity_id, c.node_id) AS entity_id
        FROM name_uses u
        JOIN alias_claims c ON c.alias = u.alias
        LEFT JOIN node_entities w ON w.node_id = c.node_id AND w.reason = 'revoked-by'
        WHERE u.node_id = ANY(ids)
          AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = u.node_id AND x.reason = 'revoked-by')
    ), renamed AS (
        SELECT s.node_id, coalesce(w.entity_id, v.id) AS entity_id
        FROM source_id_nodes s
        CROSS JOIN LATERAL (
            SELECT k.id
            FROM source_id_nodes o
            JOIN nodes k ON k.id = o.node_id
            WHERE o.source_id = s.source_id
            ORDER BY k.last_seen DESC, k.id
            LIMIT 1
        ) AS v
        LEFT JOIN node_entities w ON w.node_id = v.id AND w.reason = 'revoked-by'
        WHERE s.node_id = ANY(ids)
          AND NOT EXISTS (SELECT 1 FROM named m WHERE m.node_id = s.node_id)
          AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = s.node_id AND x.reason = 'revoked-by')
    )
    SELECT a.node_id,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN min(a.entity_id::text)::uuid END,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN 'alias' ELSE 'ambiguous' END
    FROM (SELECT * FROM named UNION ALL SELECT * FROM renamed WHERE renamed.entity_id <> renamed.node_id) AS a
    JOIN nodes n ON n.id = a.node_id
    WHERE a.entity_id <> a.node_id AND NOT node_withdrawn(n.props) AND NOT n.props ? 'ambiguous_attack_ids'
    GROUP BY a.node_id
$$;
-- +goose StatementEnd
SELECT identity_refresh();

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_name_entities(ids uuid[]) RETURNS TABLE (node_id uuid, entity_id uuid, reason text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH named AS (
        SELECT u.node_id, coalesce(w.entity_id, c.node_id) AS entity_id
        FROM name_uses u
        JOIN alias_claims c ON c.alias = u.alias
        LEFT JOIN node_entities w ON w.node_id = c.node_id AND w.reason = 'revoked-by'
        WHERE u.node_id = ANY(ids)
          AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = u.node_id AND x.reason = 'revoked-by')
    ), renamed AS (
        SELECT s.node_id, coalesce(w.entity_id, v.id) AS entity_id
        FROM source_id_nodes s
        CROSS JOIN LATERAL (
            SELECT k.id
            FROM source_id_nodes o
            JOIN nodes k ON k.id = o.node_id
            WHERE o.source_id = s.source_id
            ORDER BY node_withdrawn(k.props), k.last_seen DESC, k.id
            LIMIT 1
        ) AS v
        LEFT JOIN node_entities w ON w.node_id = v.id AND w.reason = 'revoked-by'
        WHERE s.node_id = ANY(ids)
          AND NOT EXISTS (SELECT 1 FROM named m WHERE m.node_id = s.node_id)
          AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = s.node_id AND x.reason = 'revoked-by')
    )
    SELECT a.node_id,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN min(a.entity_id::text)::uuid END,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN 'alias' ELSE 'ambiguous' END
    FROM (SELECT * FROM named UNION ALL SELECT * FROM renamed WHERE renamed.entity_id <> renamed.node_id) AS a
    JOIN nodes n ON n.id = a.node_id
    WHERE a.entity_id <> a.node_id AND NOT node_withdrawn(n.props) AND NOT n.props ? 'ambiguous_attack_ids'
    GROUP BY a.node_id
$$;
-- +goose StatementEnd
SELECT identity_refresh();

-- +goose Up
-- An ATT&CK technique whose ATT&CK id changed is one entity. mobile-attack-1.0
-- gives attack-pattern--79eec66a-… (Access Call Log) the id MOB-T1036, which
-- is no ATT&CK id of today's form, so the node is keyed by its name; a later
-- copy of the same STIX id (Unit 42's playbooks) gives it T1433 and another
-- name ("T1433: Access Call Log (Mobile)"), so it is another node, keyed by
-- T1433, and the STIX id and every link went to it: the older node was
-- empty, and nothing said the two were one. graph.VersionIDs now records
-- the source ids of nodes keyed by an ATT&CK id too (source_id_nodes), so
-- the older, name-keyed node stands for the newer version as a renamed
-- object does (00026). Such a node claims names of its own (alias_claims):
-- node_name_entities now leaves claimants out of the renamed rule, so an
-- entity with an ATT&CK id never stands for a vendor's name-keyed copy of
-- its object. Records loaded before this migration gave no rows for such
-- nodes: reload a feed to apply the rule to them.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_name_entities(ids uuid[]) RETURNS TABLE (node_id uuid, entity_id uuid, reason text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH uses AS MATERIALIZED (
        SELECT u.alias, u.node_id
        FROM name_uses u
        WHERE u.node_id = ANY(ids)
          AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = u.node_id AND x.reason = 'revoked-by')
    ), named AS (
        SELECT u.node_id, c.entity_id
        FROM uses u
        JOIN alias_claim_entities(ARRAY(SELECT DISTINCT v.alias FROM uses v)) AS c ON c.alias = u.alias
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
          AND NOT EXISTS (SELECT 1 FROM alias_claims c WHERE c.node_id = s.node_id)
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_name_entities(ids uuid[]) RETURNS TABLE (node_id uuid, entity_id uuid, reason text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH uses AS MATERIALIZED (
        SELECT u.alias, u.node_id
        FROM name_uses u
        WHERE u.node_id = ANY(ids)
          AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = u.node_id AND x.reason = 'revoked-by')
    ), named AS (
        SELECT u.node_id, c.entity_id
        FROM uses u
        JOIN alias_claim_entities(ARRAY(SELECT DISTINCT v.alias FROM uses v)) AS c ON c.alias = u.alias
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

-- +goose Up
-- A name claimed by one live entity and only by withdrawn others is the
-- live one's. alias_claims is only ever added to, so an ATT&CK object
-- deprecated (or revoked without a replacement) in a newer version keeps
-- the claims of its live version: "Adv3Shared", listed by S9901 and S9902
-- while both were live, stayed ambiguous after S9901's newer version was
-- deprecated, and a lookup by it was refused (testdata/adv
-- adv3-deprecated-alias). The claims that count are now those of live
-- entities when the alias has any (each claimant replaced by its
-- revoked-by entity, node_entities, as before; an entity is live when its
-- node is not withdrawn, node_withdrawn), else all of them: a name only
-- withdrawn entities claim stays as before, two live claimants stay
-- ambiguous. alias_claim_entities writes that rule once; ambiguous_aliases
-- (identity_refresh_keys), name entities (node_name_entities) and
-- Store.Resolve read it. A node's lifecycle decides now whether its claims
-- count, so identity_refresh_keys also recomputes the aliases claimed by
-- the nodes it is told were touched (their lifecycle props written) and by
-- the nodes revoked by them. The identity tables are recomputed.

-- alias_claim_entities returns the claims of aliases that count, each
-- claimant (node_id) with the entity it stands for (its revoked-by
-- replacement, else itself): the claims of live entities when the alias
-- has one, else every claim.
-- +goose StatementBegin
CREATE FUNCTION alias_claim_entities(aliases text[]) RETURNS TABLE (alias text, node_id uuid, entity_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT x.alias, x.node_id, x.entity_id
    FROM (
        SELECT c.alias, c.node_id, e.entity_id, e.live, bool_or(e.live) OVER (PARTITION BY c.alias) AS any_live
        FROM alias_claims c
        LEFT JOIN node_entities w ON w.node_id = c.node_id AND w.reason = 'revoked-by'
        CROSS JOIN LATERAL (SELECT coalesce(w.entity_id, c.node_id) AS entity_id) AS k
        LEFT JOIN nodes n ON n.id = k.entity_id
        CROSS JOIN LATERAL (SELECT k.entity_id, NOT coalesce(node_withdrawn(n.props), false) AS live) AS e
        WHERE c.alias = ANY(aliases)
    ) AS x
    WHERE x.live OR NOT x.any_live
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION alias_claim_entities(text[]) IS 'The claims of the aliases that count (alias_claims, each claimant with its revoked-by entity): those of live entities when an alias has one, else all.';

-- node_name_entities is 00029's, its names' claimants read through
-- alias_claim_entities.
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

-- identity_refresh_keys is 00026's: the aliases whose ambiguity may have
-- changed are also those claimed by the touched nodes and by the nodes
-- they replace (revoked-by), and an alias is ambiguous when the claims
-- that count (alias_claim_entities) name two or more entities.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION identity_refresh_keys(claimed text[], touched uuid[], revoked boolean, versioned uuid[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    moved uuid[] := '{}';
    dirty text[];
    keys uuid[];
    made bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7269636, 14);
    IF revoked THEN
        WITH want AS MATERIALIZED (
            SELECT * FROM node_revocations()
        ), diff AS MATERIALIZED (
            SELECT coalesce(w.node_id, h.node_id) AS node_id, w.entity_id
            FROM want w
            FULL JOIN (SELECT e.node_id, e.entity_id FROM node_entities e WHERE e.reason = 'revoked-by') AS h
                ON h.node_id = w.node_id
            WHERE w.entity_id IS DISTINCT FROM h.entity_id
        ), gone AS (
            DELETE FROM node_entities e USING diff d
            WHERE e.node_id = d.node_id AND d.entity_id IS NULL AND e.reason = 'revoked-by'
        ), put AS (
            INSERT INTO node_entities AS e (node_id, entity_id, reason)
            SELECT d.node_id, d.entity_id, 'revoked-by' FROM diff d WHERE d.entity_id IS NOT NULL ORDER BY d.node_id
            ON CONFLICT (node_id) DO UPDATE SET entity_id = excluded.entity_id, reason = excluded.reason
        )
        SELECT coalesce(array_agg(d.node_id), '{}') INTO moved FROM diff d;
    END IF;
    dirty := ARRAY(SELECT DISTINCT x.alias FROM (
        SELECT unnest(claimed)
        UNION ALL
        SELECT c.alias FROM alias_claims c WHERE c.node_id = ANY(moved || touched)
        UNION ALL
        SELECT c.alias FROM node_entities e JOIN alias_claims c ON c.node_id = e.node_id
        WHERE e.entity_id = ANY(touched) AND e.reason = 'revoked-by'
    ) AS x(alias));
    keys := ARRAY(SELECT DISTINCT x.id FROM (
        SELECT unnest(touched) UNION ALL SELECT unnest(moved) UNION ALL SELECT u.node_id FROM name_uses u WHERE u.alias = ANY(dirty)
        UNION ALL
        SELECT o.node_id FROM source_id_nodes s JOIN source_id_nodes o ON o.source_id = s.source_id
        WHERE s.node_id = ANY(versioned || moved) AND o.node_id <> s.node_id
        UNION ALL
        SELECT s.node_id FROM source_id_nodes s
        WHERE s.node_id = ANY(versioned || moved)
          AND EXISTS (SELECT 1 FROM source_id_nodes o WHERE o.source_id = s.source_id AND o.node_id <> s.node_id)
    ) AS x(id));
    WITH want AS MATERIALIZED (
        SELECT * FROM node_name_entities(keys)
    ), gone AS (
        DELETE FROM node_entities e
        WHERE e.node_id = ANY(keys) AND e.reason <> 'revoked-by' AND NOT EXISTS (SELECT 1 FROM want w WHERE w.node_id = e.node_id)
    )
    INSERT INTO node_entities AS e (node_id, entity_id, reason)
    SELECT w.node_id, w.entity_id, w.reason FROM want w ORDER BY w.node_id
    ON CONFLICT (node_id) DO UPDATE SET entity_id = excluded.entity_id, reason = excluded.reason
    WHERE (e.entity_id, e.reason) IS DISTINCT FROM (excluded.entity_id, excluded.reason);
    -- An alias is ambiguous when the claims that count name two or more
    -- entities.
    WITH want AS (
        SELECT c.alias
        FROM alias_claim_entities(dirty) AS c
        GROUP BY c.alias
        HAVING count(DISTINCT c.entity_id) > 1
    ), gone AS (
        DELETE FROM ambiguous_aliases a WHERE a.alias = ANY(dirty) AND NOT EXISTS (SELECT 1 FROM want w WHERE w.alias = a.alias)
    ), added AS (
        INSERT INTO ambiguous_aliases (alias) SELECT w.alias FROM want w ORDER BY w.alias
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO made FROM added;
    RETURN made;
END
$$;
-- +goose StatementEnd
SELECT identity_refresh();

-- +goose Down
-- 00029's node_name_entities and 00026's identity_refresh_keys.
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION identity_refresh_keys(claimed text[], touched uuid[], revoked boolean, versioned uuid[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    moved uuid[] := '{}';
    dirty text[];
    keys uuid[];
    made bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7269636, 14);
    IF revoked THEN
        WITH want AS MATERIALIZED (
            SELECT * FROM node_revocations()
        ), diff AS MATERIALIZED (
            SELECT coalesce(w.node_id, h.node_id) AS node_id, w.entity_id
            FROM want w
            FULL JOIN (SELECT e.node_id, e.entity_id FROM node_entities e WHERE e.reason = 'revoked-by') AS h
                ON h.node_id = w.node_id
            WHERE w.entity_id IS DISTINCT FROM h.entity_id
        ), gone AS (
            DELETE FROM node_entities e USING diff d
            WHERE e.node_id = d.node_id AND d.entity_id IS NULL AND e.reason = 'revoked-by'
        ), put AS (
            INSERT INTO node_entities AS e (node_id, entity_id, reason)
            SELECT d.node_id, d.entity_id, 'revoked-by' FROM diff d WHERE d.entity_id IS NOT NULL ORDER BY d.node_id
            ON CONFLICT (node_id) DO UPDATE SET entity_id = excluded.entity_id, reason = excluded.reason
        )
        SELECT coalesce(array_agg(d.node_id), '{}') INTO moved FROM diff d;
    END IF;
    dirty := ARRAY(SELECT DISTINCT x.alias FROM (
        SELECT unnest(claimed) UNION ALL SELECT c.alias FROM alias_claims c WHERE c.node_id = ANY(moved)
    ) AS x(alias));
    keys := ARRAY(SELECT DISTINCT x.id FROM (
        SELECT unnest(touched) UNION ALL SELECT unnest(moved) UNION ALL SELECT u.node_id FROM name_uses u WHERE u.alias = ANY(dirty)
        UNION ALL
        SELECT o.node_id FROM source_id_nodes s JOIN source_id_nodes o ON o.source_id = s.source_id
        WHERE s.node_id = ANY(versioned || moved) AND o.node_id <> s.node_id
        UNION ALL
        SELECT s.node_id FROM source_id_nodes s
        WHERE s.node_id = ANY(versioned || moved)
          AND EXISTS (SELECT 1 FROM source_id_nodes o WHERE o.source_id = s.source_id AND o.node_id <> s.node_id)
    ) AS x(id));
    WITH want AS MATERIALIZED (
        SELECT * FROM node_name_entities(keys)
    ), gone AS (
        DELETE FROM node_entities e
        WHERE e.node_id = ANY(keys) AND e.reason <> 'revoked-by' AND NOT EXISTS (SELECT 1 FROM want w WHERE w.node_id = e.node_id)
    )
    INSERT INTO node_entities AS e (node_id, entity_id, reason)
    SELECT w.node_id, w.entity_id, w.reason FROM want w ORDER BY w.node_id
    ON CONFLICT (node_id) DO UPDATE SET entity_id = excluded.entity_id, reason = excluded.reason
    WHERE (e.entity_id, e.reason) IS DISTINCT FROM (excluded.entity_id, excluded.reason);
    -- An alias is ambiguous when two or more entities claim it (claimants
    -- joined through revoked-by).
    WITH want AS (
        SELECT c.alias
        FROM alias_claims c
        LEFT JOIN node_entities w ON w.node_id = c.node_id AND w.reason = 'revoked-by'
        WHERE c.alias = ANY(dirty)
        GROUP BY c.alias
        HAVING count(DISTINCT coalesce(w.entity_id, c.node_id)) > 1
    ), gone AS (
        DELETE FROM ambiguous_aliases a WHERE a.alias = ANY(dirty) AND NOT EXISTS (SELECT 1 FROM want w WHERE w.alias = a.alias)
    ), added AS (
        INSERT INTO ambiguous_aliases (alias) SELECT w.alias FROM want w ORDER BY w.alias
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) INTO made FROM added;
    RETURN made;
END
$$;
-- +goose StatementEnd
DROP FUNCTION alias_claim_entities(text[]);
SELECT identity_refresh();

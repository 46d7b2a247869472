-- +goose Up
-- identity_refresh by keys (#16 feed loads). 00018 recomputed
-- node_entities and ambiguous_aliases whole in every batch that added
-- alias claims or name uses: 90 refreshes of 60-190 ms each in the
-- enterprise-sized load, more than the rest of the load together. The
-- rules are the same, each written once here; what changes is what is
-- recomputed: identity_refresh_keys recomputes only the rows the
-- transaction's new facts can change, and identity_refresh (whole) is that
-- for every key. Both run under the same advisory lock, one at a time,
-- each reading what those before it committed, so the tables stay current
-- at every commit and the count of each load stays exact under concurrent
-- loads, as before:
--   * the revoked part (node_revocations, few rows: one per revoked-by
--     source) is recomputed whole when the transaction may have changed a
--     revoked-by relation, and the nodes whose entity changed (moved) are
--     written;
--   * the aliases claimed anew (claimed) and those claimed by moved nodes
--     are the aliases whose ambiguity may have changed;
--   * the nodes written (touched: their props decide whether they may
--     stand for an entity), the moved nodes and the nodes using a changed
--     alias (name_uses) are the nodes whose name entity may have changed
--     (node_name_entities).
-- A fact that two transactions give together (a claim from one, a name use
-- from the other) is recomputed by the later one, which sees both.

DROP FUNCTION identity_refresh();
DROP FUNCTION node_entities_wanted();

-- node_revocations lists each revoked node (a revoked-by source) with the
-- end of its chain (node_replacement_chain), where that is another node.
-- +goose StatementBegin
CREATE FUNCTION node_revocations() RETURNS TABLE (node_id uuid, entity_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.src_id, e.id
    FROM (SELECT DISTINCT x.src_id FROM relations x WHERE x.relation = 'revoked-by') AS r
    CROSS JOIN LATERAL (
        SELECT c.id FROM node_replacement_chain(r.src_id) AS c WHERE NOT c.cycle ORDER BY c.step DESC LIMIT 1
    ) AS e
    WHERE e.id <> r.src_id
$$;
-- +goose StatementEnd

-- node_name_entities gives, for the nodes ids, what node_entities should
-- hold for a live node keyed by its name whose names (name_uses) are
-- claimed (alias_claims, each claimant replaced by the entity its
-- revoked-by row in node_entities names): by one entity, alias; by more,
-- ambiguous. A revoked node (a revoked-by row), a withdrawn one, or one
-- whose props list ambiguous_attack_ids (its source named two ATT&CK
-- entities) stays itself, as does a node claiming its own names.
-- +goose StatementBegin
CREATE FUNCTION node_name_entities(ids uuid[]) RETURNS TABLE (node_id uuid, entity_id uuid, reason text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT a.node_id,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN min(a.entity_id::text)::uuid END,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN 'alias' ELSE 'ambiguous' END
    FROM (
        SELECT u.node_id, coalesce(w.entity_id, c.node_id) AS entity_id
        FROM name_uses u
        JOIN alias_claims c ON c.alias = u.alias
        LEFT JOIN node_entities w ON w.node_id = c.node_id AND w.reason = 'revoked-by'
        WHERE u.node_id = ANY(ids)
          AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = u.node_id AND x.reason = 'revoked-by')
    ) AS a
    JOIN nodes n ON n.id = a.node_id
    WHERE a.entity_id <> a.node_id AND NOT node_withdrawn(n.props) AND NOT n.props ? 'ambiguous_attack_ids'
    GROUP BY a.node_id
$$;
-- +goose StatementEnd

-- identity_refresh_keys brings node_entities and ambiguous_aliases up to
-- date after a transaction that added the alias claims of claimed, wrote
-- the nodes touched and, with revoked, may have changed revoked-by
-- relations; it returns how many aliases became ambiguous. See above.
-- +goose StatementBegin
CREATE FUNCTION identity_refresh_keys(claimed text[], touched uuid[], revoked boolean) RETURNS bigint
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

-- identity_refresh recomputes both tables whole: identity_refresh_keys for
-- every alias claimed or ambiguous and every node using a name or standing
-- for an entity. ReleasePending runs it once a load is done.
-- +goose StatementBegin
CREATE FUNCTION identity_refresh() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7269636, 14);
    RETURN identity_refresh_keys(
        ARRAY(SELECT c.alias FROM alias_claims c UNION SELECT a.alias FROM ambiguous_aliases a),
        ARRAY(SELECT u.node_id FROM name_uses u UNION SELECT e.node_id FROM node_entities e),
        true);
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION identity_refresh();
DROP FUNCTION identity_refresh_keys(text[], uuid[], boolean);
DROP FUNCTION node_name_entities(uuid[]);
DROP FUNCTION node_revocations();

-- 00018's bodies.
-- +goose StatementBegin
CREATE FUNCTION node_entities_wanted() RETURNS TABLE (node_id uuid, entity_id uuid, reason text)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH revoked AS MATERIALIZED (
        SELECT r.src_id AS node_id, e.id AS entity_id
        FROM (SELECT DISTINCT x.src_id FROM relations x WHERE x.relation = 'revoked-by') AS r
        CROSS JOIN LATERAL (
            SELECT c.id FROM node_replacement_chain(r.src_id) AS c WHERE NOT c.cycle ORDER BY c.step DESC LIMIT 1
        ) AS e
        WHERE e.id <> r.src_id
    ), named AS (
        SELECT u.node_id, coalesce(w.entity_id, c.node_id) AS entity_id
        FROM name_uses u
        JOIN alias_claims c ON c.alias = u.alias
        LEFT JOIN revoked w ON w.node_id = c.node_id
        WHERE NOT EXISTS (SELECT 1 FROM revoked x WHERE x.node_id = u.node_id)
    )
    SELECT v.node_id, v.entity_id, 'revoked-by'::text FROM revoked v
    UNION ALL
    SELECT a.node_id,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN min(a.entity_id::text)::uuid END,
           CASE WHEN count(DISTINCT a.entity_id) = 1 THEN 'alias' ELSE 'ambiguous' END
    FROM named a
    JOIN nodes n ON n.id = a.node_id
    WHERE a.entity_id <> a.node_id AND NOT node_withdrawn(n.props) AND NOT n.props ? 'ambiguous_attack_ids'
    GROUP BY a.node_id
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION identity_refresh() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    made bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7269636, 14);
    WITH want AS MATERIALIZED (
        SELECT * FROM node_entities_wanted()
    ), gone AS (
        DELETE FROM node_entities e WHERE NOT EXISTS (SELECT 1 FROM want w WHERE w.node_id = e.node_id)
    )
    INSERT INTO node_entities AS e (node_id, entity_id, reason)
    SELECT w.node_id, w.entity_id, w.reason FROM want w ORDER BY w.node_id
    ON CONFLICT (node_id) DO UPDATE SET entity_id = excluded.entity_id, reason = excluded.reason
    WHERE (e.entity_id, e.reason) IS DISTINCT FROM (excluded.entity_id, excluded.reason);
    WITH want AS (
        SELECT c.alias
        FROM alias_claims c
        LEFT JOIN node_entities w ON w.node_id = c.node_id AND w.reason = 'revoked-by'
        GROUP BY c.alias
        HAVING count(DISTINCT coalesce(w.entity_id, c.node_id)) > 1
    ), gone AS (
        DELETE FROM ambiguous_aliases a WHERE NOT EXISTS (SELECT 1 FROM want w WHERE w.alias = a.alias)
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

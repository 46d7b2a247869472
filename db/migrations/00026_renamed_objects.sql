-- +goose Up
-- A renamed object is one entity. A vendor that renames a malware family
-- (or a tool, intrusion set, campaign, ...) publishes a newer version of the
-- same object: same STIX id (or MISP uuid), newer modified, another name.
-- Such objects are keyed by their normalized name, so the two versions are
-- two nodes, and the source id (an alias of both) belongs to the smaller
-- node id: links written for the new version could land on the stale name.
--
-- source_id_nodes records which nodes keyed by their name each source id
-- was given to (graph.VersionIDs; rows are only added, so the table is the
-- same in any load order). node_name_entities, which already says which
-- entity a name-keyed node stands for, now also says: a node none of whose
-- names an entity claims, one of whose source ids another node holds in a
-- newer version (live before withdrawn, then the latest last_seen, then
-- the smallest id), stands for that node (reason alias; Store.Describe
-- tells it apart by the shared source id). The walks and lookups read
-- node_entities as before, so the stale name reaches the renamed entity.
-- identity_refresh_keys takes the nodes whose source ids were written
-- (versioned) and recomputes every node sharing one of them.
-- Records loaded before this migration gave no rows (node_aliases keeps
-- only the winning node of a source id): reload a feed to apply the rule
-- to its renamed objects.
CREATE TABLE source_id_nodes (
    source_id text NOT NULL,
    node_id   uuid NOT NULL,
    PRIMARY KEY (source_id, node_id)
);
CREATE INDEX source_id_nodes_node_idx ON source_id_nodes (node_id);
COMMENT ON TABLE source_id_nodes IS 'Source ids (STIX ids, misp--<uuid>) given to nodes keyed by their name; two nodes of one source id are versions of one object under two names (node_name_entities).';

DROP FUNCTION identity_refresh();
DROP FUNCTION identity_refresh_keys(text[], uuid[], boolean);
DROP FUNCTION node_name_entities(uuid[]);

-- node_name_entities gives, for the nodes ids, what node_entities should
-- hold for a live node keyed by its name: when its names (name_uses) are
-- claimed (alias_claims, each claimant replaced by the entity its
-- revoked-by row in node_entities names), by one entity, alias; by more,
-- ambiguous. When none is claimed and one of its source ids was given to
-- other nodes too (source_id_nodes), the node holding the newest version
-- of each such id (live first, then the latest last_seen, then the
-- smallest id; its revoked-by replacement if it has one): by one entity,
-- alias; by more, ambiguous. A revoked node (a revoked-by row), a
-- withdrawn one, or one whose props list ambiguous_attack_ids (its source
-- named two ATT&CK entities) stays itself, as does a node that is its own
-- entity.
-- +goose StatementBegin
CREATE FUNCTION node_name_entities(ids uuid[]) RETURNS TABLE (node_id uuid, entity_id uuid, reason text)
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

-- identity_refresh_keys is 00019's, and also recomputes every node that
-- shares a source id with a node of versioned (the nodes whose source ids
-- the transaction wrote).
-- +goose StatementBegin
CREATE FUNCTION identity_refresh_keys(claimed text[], touched uuid[], revoked boolean, versioned uuid[]) RETURNS bigint
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

-- identity_refresh recomputes both tables whole: identity_refresh_keys for
-- every alias claimed or ambiguous, every node using a name or standing
-- for an entity, and every node sharing a source id with another.
-- +goose StatementBegin
CREATE FUNCTION identity_refresh() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7269636, 14);
    RETURN identity_refresh_keys(
        ARRAY(SELECT c.alias FROM alias_claims c UNION SELECT a.alias FROM ambiguous_aliases a),
        ARRAY(SELECT u.node_id FROM name_uses u UNION SELECT e.node_id FROM node_entities e),
        true,
        ARRAY(SELECT s.node_id FROM source_id_nodes s
              WHERE EXISTS (SELECT 1 FROM source_id_nodes o WHERE o.source_id = s.source_id AND o.node_id <> s.node_id)));
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION identity_refresh();
DROP FUNCTION identity_refresh_keys(text[], uuid[], boolean, uuid[]);
DROP FUNCTION node_name_entities(uuid[]);
DROP TABLE source_id_nodes;

-- 00019's bodies.
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

-- +goose Up
-- Entity resolution across records that stay nodes of their own (#14):
-- a revoked object and its replacement, a name-keyed actor (a MISP
-- threat-actor cluster with no ATT&CK id) and the ATT&CK group its names
-- name. Both are decided from sets that are only ever added to
-- (relations, alias_claims, name_uses), by identity_refresh, which
-- recomputes node_entities and ambiguous_aliases from them whole: the
-- result is the same in any load order. The walks read node_entities
-- through entity_relations.

-- The revoked-by relations, for identity_refresh (few rows; the predicate
-- costs the relation upsert one comparison).
CREATE INDEX relations_revoked_by_idx ON relations (src_id, dst_id) WHERE relation = 'revoked-by';

-- name_uses records the name aliases (graph.NameAlias) that live named
-- objects keyed by their name (no external id of their own: a MISP
-- threat-actor cluster "Sofacy", a vendor's intrusion set) give: their
-- name and the aliases or synonyms their props list. They claim nothing
-- (alias_claims is for entities with ids of their own); identity_refresh
-- resolves such a node to the one entity that claims its names.
CREATE TABLE name_uses (
    alias   text NOT NULL,
    node_id uuid NOT NULL,
    PRIMARY KEY (alias, node_id)
);
CREATE INDEX name_uses_node_idx ON name_uses (node_id);
COMMENT ON TABLE name_uses IS 'Name aliases given by named objects keyed by their name; identity_refresh resolves such a node to the one entity claiming them.';

-- node_entities says which entity a node stands for: reason revoked-by
-- (entity_id ends the node''s revoked-by chain, node_replacement_chain),
-- alias (the node is keyed by its name and every entity that claims one of
-- its names, after revoked-by, is entity_id) or ambiguous (its names are
-- claimed by two or more entities: entity_id is NULL, nothing is merged).
CREATE TABLE node_entities (
    node_id   uuid NOT NULL PRIMARY KEY,
    entity_id uuid,
    reason    text NOT NULL CHECK (reason IN ('revoked-by', 'alias', 'ambiguous')),
    CHECK ((reason = 'ambiguous') = (entity_id IS NULL))
);
CREATE INDEX node_entities_entity_idx ON node_entities (entity_id) WHERE entity_id IS NOT NULL;
COMMENT ON TABLE node_entities IS 'The entity a node stands for (its revoked-by replacement, or the one entity claiming its names); kept by identity_refresh.';

-- ambiguous_aliases lists the name aliases that two or more distinct
-- entities claim (alias_claims, claimants joined through revoked-by):
-- a lookup by one is refused with the candidates.
CREATE TABLE ambiguous_aliases (
    alias text NOT NULL PRIMARY KEY
);
COMMENT ON TABLE ambiguous_aliases IS 'Name aliases claimed by two or more entities (after revoked-by); kept by identity_refresh.';

-- node_replacement_chain follows revoked-by from start: step 0 is start,
-- each next step the first replacement (kind, key, id order) of the one
-- before, until a node without one, 64 steps, or a node already followed
-- (that last row has cycle set and is not part of the chain). Store.Resolve
-- and identity_refresh both read it: the rule is written once.
-- +goose StatementBegin
CREATE FUNCTION node_replacement_chain(start uuid) RETURNS TABLE (step int, id uuid, cycle boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE chain(step, id, path, cycle) AS (
        SELECT 0, start, ARRAY[start], false
        UNION ALL
        SELECT c.step + 1, nx.id, c.path || nx.id, nx.id = ANY(c.path)
        FROM chain c
        CROSS JOIN LATERAL (
            SELECT n.id FROM relations r JOIN nodes n ON n.id = r.dst_id
            WHERE r.src_id = c.id AND r.relation = 'revoked-by'
            ORDER BY n.kind, n.key, n.id
            LIMIT 1
        ) AS nx
        WHERE NOT c.cycle AND c.step < 64
    )
    SELECT c.step, c.id, c.cycle FROM chain c ORDER BY c.step
$$;
-- +goose StatementEnd

-- node_entities_wanted computes what node_entities should hold from
-- relations (revoked-by), alias_claims and name_uses: each revoked node
-- with the end of its chain (node_replacement_chain), then each live node
-- keyed by its name whose names (name_uses) are claimed: by one entity
-- (claimants joined through revoked-by), alias; by more, ambiguous. A node
-- whose props list ambiguous_attack_ids (its source named two ATT&CK
-- entities) stays itself.
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

-- identity_refresh brings node_entities and ambiguous_aliases (the aliases
-- two or more entities claim, claimants joined through revoked-by) up to
-- date with node_entities_wanted, and returns how many aliases became
-- ambiguous. It holds a transaction-level advisory lock, so refreshes run
-- one at a time and each reads what those before it committed: with every
-- writer of relations' revoked-by, alias_claims and name_uses refreshing
-- before it commits, both tables are current at every commit and the count
-- of each load is exact however many load at once.
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

-- entity_relations returns the relations of the nodes ids as entities, for
-- the walks (FindRelated, WalkLevel and their results): a node's own
-- relations, and those of the nodes that stand for it (node_entities), in
-- both directions (direction out or in, dord 0 or 1), each peer replaced by
-- the entity it stands for, so a feed's link to a revoked object or to a
-- MISP cluster of an ATT&CK group reaches the live group. An edge that
-- becomes a loop (a revoked-by) or repeats one of the node's own is left
-- out. With raw (a walk that returns withdrawn nodes) only alias entities
-- apply: revoked nodes are themselves.
-- +goose StatementBegin
CREATE FUNCTION entity_relations(ids uuid[], raw boolean)
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

-- Resolve what is stored already (name_uses fills as feeds load again).
SELECT identity_refresh();

-- +goose Down
DROP FUNCTION entity_relations(uuid[], boolean);
DROP FUNCTION identity_refresh();
DROP FUNCTION node_entities_wanted();
DROP FUNCTION node_replacement_chain(uuid);
DROP TABLE ambiguous_aliases;
DROP TABLE node_entities;
DROP TABLE name_uses;
DROP INDEX relations_revoked_by_idx;

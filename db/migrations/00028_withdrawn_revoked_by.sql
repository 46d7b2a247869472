-- +goose Up
-- A revoked-by relationship a source withdrew (a newer version of it
-- revoked or deprecated, migration 00027) names no replacement. The
-- replacement chain followed every revoked-by row, withdrawn or not: a
-- feed that retracted "A revoked-by B" and stated "A revoked-by C" still
-- had A stand for B when B came first in kind and key order, so lookups of
-- A resolved to B and the walks showed A's links on B. Both functions that
-- read the chain (node_replacement_chain: Store.Resolve, show;
-- node_revocations: node_entities) now skip withdrawn relations.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_replacement_chain(start uuid) RETURNS TABLE (step int, id uuid, cycle boolean)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE chain(step, id, path, cycle) AS (
        SELECT 0, start, ARRAY[start], false
        UNION ALL
        SELECT c.step + 1, nx.id, c.path || nx.id, nx.id = ANY(c.path)
        FROM chain c
        CROSS JOIN LATERAL (
            SELECT n.id FROM relations r JOIN nodes n ON n.id = r.dst_id
            WHERE r.src_id = c.id AND r.relation = 'revoked-by' AND NOT relation_withdrawn(r.props)
            ORDER BY n.kind, n.key, n.id
            LIMIT 1
        ) AS nx
        WHERE NOT c.cycle AND c.step < 64
    )
    SELECT c.step, c.id, c.cycle FROM chain c ORDER BY c.step
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_revocations() RETURNS TABLE (node_id uuid, entity_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.src_id, e.id
    FROM (SELECT DISTINCT x.src_id FROM relations x
          WHERE x.relation = 'revoked-by' AND NOT relation_withdrawn(x.props)) AS r
    CROSS JOIN LATERAL (
        SELECT c.id FROM node_replacement_chain(r.src_id) AS c WHERE NOT c.cycle ORDER BY c.step DESC LIMIT 1
    ) AS e
    WHERE e.id <> r.src_id
$$;
-- +goose StatementEnd

-- The revocations stored so far follow the old rule.
SELECT identity_refresh();

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_replacement_chain(start uuid) RETURNS TABLE (step int, id uuid, cycle boolean)
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

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_revocations() RETURNS TABLE (node_id uuid, entity_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.src_id, e.id
    FROM (SELECT DISTINCT x.src_id FROM relations x WHERE x.relation = 'revoked-by') AS r
    CROSS JOIN LATERAL (
        SELECT c.id FROM node_replacement_chain(r.src_id) AS c WHERE NOT c.cycle ORDER BY c.step DESC LIMIT 1
    ) AS e
    WHERE e.id <> r.src_id
$$;
-- +goose StatementEnd

SELECT identity_refresh();

-- name: NodeAliasUpsertMany :many
-- NodeAliasUpsertMany records, for each source identifier, the node it maps
-- to (parallel arrays, source ids unique within the batch). When several
-- nodes claim a source id, the smallest node id wins (byte order, as
-- store.aliasRows picks it in a batch), then the smallest non-empty source,
-- so any load order gives the same mapping; a mapping that would not change
-- is not rewritten. It returns the rows written, each with whether the
-- source id moved from another node (its relation records then need
-- RelationRekey).
WITH old AS (
    -- One index probe per source id, whatever the table's statistics say (a
    -- table filling up during a load looks empty to the planner, which
    -- then scanned all of it with = ANY).
    SELECT i.source_id, (SELECT o.node_id FROM node_aliases o WHERE o.source_id = i.source_id) AS node_id
    FROM unnest(@source_ids::text[]) AS i(source_id)
), written AS (
    INSERT INTO node_aliases AS a (source_id, node_id, source)
    SELECT i.source_id, i.node_id, i.source
    FROM (
        SELECT unnest(@source_ids::text[]) AS source_id, unnest(@node_ids::uuid[]) AS node_id,
               unnest(@sources::text[]) AS source
    ) AS i
    ORDER BY i.source_id
    ON CONFLICT (source_id) DO UPDATE SET
        node_id = excluded.node_id,
        source = excluded.source
    WHERE ROW(excluded.node_id, excluded.source = '', excluded.source COLLATE "C")
        < ROW(a.node_id, a.source = '', a.source COLLATE "C")
    RETURNING a.source_id, a.node_id
)
SELECT w.source_id, (o.node_id IS NOT NULL AND o.node_id <> w.node_id)::boolean AS moved
FROM written w LEFT JOIN old o ON o.source_id = w.source_id;

-- name: NodeAliasResolve :many
-- NodeAliasResolve maps source identifiers to node ids; unknown ones are absent.
SELECT source_id, node_id FROM node_aliases WHERE source_id = ANY(@source_ids::text[]);

-- name: RelationIDUpsertMany :exec
-- RelationIDUpsertMany records relationship ids (parallel arrays, ids
-- unique within the batch) with the references the feed wrote. An id
-- restated with other references keeps the smallest (relation, src_ref,
-- dst_ref), then the smallest non-empty source, so any order gives the same
-- row; an unchanged row is not rewritten.
INSERT INTO relation_ids AS r (source_id, src_ref, relation, dst_ref, source)
SELECT i.source_id, i.src_ref, i.relation, i.dst_ref, i.source
FROM (
    SELECT unnest(@source_ids::text[]) AS source_id, unnest(@src_refs::text[]) AS src_ref,
           unnest(@relations::text[]) AS relation, unnest(@dst_refs::text[]) AS dst_ref,
           unnest(@sources::text[]) AS source
) AS i
ORDER BY i.source_id
ON CONFLICT (source_id) DO UPDATE SET
    src_ref = excluded.src_ref, relation = excluded.relation, dst_ref = excluded.dst_ref, source = excluded.source
WHERE ROW(excluded.relation COLLATE "C", excluded.src_ref COLLATE "C", excluded.dst_ref COLLATE "C",
          excluded.source = '', excluded.source COLLATE "C")
    < ROW(r.relation COLLATE "C", r.src_ref COLLATE "C", r.dst_ref COLLATE "C", r.source = '', r.source COLLATE "C");

-- name: RelationIDGet :one
-- RelationIDGet returns the relationship a feed's relationship id names,
-- with its endpoints resolved to node ids (@unknown while not known).
SELECT r.source_id, r.src_ref, r.relation, r.dst_ref, r.source,
       coalesce(resolve_ref(r.src_ref), @unknown::uuid)::uuid AS src_id,
       coalesce(resolve_ref(r.dst_ref), @unknown::uuid)::uuid AS dst_id
FROM relation_ids r
WHERE r.source_id = @source_id::text;

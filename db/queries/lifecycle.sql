-- name: NodeReplaces :many
-- NodeReplaces returns the nodes that name @node_id as their replacement
-- (revoked-by relations into it), in kind and key order.
SELECT n.id, n.kind, n.key, n.name
FROM relations r JOIN nodes n ON n.id = r.src_id
WHERE r.dst_id = @node_id::uuid AND r.relation = 'revoked-by'
ORDER BY n.kind, n.key, n.id;

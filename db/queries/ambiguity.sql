-- name: AliasClaimAddMany :one
-- AliasClaimAddMany records name aliases claimed by nodes (parallel
-- arrays; repeats are fine) and returns how many aliases this statement
-- made ambiguous: claimed by at most one node before and by two or more
-- after. Claims are only added, so the table is the same in any load order.
WITH input AS (
    SELECT DISTINCT i.alias, i.node_id
    FROM (SELECT unnest(@aliases::text[]) AS alias, unnest(@node_ids::uuid[]) AS node_id) AS i
), added AS (
    INSERT INTO alias_claims (alias, node_id)
    SELECT i.alias, i.node_id FROM input i ORDER BY i.alias, i.node_id
    ON CONFLICT DO NOTHING
    RETURNING alias_claims.alias
), per_alias AS (
    SELECT a.alias, count(*) AS added,
           (SELECT count(*) FROM alias_claims c WHERE c.alias = a.alias) AS before
    FROM added a GROUP BY a.alias
)
SELECT count(*) FILTER (WHERE p.before <= 1 AND p.before + p.added > 1)::bigint AS made_ambiguous
FROM per_alias p;

-- name: AliasClaimNodes :many
-- AliasClaimNodes returns the nodes that claim @alias, in kind and key order.
SELECT n.id, n.kind, n.key, n.name
FROM alias_claims c JOIN nodes n ON n.id = c.node_id
WHERE c.alias = @alias::text
ORDER BY n.kind, n.key, n.id;

-- name: AliasClaimAmbiguousOf :many
-- AliasClaimAmbiguousOf returns each alias @node_id claims that other nodes
-- claim too, with those other nodes.
SELECT mine.alias, n.id, n.kind, n.key, n.name
FROM alias_claims mine
JOIN alias_claims other ON other.alias = mine.alias AND other.node_id <> mine.node_id
JOIN nodes n ON n.id = other.node_id
WHERE mine.node_id = @node_id::uuid
ORDER BY mine.alias, n.kind, n.key, n.id;

-- name: AliasClaimAmbiguousList :many
-- AliasClaimAmbiguousList returns every ambiguous alias (claimed by two or
-- more nodes) with its claimants, in alias order.
SELECT c.alias, array_agg(c.node_id ORDER BY c.node_id)::uuid[] AS node_ids
FROM alias_claims c
GROUP BY c.alias
HAVING count(*) > 1
ORDER BY c.alias;

-- name: AliasClaimAddMany :many
-- AliasClaimAddMany records name aliases claimed by nodes (parallel
-- arrays; repeats are fine) and returns the aliases of the claims it
-- added. Claims are only added, so the table is the same in any load
-- order; IdentityRefreshKeys then says which aliases became ambiguous.
INSERT INTO alias_claims (alias, node_id)
SELECT DISTINCT i.alias, i.node_id
FROM (SELECT unnest(@aliases::text[]) AS alias, unnest(@node_ids::uuid[]) AS node_id) AS i
ORDER BY i.alias, i.node_id
ON CONFLICT DO NOTHING
RETURNING alias;

-- name: NameUseAddMany :many
-- NameUseAddMany records the name aliases that nodes keyed by their name
-- give (parallel arrays; repeats are fine), only ever adding, and returns
-- the nodes of the name uses it added.
INSERT INTO name_uses (alias, node_id)
SELECT DISTINCT i.alias, i.node_id
FROM (SELECT unnest(@aliases::text[]) AS alias, unnest(@node_ids::uuid[]) AS node_id) AS i
ORDER BY i.alias, i.node_id
ON CONFLICT DO NOTHING
RETURNING node_id;

-- name: SourceIDNodeAddMany :exec
-- SourceIDNodeAddMany records the source ids (STIX ids, misp--<uuid>)
-- given to nodes keyed by their name (parallel arrays; repeats are fine),
-- only ever adding: two nodes of one source id are two versions of one
-- object under two names (migration 00026).
INSERT INTO source_id_nodes (source_id, node_id)
SELECT DISTINCT i.source_id, i.node_id
FROM (SELECT unnest(@source_ids::text[]) AS source_id, unnest(@node_ids::uuid[]) AS node_id) AS i
ORDER BY i.source_id, i.node_id
ON CONFLICT DO NOTHING;

-- name: IdentityRefresh :one
-- IdentityRefresh recomputes node_entities and ambiguous_aliases whole
-- (identity_refresh, serialised by an advisory lock) and returns how many
-- aliases became ambiguous.
SELECT identity_refresh()::bigint AS made_ambiguous;

-- name: IdentityRefreshKeys :one
-- IdentityRefreshKeys brings node_entities and ambiguous_aliases up to
-- date after a transaction that added claims of @claimed, wrote the nodes
-- @touched and, with @revoked, may have changed revoked-by relations, and
-- wrote the source ids of the nodes @versioned (identity_refresh_keys,
-- under the same lock), and returns how many aliases became ambiguous.
SELECT identity_refresh_keys(@claimed::text[], @touched::uuid[], @revoked::boolean, @versioned::uuid[])::bigint AS made_ambiguous;

-- name: AliasAmbiguous :one
-- AliasAmbiguous reports whether two or more entities claim @alias.
SELECT EXISTS (SELECT 1 FROM ambiguous_aliases a WHERE a.alias = @alias::text)::boolean AS ambiguous;

-- name: AliasClaimNodes :many
-- AliasClaimNodes returns the nodes that claim @alias, in kind and key order.
SELECT n.id, n.kind, n.key, n.name
FROM alias_claims c JOIN nodes n ON n.id = c.node_id
WHERE c.alias = @alias::text
ORDER BY n.kind, n.key, n.id;

-- name: AliasClaimAmbiguousOf :many
-- AliasClaimAmbiguousOf returns each ambiguous alias (ambiguous_aliases)
-- @node_id claims, with the other nodes claiming it, except those that
-- stand for @node_id (revoked by it).
SELECT mine.alias, n.id, n.kind, n.key, n.name
FROM alias_claims mine
JOIN ambiguous_aliases a ON a.alias = mine.alias
JOIN alias_claims other ON other.alias = mine.alias AND other.node_id <> mine.node_id
JOIN nodes n ON n.id = other.node_id
WHERE mine.node_id = @node_id::uuid
  AND NOT EXISTS (SELECT 1 FROM node_entities e WHERE e.node_id = other.node_id AND e.entity_id = @node_id::uuid)
ORDER BY mine.alias, n.kind, n.key, n.id;

-- name: AliasClaimAmbiguousList :many
-- AliasClaimAmbiguousList returns every ambiguous alias (ambiguous_aliases)
-- with its claimants, in alias order.
SELECT c.alias, array_agg(c.node_id ORDER BY c.node_id)::uuid[] AS node_ids
FROM alias_claims c
JOIN ambiguous_aliases a ON a.alias = c.alias
GROUP BY c.alias
ORDER BY c.alias;

-- name: AliasClaimCounted :many
-- AliasClaimCounted returns the claimants of @alias whose claims count
-- (alias_claim_entities: those of live entities when the alias has one),
-- smallest node id first (the rule node_aliases keeps an alias by).
SELECT c.node_id::uuid AS node_id FROM alias_claim_entities(ARRAY[@alias::text]) AS c ORDER BY 1;

-- name: AliasClaimDiscounted :many
-- AliasClaimDiscounted returns the claims of @aliases that do not count
-- (alias_claim_entities: a withdrawn entity's, when a live one claims the
-- alias too).
SELECT c.alias, c.node_id
FROM alias_claims c
WHERE c.alias = ANY(@aliases::text[])
  AND NOT EXISTS (SELECT 1 FROM alias_claim_entities(@aliases::text[]) AS e WHERE e.alias = c.alias AND e.node_id = c.node_id)
ORDER BY c.alias, c.node_id;

-- name: AliasClaimWithdrawnOf :many
-- AliasClaimWithdrawnOf returns each name alias @node_id claims with a
-- claim that counts, not ambiguous, with the other nodes claiming it whose
-- claims do not (withdrawn entities': alias_claim_entities), in alias
-- order: the names that are @node_id's though withdrawn entities claim
-- them too.
SELECT other.alias, n.id, n.kind, n.key, n.name
FROM alias_claims mine
JOIN alias_claims other ON other.alias = mine.alias AND other.node_id <> mine.node_id
JOIN nodes n ON n.id = other.node_id
WHERE mine.node_id = @node_id::uuid
  AND NOT EXISTS (SELECT 1 FROM ambiguous_aliases a WHERE a.alias = mine.alias)
  AND EXISTS (SELECT 1 FROM alias_claim_entities(ARRAY[mine.alias]) AS e WHERE e.node_id = mine.node_id)
  AND NOT EXISTS (SELECT 1 FROM alias_claim_entities(ARRAY[mine.alias]) AS e WHERE e.node_id = other.node_id)
ORDER BY other.alias, n.kind, n.key, n.id;

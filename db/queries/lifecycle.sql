-- name: NodeReplacementChain :many
-- NodeReplacementChain follows revoked-by from @node_id
-- (node_replacement_chain): step 0 is the node itself; a last row with
-- cycle set came back to a node already followed and is not part of the
-- chain.
SELECT c.step::int AS step, n.id, n.kind, n.key, n.name, c.cycle::boolean AS cycle
FROM node_replacement_chain(@node_id::uuid) AS c
JOIN nodes n ON n.id = c.id
ORDER BY c.step;

-- name: NodeEntityOf :one
-- NodeEntityOf returns what node_entities says @node_id stands for (no row:
-- itself): the entity (a zero uuid when ambiguous), the reason, and a
-- source id both were given when the node is an older version of the
-- entity under another name (a rename, migration 00026), else ''.
SELECT coalesce(e.entity_id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS entity_id, e.reason,
       coalesce((SELECT min(s.source_id) FROM source_id_nodes s JOIN source_id_nodes o ON o.source_id = s.source_id
                 WHERE s.node_id = e.node_id AND o.node_id = e.entity_id), '')::text AS version_of
FROM node_entities e
WHERE e.node_id = @node_id::uuid;

-- name: NodeEntityMembers :many
-- NodeEntityMembers returns the nodes that stand for @node_id (node_entities)
-- with the reason and, for an older version under another name, a source
-- id both were given (else ''), in reason, kind and key order.
SELECT e.reason, n.id, n.kind, n.key, n.name,
       coalesce((SELECT min(s.source_id) FROM source_id_nodes s JOIN source_id_nodes o ON o.source_id = s.source_id
                 WHERE s.node_id = e.node_id AND o.node_id = e.entity_id), '')::text AS version_of
FROM node_entities e JOIN nodes n ON n.id = e.node_id
WHERE e.entity_id = @node_id::uuid
ORDER BY e.reason, n.kind, n.key, n.id;

-- name: NodeNameClaimants :many
-- NodeNameClaimants returns, for a node keyed by its name, each of its
-- names (name_uses) that entities claim, with those entities.
SELECT u.alias, n.id, n.kind, n.key, n.name
FROM name_uses u
JOIN alias_claims c ON c.alias = u.alias
JOIN nodes n ON n.id = c.node_id
WHERE u.node_id = @node_id::uuid
ORDER BY u.alias, n.kind, n.key, n.id;

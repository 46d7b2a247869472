-- name: NodeSearch :many
-- NodeSearch finds nodes by what a person may call them
-- (node_lookup_names: name, short key, aliases, synonyms, external ids),
-- through the trigram index nodes_lookup_trgm: an entry equal to @query
-- (rank 0), an entry starting with it (rank 1), or, with @fuzzy, an entry
-- similar to it (rank 2: pg_trgm's <%, word_similarity at least
-- pg_trgm.word_similarity_threshold, 0.6 by default). Nodes of the kinds
-- the index leaves out (search_excluded_kinds(): process instances,
-- connections) are found only by their exact key, @key as typed or
-- lower-cased (rank 0), through the unique (kind, md5(key)) index; hash
-- nodes (left out too, migration 00021) by their digest: @digest equal to
-- it (rank 0) or a prefix of it (rank 1), through nodes_hash_digest, of
-- the algorithm @digest_algorithm unless that is empty (@digest is empty
-- when the text is no digest).
-- @query is lower-cased and trimmed by the caller; @pattern is it with the
-- LIKE metacharacters escaped. When @kinds is not empty only those kinds
-- are searched. Best first: rank, live before withdrawn (node_withdrawn),
-- similarity, kind, key; at most @max_results. lifecycle is the node's
-- props of @lifecycle_keys (graph.LifecycleProps), for graph.Lifecycle.
SELECT n.id, n.kind, n.key, n.name, n.sources,
       node_lookup_names(n.name, n.key, n.props)::text AS names,
       (CASE WHEN node_lookup_names(n.name, n.key, n.props) LIKE '%' || E'\n' || @pattern::text || E'\n%' THEN 0
             WHEN node_lookup_names(n.name, n.key, n.props) LIKE '%' || E'\n' || @pattern::text || '%' THEN 1
             ELSE 2 END)::int AS match_rank,
       word_similarity(@query::text, node_lookup_names(n.name, n.key, n.props))::real AS similarity,
       (SELECT coalesce(jsonb_object_agg(k, n.props->k), '{}') FROM unnest(@lifecycle_keys::text[]) AS k WHERE n.props ? k)::jsonb AS lifecycle,
       node_withdrawn(n.props)::boolean AS withdrawn
FROM nodes n
WHERE n.kind <> ALL (search_excluded_kinds())
  AND (node_lookup_names(n.name, n.key, n.props) LIKE '%' || E'\n' || @pattern::text || '%'
       OR (@fuzzy::boolean AND @query::text <% node_lookup_names(n.name, n.key, n.props)))
  AND (cardinality(@kinds::text[]) = 0 OR n.kind = ANY(@kinds::text[]))
UNION ALL
SELECT n.id, n.kind, n.key, n.name, n.sources,
       (E'\n' || lower(n.key) || E'\n')::text AS names, 0::int AS match_rank, 1::real AS similarity,
       (SELECT coalesce(jsonb_object_agg(k, n.props->k), '{}') FROM unnest(@lifecycle_keys::text[]) AS k WHERE n.props ? k)::jsonb AS lifecycle,
       node_withdrawn(n.props)::boolean AS withdrawn
FROM nodes n
WHERE n.kind = ANY (search_excluded_kinds()) AND n.kind <> 'hash'
  AND md5(n.key) = ANY (ARRAY[md5(@key::text), md5(lower(@key::text))])
  AND (cardinality(@kinds::text[]) = 0 OR n.kind = ANY(@kinds::text[]))
UNION ALL
SELECT n.id, n.kind, n.key, n.name, n.sources,
       (E'\n' || lower(n.key) || E'\n')::text AS names,
       (CASE WHEN hash_digest(n.key) = @digest::text THEN 0 ELSE 1 END)::int AS match_rank, 1::real AS similarity,
       (SELECT coalesce(jsonb_object_agg(k, n.props->k), '{}') FROM unnest(@lifecycle_keys::text[]) AS k WHERE n.props ? k)::jsonb AS lifecycle,
       node_withdrawn(n.props)::boolean AS withdrawn
FROM nodes n
WHERE n.kind = 'hash' AND @digest::text <> ''
  AND hash_digest(n.key) COLLATE "C" >= @digest::text AND hash_digest(n.key) COLLATE "C" < @digest::text || '~'
  AND (@digest_algorithm::text = '' OR n.key LIKE @digest_algorithm::text || ':%')
  AND (cardinality(@kinds::text[]) = 0 OR 'hash' = ANY(@kinds::text[]))
ORDER BY match_rank, withdrawn, similarity DESC, kind, key
LIMIT @max_results::int;

-- name: NodeLookupExact :many
-- NodeLookupExact returns the nodes (of @kind, or of any kind when @kind is
-- empty) that have an entry of node_lookup_names equal to @pattern (lower-
-- cased, LIKE metacharacters escaped): a name, alias or external id. Kinds
-- the search index leaves out (search_excluded_kinds()) are found by
-- kind:key instead. At most 21, in kind and key order, so a caller can
-- tell one from many.
SELECT n.id, n.kind, n.key, n.name
FROM nodes n
WHERE n.kind <> ALL (search_excluded_kinds())
  AND node_lookup_names(n.name, n.key, n.props) LIKE '%' || E'\n' || @pattern::text || E'\n%'
  AND (@kind::text = '' OR n.kind = @kind::text)
ORDER BY n.kind, n.key
LIMIT 21;

-- name: NodeAliasesByUUID :many
-- NodeAliasesByUUID returns the source ids that end in "--" followed by
-- @uuid (a STIX id or "misp--<uuid>" given without its prefix), through
-- node_aliases_uuid_idx.
SELECT a.source_id, a.node_id
FROM node_aliases a
WHERE right(a.source_id, 36) = @uuid::text AND a.source_id LIKE '%--' || @uuid::text
ORDER BY a.source_id;

-- name: NodeAliasesOf :many
-- NodeAliasesOf returns the source ids that map to a node, with the feed
-- that last mapped each, and the newest version stored of each (the
-- epoch when none: source_versions, migration 00030).
SELECT a.source_id, a.source, coalesce(v.version, 'epoch'::timestamptz)::timestamptz AS version
FROM node_aliases a LEFT JOIN source_versions v ON v.source_id = a.source_id
WHERE a.node_id = @node_id::uuid ORDER BY a.source_id;

-- name: NodeSuperseded :many
-- NodeSuperseded counts per relation type the links from a node that only
-- older versions of the objects stating them state (relation records all
-- superseded: no relation), which walks do not follow.
SELECT r.relation, count(DISTINCT r.dst_id)::bigint AS edges
FROM relation_records r
WHERE r.src_id = @node_id::uuid AND r.superseded
  AND NOT EXISTS (SELECT 1 FROM relations x WHERE x.src_id = r.src_id AND x.relation = r.relation AND x.dst_id = r.dst_id)
GROUP BY r.relation ORDER BY r.relation;

-- name: NodeDegrees :many
-- NodeDegrees counts a node's links per relation type and direction (out:
-- the node is the source) as the walks read them: as an entity
-- (entity_relations), so the links stored on the nodes it stands for (the
-- revoked objects it replaces, the name-keyed nodes that are it) count, and
-- two of its nodes linking one peer with one relation are one edge. Of
-- those, through counts the edges no relation stored on the node itself
-- gives. Besides the walked edges it counts the relations stored on the
-- node that the walks do not follow: withdrawn ones (relation_withdrawn)
-- and links to itself (to a node that stands for it, such as the
-- revoked-by of an object it replaces). A link to a withdrawn peer
-- (node_withdrawn: revoked without a replacement, deprecated), which the
-- walks treat as absent, counts as withdrawn, not walked. edges = walked +
-- withdrawn + itself.
WITH ent AS (
    SELECT DISTINCT e.relation, e.direction, e.nbr,
           EXISTS (SELECT 1 FROM nodes k WHERE k.id = e.nbr AND node_withdrawn(k.props)) AS gone
    FROM entity_relations(ARRAY[@node_id::uuid], false)
         AS e(parent, nbr, relation, direction, dord, confidence, sources, first_seen, last_seen)
    -- a relation stored from the node to itself (two records merged into
    -- it) is no edge: counted in itself below
    WHERE e.nbr <> @node_id::uuid
), own AS (
    SELECT r.relation, 'out'::text AS direction, coalesce(s.entity_id, r.dst_id) AS nbr,
           relation_withdrawn(r.props) AS withdrawn
    FROM relations r LEFT JOIN node_entities s ON s.node_id = r.dst_id
    WHERE r.src_id = @node_id::uuid
    UNION ALL
    SELECT r.relation, 'in'::text, coalesce(s.entity_id, r.src_id), relation_withdrawn(r.props)
    FROM relations r LEFT JOIN node_entities s ON s.node_id = r.src_id
    WHERE r.dst_id = @node_id::uuid
), counts AS (
    SELECT ent.relation, ent.direction, CASE WHEN ent.gone THEN 0 ELSE 1 END::bigint AS walked,
           CASE WHEN ent.gone THEN 0
                WHEN EXISTS (SELECT 1 FROM own o WHERE o.relation = ent.relation AND o.direction = ent.direction
                                                 AND o.nbr = ent.nbr AND NOT o.withdrawn)
                THEN 0 ELSE 1 END::bigint AS through,
           CASE WHEN ent.gone THEN 1 ELSE 0 END::bigint AS withdrawn, 0::bigint AS itself
    FROM ent
    UNION ALL
    SELECT o.relation, o.direction, 0, 0,
           CASE WHEN o.withdrawn THEN 1 ELSE 0 END::bigint,
           CASE WHEN NOT o.withdrawn AND o.nbr = @node_id::uuid THEN 1 ELSE 0 END::bigint
    FROM own o
    WHERE o.withdrawn OR o.nbr = @node_id::uuid
)
SELECT c.relation::text AS relation, c.direction::text AS direction,
       (sum(c.walked) + sum(c.withdrawn) + sum(c.itself))::bigint AS edges,
       sum(c.through)::bigint AS through,
       sum(c.withdrawn)::bigint AS withdrawn,
       sum(c.itself)::bigint AS itself
FROM counts c GROUP BY c.relation, c.direction
ORDER BY 1, 2;

-- name: NodeRelationPeers :many
-- NodeRelationPeers returns the nodes a node links to with @relation (out),
-- such as the replacement named by revoked-by, through relations their
-- source did not withdraw (relation_withdrawn).
SELECT n.id, n.kind, n.key, n.name
FROM relations r JOIN nodes n ON n.id = r.dst_id
WHERE r.src_id = @node_id::uuid AND r.relation = @relation::text AND NOT relation_withdrawn(r.props)
ORDER BY n.kind, n.key;

-- name: NodeSightings :many
-- NodeSightings sums what the sightings of each of @node_ids say: the live
-- nodes linked to it by @relation (sighting-of: a STIX sighting, a MISP
-- sighting; a false positive or an expiration is no sighting), read as the
-- walks read the entity (entity_relations), so the sightings of the revoked
-- objects it replaces and of the name-keyed nodes that are it count, each
-- once. times adds up their counts (STIX count; a MISP sighting is 1), a
-- sighting without a count counting once (uncounted says how many had
-- none); first_seen and last_seen are the earliest and latest of the
-- links' (a STIX sighting's first_seen and last_seen when given, README
-- "Merging"). A row per node something sighted, none for the others: one
-- statement for intel show's node and for every node of a walk
-- (related --explain).
WITH s AS (
    SELECT e.parent, e.nbr, min(e.first_seen) AS first_seen, max(e.last_seen) AS last_seen
    FROM entity_relations(@node_ids::uuid[], false)
         AS e(parent, nbr, relation, direction, dord, confidence, sources, first_seen, last_seen)
    WHERE e.relation = @relation::text AND e.direction = 'in' AND e.nbr <> e.parent
    GROUP BY e.parent, e.nbr
)
SELECT s.parent::uuid AS node_id,
       count(*)::bigint AS sightings,
       coalesce(sum(CASE WHEN jsonb_typeof(n.props->'count') = 'number' THEN (n.props->>'count')::numeric ELSE 1 END), 0)::bigint AS times,
       (count(*) FILTER (WHERE jsonb_typeof(n.props->'count') IS DISTINCT FROM 'number'))::bigint AS uncounted,
       min(s.first_seen)::timestamptz AS first_seen,
       max(s.last_seen)::timestamptz AS last_seen
FROM s JOIN nodes n ON n.id = s.nbr
WHERE NOT node_withdrawn(n.props)
GROUP BY s.parent
ORDER BY s.parent;

-- name: KindsWithNodes :many
-- KindsWithNodes returns those of @kinds that some node has (nodes_kind_key_key
-- finds one without a scan), in the order given.
SELECT k.kind::text AS kind
FROM unnest(@kinds::text[]) WITH ORDINALITY AS k(kind, ord)
WHERE EXISTS (SELECT 1 FROM nodes n WHERE n.kind = k.kind)
ORDER BY k.ord;

-- name: RelationTypesInUse :many
-- RelationTypesInUse returns those of @relations that some stored relation
-- has, or some telemetry edge observed in [@since, @until) (only those day
-- partitions are read), in the order given: a walk filtered on a type none
-- has (a typo) follows nothing of it. Each is looked for until found.
SELECT k.relation::text AS relation
FROM unnest(@relations::text[]) WITH ORDINALITY AS k(relation, ord)
WHERE EXISTS (SELECT 1 FROM relations r WHERE r.relation = k.relation)
   OR EXISTS (SELECT 1 FROM telemetry_edges t
              WHERE t.relation = k.relation AND t.observed_at >= @since::timestamptz AND t.observed_at < @until::timestamptz)
ORDER BY k.ord;

-- name: NodeRecordNamed :many
-- NodeRecordNamed returns the nodes one of whose records (node_records: a
-- source's record of the node at its newest version) names it @name
-- (lower-cased and trimmed, as lookupText makes search text), at most 21,
-- in id order. A record's name that lost the node's name to a
-- higher-ranked one (a CVE id over a producer's "Log4Shell") is no entry
-- of node_lookup_names, yet the source calls the node so: search finds
-- the node by it as an exact match. Only versioned nodes have records
-- (feeds' objects, not telemetry endpoints), so the scan stays the size of
-- the loaded feeds.
SELECT DISTINCT r.node_id
FROM node_records r
WHERE r.name <> '' AND lower(btrim(r.name)) = @name::text
ORDER BY r.node_id
LIMIT 21;

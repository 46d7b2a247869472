-- name: RelationUpsertMany :one
-- RelationUpsertMany writes one batch of relationships whose endpoints are
-- named by references (source identifiers resolved through node_aliases, or
-- node--<uuid>; see resolve_ref), given as
-- parallel arrays with (src_ref, relation, dst_ref) unique within the batch.
-- In the same statement it releases the pending relationships that mention
-- any of @resolve_refs and whose endpoints now both resolve (pass the source
-- ids just aliased). Resolved relationships are merged into relations by
-- graph.MergeRelation, a semilattice, so neither the order of the records nor
-- the order of releases matters: earliest first_seen and latest last_seen of
-- the records with times, highest confidence, union of sources, each props key
-- from the highest-ranked record that has it (props_merge, props_merge_agg);
-- each resolved record is also kept in relation_records by its references;
-- the rest are kept in pending_relations, merged by the same rules.
-- Confidence -1 means unknown. With @untimed the input rows carry no times of
-- their own (the load time fills them on insert) and merging them leaves
-- stored times alone; released rows carry their own timed flag. Aliases must
-- be written by an earlier statement.
WITH input AS (
    SELECT unnest(@src_refs::text[]) AS src_ref, unnest(@relations::text[]) AS relation,
           unnest(@dst_refs::text[]) AS dst_ref, unnest(@confidences::int2[]) AS confidence,
           unnest(@first_seens::timestamptz[]) AS first_seen, unnest(@last_seens::timestamptz[]) AS last_seen,
           unnest(@sources::jsonb[]) AS sources, unnest(@props::jsonb[]) AS props,
           unnest(@props_ranks::text[]) AS props_rank, unnest(@props_key_ranks::jsonb[]) AS props_key_ranks
), released AS (
    DELETE FROM pending_relations p
    WHERE (p.src_ref = ANY(@resolve_refs::text[]) OR p.dst_ref = ANY(@resolve_refs::text[]))
      AND resolve_ref(p.src_ref) IS NOT NULL
      AND resolve_ref(p.dst_ref) IS NOT NULL
    RETURNING p.src_ref, p.relation, p.dst_ref, coalesce(p.confidence, -1)::int2 AS confidence,
              p.first_seen, p.last_seen, to_jsonb(p.sources) AS sources, p.props,
              p.props_rank::text AS props_rank, p.props_key_ranks, p.timed
), candidates AS (
    SELECT c.src_ref, c.relation, c.dst_ref, c.confidence, c.first_seen, c.last_seen, c.sources, c.props,
           c.props_rank, c.props_key_ranks, NOT @untimed::boolean AS timed FROM input c
    UNION ALL
    SELECT r.src_ref, r.relation, r.dst_ref, r.confidence, r.first_seen, r.last_seen, r.sources, r.props,
           r.props_rank, r.props_key_ranks, r.timed FROM released r
), resolved AS (
    SELECT c.*, resolve_ref(c.src_ref) AS src_id, resolve_ref(c.dst_ref) AS dst_id
    FROM candidates c
), grouped AS (
    SELECT g.src_id, g.relation, g.dst_id,
           max(NULLIF(g.confidence, -1))::int2 AS confidence,
           bool_or(g.timed) AS timed,
           coalesce(min(g.first_seen) FILTER (WHERE g.timed), min(g.first_seen)) AS first_seen,
           coalesce(max(g.last_seen) FILTER (WHERE g.timed), max(g.last_seen)) AS last_seen,
           jsonb_path_query_array(jsonb_agg(g.sources), '$[*][*]') AS sources,
           props_merge_agg(jsonb_build_object('p', g.props, 'r', g.props_rank, 'k', g.props_key_ranks)) AS merged
    FROM resolved g
    WHERE g.src_id IS NOT NULL AND g.dst_id IS NOT NULL
    GROUP BY g.src_id, g.relation, g.dst_id
), by_ref AS (
    SELECT g.src_ref, g.relation, g.dst_ref, g.src_id, g.dst_id,
           max(NULLIF(g.confidence, -1))::int2 AS confidence,
           bool_or(g.timed) AS timed,
           coalesce(min(g.first_seen) FILTER (WHERE g.timed), min(g.first_seen)) AS first_seen,
           coalesce(max(g.last_seen) FILTER (WHERE g.timed), max(g.last_seen)) AS last_seen,
           jsonb_path_query_array(jsonb_agg(g.sources), '$[*][*]') AS sources,
           props_merge_agg(jsonb_build_object('p', g.props, 'r', g.props_rank, 'k', g.props_key_ranks)) AS merged
    FROM resolved g
    WHERE g.src_id IS NOT NULL AND g.dst_id IS NOT NULL
    GROUP BY g.src_ref, g.relation, g.dst_ref, g.src_id, g.dst_id
), recorded AS (
    -- The stored ids are left alone on conflict: a record keyed before its
    -- source id moved is re-keyed by RelationRekey, which rebuilds both keys.
    INSERT INTO relation_records AS p (src_ref, relation, dst_ref, src_id, dst_id, confidence, first_seen, last_seen, sources, props,
                                       props_rank, props_key_ranks, timed)
    SELECT k.src_ref, k.relation, k.dst_ref, k.src_id, k.dst_id, k.confidence, k.first_seen, k.last_seen,
           ARRAY(SELECT DISTINCT s COLLATE "C" FROM jsonb_array_elements_text(k.sources) AS s ORDER BY 1),
           k.merged->'p', k.merged->>'r', k.merged->'k', k.timed
    FROM by_ref k
    ORDER BY k.src_ref, k.relation, k.dst_ref
    ON CONFLICT (src_ref, relation, dst_ref) DO UPDATE SET
        confidence = greatest(p.confidence, excluded.confidence),
        first_seen = CASE WHEN NOT excluded.timed THEN p.first_seen WHEN NOT p.timed THEN excluded.first_seen
                          ELSE least(p.first_seen, excluded.first_seen) END,
        last_seen = CASE WHEN NOT excluded.timed THEN p.last_seen WHEN NOT p.timed THEN excluded.last_seen
                         ELSE greatest(p.last_seen, excluded.last_seen) END,
        timed = p.timed OR excluded.timed,
        sources = ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(p.sources || excluded.sources) AS s ORDER BY 1),
        (props, props_rank, props_key_ranks) = (
            SELECT m->'p', m->>'r', m->'k'
            FROM props_merge(jsonb_build_object('p', p.props, 'r', p.props_rank, 'k', p.props_key_ranks),
                             jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks)) AS m)
    WHERE (excluded.timed AND (NOT p.timed OR excluded.first_seen < p.first_seen OR excluded.last_seen > p.last_seen))
       OR NOT p.sources @> excluded.sources
       OR coalesce(excluded.confidence, -1) > coalesce(p.confidence, -1)
       OR excluded.props_rank > p.props_rank
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(excluded.props) AS k
                  WHERE NOT p.props ? k
                     OR coalesce(excluded.props_key_ranks->>k COLLATE "C", excluded.props_rank)
                        > coalesce(p.props_key_ranks->>k COLLATE "C", p.props_rank))
    RETURNING 1 AS recorded
), upserted AS (
    INSERT INTO relations AS r (src_id, relation, dst_id, confidence, first_seen, last_seen, sources, props,
                                props_rank, props_key_ranks, timed)
    SELECT u.src_id, u.relation, u.dst_id, u.confidence, u.first_seen, u.last_seen,
           ARRAY(SELECT DISTINCT s COLLATE "C" FROM jsonb_array_elements_text(u.sources) AS s ORDER BY 1),
           u.merged->'p', u.merged->>'r', u.merged->'k', u.timed
    FROM grouped u
    ORDER BY u.src_id, u.relation, u.dst_id
    ON CONFLICT (src_id, relation, dst_id) DO UPDATE SET
        confidence = greatest(r.confidence, excluded.confidence),
        first_seen = CASE WHEN NOT excluded.timed THEN r.first_seen WHEN NOT r.timed THEN excluded.first_seen
                          ELSE least(r.first_seen, excluded.first_seen) END,
        last_seen = CASE WHEN NOT excluded.timed THEN r.last_seen WHEN NOT r.timed THEN excluded.last_seen
                         ELSE greatest(r.last_seen, excluded.last_seen) END,
        timed = r.timed OR excluded.timed,
        sources = ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(r.sources || excluded.sources) AS s ORDER BY 1),
        (props, props_rank, props_key_ranks) = (
            SELECT m->'p', m->>'r', m->'k'
            FROM props_merge(jsonb_build_object('p', r.props, 'r', r.props_rank, 'k', r.props_key_ranks),
                             jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks)) AS m),
        updated_at = now()
    WHERE (excluded.timed AND (NOT r.timed OR excluded.first_seen < r.first_seen OR excluded.last_seen > r.last_seen))
       OR NOT r.sources @> excluded.sources
       OR coalesce(excluded.confidence, -1) > coalesce(r.confidence, -1)
       OR excluded.props_rank > r.props_rank
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(excluded.props) AS k
                  WHERE NOT r.props ? k
                     OR coalesce(excluded.props_key_ranks->>k COLLATE "C", excluded.props_rank)
                        > coalesce(r.props_key_ranks->>k COLLATE "C", r.props_rank))
    RETURNING (xmax = 0)::boolean AS inserted
), parked AS (
    INSERT INTO pending_relations AS p (src_ref, relation, dst_ref, confidence, first_seen, last_seen, sources, props,
                                        props_rank, props_key_ranks, timed)
    SELECT k.src_ref, k.relation, k.dst_ref, NULLIF(k.confidence, -1), k.first_seen, k.last_seen,
           ARRAY(SELECT DISTINCT s COLLATE "C" FROM jsonb_array_elements_text(k.sources) AS s ORDER BY 1), k.props,
           k.props_rank, k.props_key_ranks, k.timed
    FROM resolved k
    WHERE k.src_id IS NULL OR k.dst_id IS NULL
    ORDER BY k.src_ref, k.relation, k.dst_ref
    ON CONFLICT (src_ref, relation, dst_ref) DO UPDATE SET
        confidence = greatest(p.confidence, excluded.confidence),
        first_seen = CASE WHEN NOT excluded.timed THEN p.first_seen WHEN NOT p.timed THEN excluded.first_seen
                          ELSE least(p.first_seen, excluded.first_seen) END,
        last_seen = CASE WHEN NOT excluded.timed THEN p.last_seen WHEN NOT p.timed THEN excluded.last_seen
                         ELSE greatest(p.last_seen, excluded.last_seen) END,
        timed = p.timed OR excluded.timed,
        sources = ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(p.sources || excluded.sources) AS s ORDER BY 1),
        (props, props_rank, props_key_ranks) = (
            SELECT m->'p', m->>'r', m->'k'
            FROM props_merge(jsonb_build_object('p', p.props, 'r', p.props_rank, 'k', p.props_key_ranks),
                             jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks)) AS m)
    WHERE (excluded.timed AND (NOT p.timed OR excluded.first_seen < p.first_seen OR excluded.last_seen > p.last_seen))
       OR NOT p.sources @> excluded.sources
       OR coalesce(excluded.confidence, -1) > coalesce(p.confidence, -1)
       OR excluded.props_rank > p.props_rank
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(excluded.props) AS k
                  WHERE NOT p.props ? k
                     OR coalesce(excluded.props_key_ranks->>k COLLATE "C", excluded.props_rank)
                        > coalesce(p.props_key_ranks->>k COLLATE "C", p.props_rank))
    RETURNING 1 AS parked
)
SELECT
    (SELECT count(*) FROM recorded)::bigint AS recorded,
    (SELECT count(*) FROM upserted WHERE upserted.inserted)::bigint AS inserted,
    (SELECT count(*) FROM upserted WHERE NOT upserted.inserted)::bigint AS merged,
    (SELECT count(*) FROM parked)::bigint AS pending,
    (SELECT count(*) FROM released)::bigint AS released;

-- name: RelationCount :one
-- RelationCount counts stored and pending relationships.
SELECT (SELECT count(*) FROM relations)::bigint AS relations,
       (SELECT count(*) FROM pending_relations)::bigint AS pending;

-- name: PendingRelationPage :many
-- PendingRelationPage returns up to @max_rows pending relationships whose
-- key (src_ref, relation, dst_ref) comes after the given one, in key order,
-- so that the table can be swept page by page (start with three empty
-- strings).
SELECT src_ref, relation, dst_ref FROM pending_relations
WHERE (src_ref, relation, dst_ref) > (@after_src_ref::text, @after_relation::text, @after_dst_ref::text)
ORDER BY src_ref, relation, dst_ref
LIMIT @max_rows;

-- name: RelationRekey :one
-- RelationRekey re-resolves the relation records that name any of @refs
-- (every record with @all_refs) and whose source ids now resolve to other
-- nodes: it re-keys them and deletes the relations of both their old and new
-- keys, which it returns for RelationRebuild to rebuild from the records.
WITH stale AS (
    SELECT r.src_ref, r.relation, r.dst_ref, r.src_id AS old_src, r.dst_id AS old_dst,
           resolve_ref(r.src_ref) AS new_src, resolve_ref(r.dst_ref) AS new_dst
    FROM relation_records r
    WHERE @all_refs::boolean OR r.src_ref = ANY(@refs::text[]) OR r.dst_ref = ANY(@refs::text[])
), changed AS (
    SELECT s.* FROM stale s
    WHERE s.new_src IS NOT NULL AND s.new_dst IS NOT NULL AND (s.new_src <> s.old_src OR s.new_dst <> s.old_dst)
), affected AS (
    SELECT c.old_src AS src_id, c.relation, c.old_dst AS dst_id FROM changed c
    UNION
    SELECT c.new_src, c.relation, c.new_dst FROM changed c
), rekeyed AS (
    UPDATE relation_records r SET src_id = c.new_src, dst_id = c.new_dst
    FROM changed c
    WHERE r.src_ref = c.src_ref AND r.relation = c.relation AND r.dst_ref = c.dst_ref
    RETURNING 1
), dropped AS (
    DELETE FROM relations x USING affected k
    WHERE x.src_id = k.src_id AND x.relation = k.relation AND x.dst_id = k.dst_id
    RETURNING 1
)
SELECT coalesce(array_agg(k.src_id ORDER BY k.src_id, k.relation, k.dst_id), '{}')::uuid[] AS src_ids,
       coalesce(array_agg(k.relation ORDER BY k.src_id, k.relation, k.dst_id), '{}')::text[] AS relations,
       coalesce(array_agg(k.dst_id ORDER BY k.src_id, k.relation, k.dst_id), '{}')::uuid[] AS dst_ids,
       (SELECT count(*) FROM rekeyed)::bigint AS rekeyed
FROM affected k;

-- name: RelationRebuild :execrows
-- RelationRebuild writes the relations of the given keys (parallel arrays)
-- as the merge of their relation records (after RelationRekey deleted them).
INSERT INTO relations AS r (src_id, relation, dst_id, confidence, first_seen, last_seen, sources, props,
                            props_rank, props_key_ranks, timed)
SELECT g.src_id, g.relation, g.dst_id, g.confidence, g.first_seen, g.last_seen,
       ARRAY(SELECT DISTINCT s COLLATE "C" FROM jsonb_array_elements_text(g.sources) AS s ORDER BY 1),
       g.merged->'p', g.merged->>'r', g.merged->'k', g.timed
FROM (
    SELECT rr.src_id, rr.relation, rr.dst_id,
           max(rr.confidence)::int2 AS confidence,
           bool_or(rr.timed) AS timed,
           coalesce(min(rr.first_seen) FILTER (WHERE rr.timed), min(rr.first_seen)) AS first_seen,
           coalesce(max(rr.last_seen) FILTER (WHERE rr.timed), max(rr.last_seen)) AS last_seen,
           jsonb_path_query_array(jsonb_agg(to_jsonb(rr.sources)), '$[*][*]') AS sources,
           props_merge_agg(jsonb_build_object('p', rr.props, 'r', rr.props_rank, 'k', rr.props_key_ranks)) AS merged
    FROM relation_records rr
    JOIN (SELECT unnest(@src_ids::uuid[]) AS src_id, unnest(@relations::text[]) AS relation, unnest(@dst_ids::uuid[]) AS dst_id) AS k
      ON rr.src_id = k.src_id AND rr.relation = k.relation AND rr.dst_id = k.dst_id
    GROUP BY rr.src_id, rr.relation, rr.dst_id
) AS g
ORDER BY g.src_id, g.relation, g.dst_id
ON CONFLICT (src_id, relation, dst_id) DO UPDATE SET
    confidence = greatest(r.confidence, excluded.confidence),
    first_seen = CASE WHEN NOT excluded.timed THEN r.first_seen WHEN NOT r.timed THEN excluded.first_seen
                      ELSE least(r.first_seen, excluded.first_seen) END,
    last_seen = CASE WHEN NOT excluded.timed THEN r.last_seen WHEN NOT r.timed THEN excluded.last_seen
                     ELSE greatest(r.last_seen, excluded.last_seen) END,
    timed = r.timed OR excluded.timed,
    sources = ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(r.sources || excluded.sources) AS s ORDER BY 1),
    (props, props_rank, props_key_ranks) = (
        SELECT m->'p', m->>'r', m->'k'
        FROM props_merge(jsonb_build_object('p', r.props, 'r', r.props_rank, 'k', r.props_key_ranks),
                         jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks)) AS m),
    updated_at = now();

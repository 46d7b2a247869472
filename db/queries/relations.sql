-- name: RelationUpsertMany :one
-- RelationUpsertMany writes one batch of relationships whose endpoints are
-- named by references (source identifiers resolved through node_aliases, or
-- node--<uuid>; see ref_node, inlined here), given as parallel arrays with
-- (src_ref, relation, dst_ref) unique within the batch; sources come as one
-- PostgreSQL array literal per relationship, sorted in byte order and
-- without duplicates (as NodeUpsertMany's). In the same statement it
-- releases the pending relationships that mention any of @resolve_refs and
-- whose endpoints now both resolve (pass the source ids just aliased).
-- Resolved relationships are merged into relations by
-- graph.MergeRelation, a semilattice, so neither the order of the records nor
-- the order of releases matters: earliest first_seen and latest last_seen of
-- the records with times, highest confidence, union of sources, each props key
-- from the highest-ranked record that has it (props_merge, props_merge_agg);
-- each resolved record is also kept in relation_records by its references;
-- the rest are kept in pending_relations, merged by the same rules.
-- Confidence -1 means unknown. An input row @untimed carries no times of its
-- own (the load time fills them on insert) and merging it leaves stored
-- times alone; released rows carry their own timed flag. (A flag per row, so
-- that a batch's relations, timed or not, are written in one key order:
-- writers taking row locks in two orders deadlock.) Aliases must be written
-- by an earlier statement.
WITH input AS (
    SELECT unnest(@src_refs::text[]) AS src_ref, unnest(@relations::text[]) AS relation,
           unnest(@dst_refs::text[]) AS dst_ref, unnest(@confidences::int2[]) AS confidence,
           unnest(@first_seens::timestamptz[]) AS first_seen, unnest(@last_seens::timestamptz[]) AS last_seen,
           unnest(@sources::text[]) AS sources, unnest(@props::jsonb[]) AS props,
           unnest(@props_ranks::text[]) AS props_rank, unnest(@props_key_ranks::jsonb[]) AS props_key_ranks,
           NULLIF(unnest(@stated::jsonb[]), '{}'::jsonb) AS stated, unnest(@superseded::int2[]) AS superseded,
           unnest(@untimed::boolean[]) AS untimed
), released AS (
    DELETE FROM pending_relations p
    WHERE (p.src_ref = ANY(@resolve_refs::text[]) OR p.dst_ref = ANY(@resolve_refs::text[]))
      AND EXISTS (SELECT 1 FROM ref_node(p.src_ref) AS s(node_id), ref_node(p.dst_ref) AS d(node_id)
                  WHERE s.node_id IS NOT NULL AND d.node_id IS NOT NULL)
    RETURNING p.src_ref, p.relation, p.dst_ref, merge_record_of(p) AS rec, p.stated,
              (p.stated IS NOT NULL AND stated_superseded(p.stated)) AS superseded
), candidates AS (
    SELECT c.src_ref, c.relation, c.dst_ref,
           ROW(NULLIF(c.confidence, -1), c.first_seen, c.last_seen, NOT c.untimed,
               c.sources::text[],
               c.props, c.props_rank, c.props_key_ranks)::merge_record AS rec,
           c.stated,
           CASE c.superseded WHEN 1 THEN true WHEN 0 THEN false
                ELSE c.stated IS NOT NULL AND stated_superseded(c.stated) END AS superseded
    FROM input c
    UNION ALL
    SELECT r.src_ref, r.relation, r.dst_ref, r.rec, r.stated, r.superseded FROM released r
), resolved AS (
    SELECT c.*, s.node_id AS src_id, d.node_id AS dst_id
    FROM candidates c, ref_node(c.src_ref) AS s(node_id), ref_node(c.dst_ref) AS d(node_id)
), by_ref AS (
    -- stated: the objects that stated the record, each with its newest
    -- version that did; superseded when each has a newer one, so when
    -- every record merged here is (the caller says so for the records it
    -- sends, @superseded 1 or 0, else -1 to leave it to stated_superseded).
    SELECT g.src_ref, g.relation, g.dst_ref, g.src_id, g.dst_id, merge_records_agg(g.rec) AS rec,
           stated_merge_agg(g.stated) AS stated, bool_and(g.superseded) AS superseded
    FROM resolved g
    WHERE g.src_id IS NOT NULL AND g.dst_id IS NOT NULL
    GROUP BY g.src_ref, g.relation, g.dst_ref, g.src_id, g.dst_id
), recorded AS (
    -- The stored ids are left alone on conflict: a record keyed before its
    -- source id moved is re-keyed by RelationRekey, which rebuilds both keys.
    -- It returns each record it wrote as it is now, and relations merges
    -- those under their stored ids: a record already re-keyed by a
    -- transaction whose move this statement did not see yet feeds the
    -- relation of its key, not that of an id resolved a moment too early.
    -- (Merging the whole record gives what merging the incoming one does:
    -- the relation already holds the stored record.) A superseded record
    -- is kept but feeds no relation; one a newer version states again is
    -- written and feeds it again. A
    -- live record never turns superseded here, though a version raised in
    -- this transaction may have superseded it: RelationSupersede, run after
    -- in the same transaction, marks it and rebuilds its relation.
    INSERT INTO relation_records AS p (src_ref, relation, dst_ref, src_id, dst_id,
                                       confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks,
                                       stated, superseded)
    SELECT k.src_ref, k.relation, k.dst_ref, k.src_id, k.dst_id,
           (k.rec).confidence, (k.rec).first_seen, (k.rec).last_seen, (k.rec).timed,
           (k.rec).sources, (k.rec).props, (k.rec).props_rank, (k.rec).props_key_ranks,
           k.stated, k.superseded
    FROM by_ref k
    ORDER BY k.src_ref, k.relation, k.dst_ref
    ON CONFLICT (src_ref, relation, dst_ref) DO UPDATE SET
        (confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks) = (
            SELECT m.confidence, m.first_seen, m.last_seen, m.timed, m.sources, m.props, m.props_rank, m.props_key_ranks
            FROM merge_records(merge_record_of(p), merge_record_of(excluded)) AS m),
        stated = stated_merge(p.stated, excluded.stated),
        superseded = p.superseded AND excluded.superseded
    WHERE merge_changes(merge_record_of(p), merge_record_of(excluded))
       OR (p.superseded AND NOT excluded.superseded)
       OR p.stated IS DISTINCT FROM stated_merge(p.stated, excluded.stated)
    RETURNING p.src_id, p.relation, p.dst_id, merge_record_of(p) AS rec, p.superseded
), upserted AS (
    INSERT INTO relations AS r (src_id, relation, dst_id,
                                confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks)
    SELECT u.src_id, u.relation, u.dst_id,
           (u.rec).confidence, (u.rec).first_seen, (u.rec).last_seen, (u.rec).timed,
           (u.rec).sources, (u.rec).props, (u.rec).props_rank, (u.rec).props_key_ranks
    FROM (SELECT b.src_id, b.relation, b.dst_id, merge_records_agg(b.rec) AS rec
          FROM recorded b WHERE NOT b.superseded GROUP BY b.src_id, b.relation, b.dst_id) AS u
    ORDER BY u.src_id, u.relation, u.dst_id
    ON CONFLICT (src_id, relation, dst_id) DO UPDATE SET
        (confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks) = (
            SELECT m.confidence, m.first_seen, m.last_seen, m.timed, m.sources, m.props, m.props_rank, m.props_key_ranks
            FROM merge_records(merge_record_of(r), merge_record_of(excluded)) AS m),
        updated_at = now()
    WHERE merge_changes(merge_record_of(r), merge_record_of(excluded))
    RETURNING (xmax = 0)::boolean AS inserted
), unresolved AS (
    -- A record only older versions state is parked too: its content is
    -- part of the record whatever the order (merged into a live record of
    -- the key, or superseded when released), as in relation_records.
    SELECT k.*
    FROM (SELECT u.src_ref, u.relation, u.dst_ref, merge_records_agg(u.rec) AS rec, stated_merge_agg(u.stated) AS stated,
                 bool_and(u.superseded) AS superseded
          FROM resolved u WHERE u.src_id IS NULL OR u.dst_id IS NULL
          GROUP BY u.src_ref, u.relation, u.dst_ref) AS k
), parked AS (
    INSERT INTO pending_relations AS p (src_ref, relation, dst_ref,
                                        confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks,
                                        stated)
    SELECT k.src_ref, k.relation, k.dst_ref,
           (k.rec).confidence, (k.rec).first_seen, (k.rec).last_seen, (k.rec).timed,
           (k.rec).sources, (k.rec).props, (k.rec).props_rank, (k.rec).props_key_ranks,
           k.stated
    FROM unresolved k
    ORDER BY k.src_ref, k.relation, k.dst_ref
    ON CONFLICT (src_ref, relation, dst_ref) DO UPDATE SET
        (confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks) = (
            SELECT m.confidence, m.first_seen, m.last_seen, m.timed, m.sources, m.props, m.props_rank, m.props_key_ranks
            FROM merge_records(merge_record_of(p), merge_record_of(excluded)) AS m),
        stated = stated_merge(p.stated, excluded.stated)
    WHERE merge_changes(merge_record_of(p), merge_record_of(excluded))
       OR p.stated IS DISTINCT FROM stated_merge(p.stated, excluded.stated)
    RETURNING (p.stated IS NOT NULL AND stated_superseded(p.stated)) AS superseded
)
SELECT
    (SELECT count(*) FROM recorded)::bigint AS recorded,
    (SELECT count(*) FROM upserted WHERE upserted.inserted)::bigint AS inserted,
    (SELECT count(*) FROM upserted WHERE NOT upserted.inserted)::bigint AS merged,
    (SELECT count(*) FROM parked WHERE NOT parked.superseded)::bigint AS pending,
    (SELECT count(*) FROM released)::bigint AS released,
    -- the src refs of the released records that objects state: released
    -- from this statement's snapshot, they may be superseded by a version
    -- raised since (RelationSupersede checks them again)
    (SELECT coalesce(array_agg(DISTINCT r.src_ref ORDER BY r.src_ref), '{}') FROM released r
     WHERE r.stated IS NOT NULL)::text[] AS released_stated,
    -- stale: the records sent that only older versions state and that
    -- feed no relation: a link a newer version states too (a live record
    -- stored before) is merged or unchanged, as any other, not stale too.
    ((SELECT count(*) FROM by_ref WHERE by_ref.superseded
        AND NOT EXISTS (SELECT 1 FROM relation_records x
                        WHERE x.src_ref = by_ref.src_ref AND x.relation = by_ref.relation AND x.dst_ref = by_ref.dst_ref
                          AND NOT x.superseded))
     + (SELECT count(*) FROM parked WHERE parked.superseded))::bigint AS stale;

-- name: RelationCount :one
-- RelationCount counts stored and pending relationships (not those only
-- older versions of their objects state: superseded, they wait for
-- nothing).
SELECT (SELECT count(*) FROM relations)::bigint AS relations,
       (SELECT count(*) FROM pending_relations p
        WHERE p.stated IS NULL OR NOT stated_superseded(p.stated))::bigint AS pending;

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
-- With @all_refs it finds them in one join with node_aliases rather than
-- resolving every record: a reference resolves to another node than when
-- its record was keyed only through an alias naming another node now
-- (aliases are added and moved, never removed while their node exists, so
-- a reference without an alias now had none then and names its node--<uuid>).
WITH stale AS (
    SELECT r.src_ref, r.relation, r.dst_ref, r.src_id AS old_src, r.dst_id AS old_dst,
           s.node_id AS new_src, d.node_id AS new_dst
    FROM relation_records r, ref_node(r.src_ref) AS s(node_id), ref_node(r.dst_ref) AS d(node_id)
    WHERE r.src_ref = ANY(@refs::text[]) OR r.dst_ref = ANY(@refs::text[])
    UNION ALL
    SELECT r.src_ref, r.relation, r.dst_ref, r.src_id, r.dst_id,
           coalesce(sa.node_id, r.src_id), coalesce(da.node_id, r.dst_id)
    FROM relation_records r
    LEFT JOIN node_aliases sa ON sa.source_id = r.src_ref
    LEFT JOIN node_aliases da ON da.source_id = r.dst_ref
    WHERE @all_refs::boolean AND (sa.node_id <> r.src_id OR da.node_id <> r.dst_id)
), changed AS (
    SELECT s.* FROM stale s
    WHERE s.new_src IS NOT NULL AND s.new_dst IS NOT NULL AND (s.new_src <> s.old_src OR s.new_dst <> s.old_dst)
), affected AS (
    SELECT c.old_src AS src_id, c.relation, c.old_dst AS dst_id FROM changed c
    UNION
    SELECT c.new_src, c.relation, c.new_dst FROM changed c
), rekeyed AS (
    -- The = ANY on the key's ends makes both writes index scans of the
    -- rows of the changed keys' ends: joined on the whole key alone, the
    -- planner (which cannot tell how few changed) hashed all of
    -- relation_records and relations on every call.
    UPDATE relation_records r SET src_id = c.new_src, dst_id = c.new_dst
    FROM changed c
    WHERE r.src_ref = ANY(ARRAY(SELECT c2.src_ref FROM changed c2)) AND r.dst_ref = ANY(ARRAY(SELECT c2.dst_ref FROM changed c2))
      AND r.src_ref = c.src_ref AND r.relation = c.relation AND r.dst_ref = c.dst_ref
    RETURNING 1
), dropped AS (
    DELETE FROM relations x USING affected k
    WHERE x.src_id = ANY(ARRAY(SELECT k2.src_id FROM affected k2)) AND x.dst_id = ANY(ARRAY(SELECT k2.dst_id FROM affected k2))
      AND x.src_id = k.src_id AND x.relation = k.relation AND x.dst_id = k.dst_id
    RETURNING 1
)
SELECT coalesce(array_agg(k.src_id ORDER BY k.src_id, k.relation, k.dst_id), '{}')::uuid[] AS src_ids,
       coalesce(array_agg(k.relation ORDER BY k.src_id, k.relation, k.dst_id), '{}')::text[] AS relations,
       coalesce(array_agg(k.dst_id ORDER BY k.src_id, k.relation, k.dst_id), '{}')::uuid[] AS dst_ids,
       (SELECT count(*) FROM rekeyed)::bigint AS rekeyed
FROM affected k;

-- name: RelationRebuild :execrows
-- RelationRebuild writes the relations of the given keys (parallel arrays)
-- as the merge of their relation records that are not superseded (after
-- RelationRekey or RelationSupersede deleted them); a key whose records are
-- all superseded gets no relation.
INSERT INTO relations AS r (src_id, relation, dst_id,
                            confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks)
SELECT g.src_id, g.relation, g.dst_id,
       (g.rec).confidence, (g.rec).first_seen, (g.rec).last_seen, (g.rec).timed,
       (g.rec).sources, (g.rec).props, (g.rec).props_rank, (g.rec).props_key_ranks
FROM (
    SELECT rr.src_id, rr.relation, rr.dst_id, merge_records_agg(merge_record_of(rr)) AS rec
    FROM relation_records rr
    JOIN (SELECT unnest(@src_ids::uuid[]) AS src_id, unnest(@relations::text[]) AS relation, unnest(@dst_ids::uuid[]) AS dst_id) AS k
      ON rr.src_id = k.src_id AND rr.relation = k.relation AND rr.dst_id = k.dst_id
    WHERE NOT rr.superseded
    GROUP BY rr.src_id, rr.relation, rr.dst_id
) AS g
ORDER BY g.src_id, g.relation, g.dst_id
ON CONFLICT (src_id, relation, dst_id) DO UPDATE SET
    (confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks) = (
        SELECT m.confidence, m.first_seen, m.last_seen, m.timed, m.sources, m.props, m.props_rank, m.props_key_ranks
        FROM merge_records(merge_record_of(r), merge_record_of(excluded)) AS m),
    updated_at = now();

-- name: SourceVersionInsert :many
-- SourceVersionInsert records the objects seen for the first time (parallel
-- arrays, ids unique and sorted; nodes as array literals, as
-- RelationUpsertMany's sources): the version and the nodes it came with
-- or stated relations from. It returns the ids it inserted: their rows
-- stay locked by the insert until the transaction ends (another writer's
-- insert waits for it, and no one else sees them before). Objects already
-- recorded are left to SourceVersionLock and SourceVersionUpdate.
INSERT INTO source_versions (source_id, version, nodes)
SELECT i.id, i.version, i.nodes::uuid[]
FROM (SELECT unnest(@ids::text[]) AS id, unnest(@versions::timestamptz[]) AS version, unnest(@nodes::text[]) AS nodes) AS i
ORDER BY i.id
ON CONFLICT (source_id) DO NOTHING
RETURNING source_id;

-- name: SourceVersionLock :many
-- SourceVersionLock takes a key-share lock on the rows of the objects a
-- batch writes versions of or relations stated by, in id order, for the
-- transaction, and returns them as they are once locked (the latest
-- committed). Writers of the same objects do not wait for each other; a
-- writer that raises a version waits for them (SourceVersionUpdate takes
-- FOR UPDATE) and they for it, so every statement after it sees what the
-- other wrote: RelationSupersede finds every record an older version
-- stated, and a record written after a raise is written superseded.
SELECT source_id, version, nodes FROM source_versions
WHERE source_id = ANY(@ids::text[])
ORDER BY source_id
FOR KEY SHARE;

-- name: SourceVersionUpdate :many
-- SourceVersionUpdate raises the versions and adds the nodes of objects
-- SourceVersionLock locked (parallel arrays, ids sorted; nodes as array
-- literals, the nodes to add): it locks their rows FOR UPDATE first, in id
-- order, waiting for the writers that hold key-share locks on them, and
-- keeps the newest version and the union of the nodes as they are then.
-- It returns the ids whose version it raised.
WITH i AS (
    SELECT unnest(@ids::text[]) AS id, unnest(@versions::timestamptz[]) AS version, unnest(@nodes::text[]) AS nodes
), locked AS (
    SELECT v.source_id FROM source_versions v WHERE v.source_id = ANY(@ids::text[]) ORDER BY v.source_id FOR UPDATE
), updated AS (
    UPDATE source_versions v
    SET version = greatest(v.version, i.version),
        nodes = ARRAY(SELECT DISTINCT x FROM unnest(v.nodes || i.nodes::uuid[]) AS x ORDER BY 1)
    FROM i
    WHERE v.source_id = i.id AND (SELECT count(*) FROM locked) >= 0
      AND (v.version < i.version OR NOT v.nodes @> i.nodes::uuid[])
    RETURNING v.source_id, v.version = i.version AS at_version
)
SELECT u.source_id FROM updated u JOIN i ON i.id = u.source_id
WHERE u.at_version
ORDER BY u.source_id;

-- name: PendingLockStated :one
-- PendingLockStated locks the pending records stated by any of @ids (the
-- objects whose version SourceVersionUpdate raised; found from the nodes
-- the object came with, as RelationSupersede finds them), run before
-- RelationSupersede. A concurrent batch releasing such a record (it names
-- the record's ends, not the object, so it holds no lock on the object's
-- source_versions row) writes a relation record that RelationSupersede's
-- snapshot would not see, from a snapshot that did not see the raised
-- version: the record stayed live, a link only the older version states.
-- Taking the rows' locks here waits for such a batch to commit, after which
-- RelationSupersede (a later statement) sees its record; a batch that comes
-- to the rows after this waits for this transaction, whose RelationSupersede
-- deletes them, and releases nothing.
SELECT count(*)::bigint AS locked FROM (
    SELECT 1 FROM pending_relations p,
                  (SELECT v.source_id, n.node FROM source_versions v, unnest(v.nodes) AS n(node)
                   WHERE v.source_id = ANY(@ids::text[])) AS s
    WHERE p.src_ref = 'node--' || s.node::text AND stated_names(p.stated, s.source_id)
    FOR UPDATE OF p
) AS l;

-- name: RelationSupersede :one
-- RelationSupersede marks superseded the relation records that every
-- object stating them now states only in an older version
-- (stated_superseded): those stated by any of @ids (the objects whose
-- version SourceVersionUpdate raised), looked for from every node the
-- object came with (source_versions.nodes: a renamed name-keyed object has
-- a node per name), and those from any of @src_refs (records just released
-- from pending from a snapshot that may predate a raise). It deletes the
-- relations the records fed, which it returns for RelationRebuild to
-- rebuild from the records left. Pending records such versions state are
-- kept (their content is part of the record of their key whatever the
-- order; released, they are written superseded) and no longer counted
-- pending (RelationCount).
WITH s AS (
    SELECT v.source_id, n.node FROM source_versions v, unnest(v.nodes) AS n(node)
    WHERE v.source_id = ANY(@ids::text[])
), cand AS (
    SELECT r.src_ref, r.relation, r.dst_ref FROM relation_records r JOIN s ON r.src_id = s.node
    WHERE stated_names(r.stated, s.source_id)
    UNION
    SELECT r.src_ref, r.relation, r.dst_ref FROM relation_records r
    WHERE r.src_ref = ANY(@src_refs::text[]) AND r.stated IS NOT NULL
), marked AS (
    UPDATE relation_records r SET superseded = true
    FROM cand c
    WHERE r.src_ref = c.src_ref AND r.relation = c.relation AND r.dst_ref = c.dst_ref
      AND NOT r.superseded AND stated_superseded(r.stated)
    RETURNING r.src_id, r.relation, r.dst_id
), affected AS (
    SELECT DISTINCT m.src_id, m.relation, m.dst_id FROM marked m
), dropped AS (
    DELETE FROM relations x USING affected a
    WHERE x.src_id = a.src_id AND x.relation = a.relation AND x.dst_id = a.dst_id
    RETURNING 1
)
SELECT coalesce(array_agg(a.src_id ORDER BY a.src_id, a.relation, a.dst_id), '{}')::uuid[] AS src_ids,
       coalesce(array_agg(a.relation ORDER BY a.src_id, a.relation, a.dst_id), '{}')::text[] AS relations,
       coalesce(array_agg(a.dst_id ORDER BY a.src_id, a.relation, a.dst_id), '{}')::uuid[] AS dst_ids,
       (SELECT count(*) FROM marked)::bigint AS superseded
FROM affected a;

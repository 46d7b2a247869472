-- name: RelationIDUpsertMany :exec
-- RelationIDUpsertMany records relationship ids (parallel arrays, ids
-- unique within the batch) with the references the feed wrote and the
-- version of the copy that wrote them (@versioned false: none, a MISP
-- object reference or a STIX relationship without modified). Of the
-- copies of one id the row names one rule's pick, whatever the order and
-- the writers: the newest version, then a copy with a version before one
-- without, then the smallest (relation, src_ref, dst_ref), then the
-- smallest non-empty source (migration 00040). The conflict's row is
-- locked and re-read before the rule is applied, so concurrent writers of
-- one id end with the same row. An unchanged row is not rewritten.
INSERT INTO relation_ids AS r (source_id, src_ref, relation, dst_ref, source, version)
SELECT i.source_id, i.src_ref, i.relation, i.dst_ref, i.source, CASE WHEN i.versioned THEN i.version END
FROM (
    SELECT unnest(@source_ids::text[]) AS source_id, unnest(@src_refs::text[]) AS src_ref,
           unnest(@relations::text[]) AS relation, unnest(@dst_refs::text[]) AS dst_ref,
           unnest(@sources::text[]) AS source, unnest(@versioned::boolean[]) AS versioned,
           unnest(@versions::timestamptz[]) AS version
) AS i
ORDER BY i.source_id
ON CONFLICT (source_id) DO UPDATE SET
    src_ref = excluded.src_ref, relation = excluded.relation, dst_ref = excluded.dst_ref, source = excluded.source,
    version = excluded.version
WHERE (excluded.version IS NOT NULL AND (r.version IS NULL OR excluded.version > r.version))
   OR (excluded.version IS NOT DISTINCT FROM r.version
       AND ROW(excluded.relation COLLATE "C", excluded.src_ref COLLATE "C", excluded.dst_ref COLLATE "C",
               excluded.source = '', excluded.source COLLATE "C")
         < ROW(r.relation COLLATE "C", r.src_ref COLLATE "C", r.dst_ref COLLATE "C", r.source = '', r.source COLLATE "C"));

-- name: RelationIDGet :one
-- RelationIDGet returns the relationship a feed's relationship id names,
-- with its endpoints resolved to node ids (@unknown while not known).
SELECT r.source_id, r.src_ref, r.relation, r.dst_ref, r.source,
       coalesce(resolve_ref(r.src_ref), @unknown::uuid)::uuid AS src_id,
       coalesce(resolve_ref(r.dst_ref), @unknown::uuid)::uuid AS dst_id
FROM relation_ids r
WHERE r.source_id = @source_id::text;

-- name: RelationIDEnds :many
-- RelationIDEnds returns the references of the relationship each known id
-- among @source_ids names, for a batch naming one as an endpoint to be
-- written as relationships to both its ends (PendingRelationExpand's
-- rule, applied before writing instead of after parking). An id that
-- also names a node (an alias) is left out: ref_node resolves it to that
-- node, so the relationship naming it is no link to a relationship.
SELECT r.source_id, r.src_ref, r.dst_ref FROM relation_ids r
WHERE r.source_id = ANY(@source_ids::text[])
  AND NOT EXISTS (SELECT 1 FROM node_aliases a WHERE a.source_id = r.source_id);

-- name: PendingRelationExpand :many
-- PendingRelationExpand takes out of pending_relations each relationship
-- that names, as an endpoint, a relationship id among @refs (any kept in
-- relation_ids with @all_refs) and returns it as relationships to both ends
-- of the relationship that id names, each carrying the record it had
-- (merged per key), for RelationUpsertMany to write, park or merge like any
-- other. So a report, note or sighting naming a relationship (object_refs,
-- sighting_of_ref) links to its endpoints, in whichever order the two
-- arrive. Confidence -1 means unknown, as RelationUpsertMany takes it.
-- Every row carries taken, the number of pending rows taken out; when
-- they expand to nothing (a relationship whose two ends are one node), one
-- row with an empty src_ref says so, for the caller to count and skip.
WITH named AS (
    -- @refs, or with @all_refs the known relationship ids that pending
    -- relationships name.
    SELECT CASE WHEN @all_refs::boolean
                THEN ARRAY(SELECT p.src_ref FROM pending_relations p JOIN relation_ids i ON i.source_id = p.src_ref
                           UNION
                           SELECT p.dst_ref FROM pending_relations p JOIN relation_ids i ON i.source_id = p.dst_ref)
                ELSE @refs::text[] END AS refs
), taken AS (
    -- Found from pending_relations' side, by its two indexes: the pending
    -- rows naming the refs are few. (Joined to relation_ids on either end,
    -- the plan depended on the statistics: a generic plan read all of
    -- relation_ids or of pending_relations for every batch, up to 0.2 s a
    -- call with one writer.) The index scans take the refs as an array; the
    -- filter on the rows they find looks each end up in the refs hashed
    -- (`IN`): `= ANY` of an array that is no constant compares with every
    -- element, 1,362 rows × 500 refs × 2 per batch on ATT&CK's collections.
    DELETE FROM pending_relations p
    WHERE (p.src_ref = ANY((SELECT n.refs FROM named n)::text[]) OR p.dst_ref = ANY((SELECT n.refs FROM named n)::text[]))
      AND ((p.src_ref IN (SELECT unnest(n.refs) FROM named n) AND EXISTS (SELECT 1 FROM relation_ids i WHERE i.source_id = p.src_ref))
        OR (p.dst_ref IN (SELECT unnest(n.refs) FROM named n) AND EXISTS (SELECT 1 FROM relation_ids i WHERE i.source_id = p.dst_ref)))
    RETURNING p.src_ref, p.relation, p.dst_ref, merge_record_of(p) AS rec, p.stated
), expanded AS (
    SELECT s.ref AS src_ref, t.relation, d.ref AS dst_ref, t.rec, t.stated
    FROM taken t
    CROSS JOIN LATERAL (
        SELECT unnest(CASE WHEN i.source_id IS NULL THEN ARRAY[t.src_ref] ELSE ARRAY[i.src_ref, i.dst_ref] END) AS ref
        FROM (SELECT 1) AS one LEFT JOIN relation_ids i ON i.source_id = t.src_ref
    ) AS s
    CROSS JOIN LATERAL (
        SELECT unnest(CASE WHEN i.source_id IS NULL THEN ARRAY[t.dst_ref] ELSE ARRAY[i.src_ref, i.dst_ref] END) AS ref
        FROM (SELECT 1) AS one LEFT JOIN relation_ids i ON i.source_id = t.dst_ref
    ) AS d
), merged AS (
    SELECT e.src_ref, e.relation, e.dst_ref, merge_records_agg(e.rec) AS rec, stated_merge_agg(e.stated) AS stated
    FROM expanded e
    WHERE e.src_ref <> e.dst_ref
    GROUP BY e.src_ref, e.relation, e.dst_ref
)
SELECT k.src_ref::text AS src_ref, k.relation::text AS relation, k.dst_ref::text AS dst_ref,
       coalesce((k.rec).confidence, -1)::smallint AS confidence,
       (k.rec).first_seen::timestamptz AS first_seen, (k.rec).last_seen::timestamptz AS last_seen,
       (k.rec).timed::boolean AS timed, (k.rec).sources::text[] AS sources, (k.rec).props::jsonb AS props,
       (k.rec).props_rank::text AS props_rank, (k.rec).props_key_ranks::jsonb AS props_key_ranks,
       coalesce(k.stated, '{}')::jsonb AS stated,
       (SELECT count(*) FROM taken)::bigint AS taken
FROM merged k
UNION ALL
SELECT ''::text, ''::text, ''::text, -1::smallint, 'epoch'::timestamptz, 'epoch'::timestamptz, false,
       '{}'::text[], '{}'::jsonb, ''::text, '{}'::jsonb, '{}'::jsonb, (SELECT count(*) FROM taken)::bigint
WHERE EXISTS (SELECT 1 FROM taken) AND NOT EXISTS (SELECT 1 FROM merged)
ORDER BY src_ref, relation, dst_ref;

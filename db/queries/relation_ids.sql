-- name: RelationIDUpsertMany :many
-- RelationIDUpsertMany records relationship ids (parallel arrays, ids
-- unique within the batch) with the references the feed wrote and the
-- version of the copy that wrote them (@versioned false: none, a MISP
-- object reference or a STIX relationship without modified). Of the
-- copies of one id the row names one rule's pick, whatever the order and
-- the writers: the newest version, then a copy with a version before one
-- without, then the smallest (relation, src_ref, dst_ref), then the
-- smallest non-empty source (migration 00040). The conflict's row is
-- locked and re-read before the rule is applied, so concurrent writers of
-- one id end with the same row. An unchanged row is not rewritten. It
-- returns the ids whose row named other ends before (src_ref or dst_ref
-- changed; a row new to the table is none), with the old ends and the new:
-- the links that named them were expanded to the old ends
-- (RelationIDRefsForget, RelationIDRefsRepark).
WITH old AS (
    SELECT o.source_id, o.src_ref, o.dst_ref FROM relation_ids o WHERE o.source_id = ANY(@source_ids::text[])
), up AS (
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
         < ROW(r.relation COLLATE "C", r.src_ref COLLATE "C", r.dst_ref COLLATE "C", r.source = '', r.source COLLATE "C"))
RETURNING r.source_id, r.src_ref, r.dst_ref
)
SELECT u.source_id::text AS source_id, o.src_ref::text AS old_src_ref, o.dst_ref::text AS old_dst_ref,
       u.src_ref::text AS src_ref, u.dst_ref::text AS dst_ref
FROM up u JOIN old o ON o.source_id = u.source_id
WHERE o.src_ref <> u.src_ref OR o.dst_ref <> u.dst_ref
ORDER BY 1;

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
), saved AS (
    -- each link taken, as written, for RelationIDRefsRepark to expand
    -- again when the relationship's newest version names other ends
    INSERT INTO relation_id_refs AS x (src_ref, relation, dst_ref,
                                       confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks,
                                       stated)
    SELECT t.src_ref, t.relation, t.dst_ref,
           (t.rec).confidence, (t.rec).first_seen, (t.rec).last_seen, (t.rec).timed,
           (t.rec).sources, (t.rec).props, (t.rec).props_rank, (t.rec).props_key_ranks,
           t.stated
    FROM taken t
    ORDER BY t.src_ref, t.relation, t.dst_ref
    ON CONFLICT (src_ref, relation, dst_ref) DO UPDATE SET
        (confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks) = (
            SELECT m.confidence, m.first_seen, m.last_seen, m.timed, m.sources, m.props, m.props_rank, m.props_key_ranks
            FROM merge_records(merge_record_of(x), merge_record_of(excluded)) AS m),
        stated = stated_merge(x.stated, excluded.stated)
    WHERE merge_changes(merge_record_of(x), merge_record_of(excluded))
       OR x.stated IS DISTINCT FROM stated_merge(x.stated, excluded.stated)
), expanded AS (
    -- stated through the relationship ids expanded (stated_via), so a
    -- change of their ends finds what came through them
    SELECT s.ref AS src_ref, t.relation, d.ref AS dst_ref, t.rec,
           CASE WHEN d.via IS NULL THEN s.stated ELSE stated_via(s.stated, d.via) END AS stated
    FROM taken t
    CROSS JOIN LATERAL (
        SELECT unnest(CASE WHEN i.source_id IS NULL THEN ARRAY[t.src_ref] ELSE ARRAY[i.src_ref, i.dst_ref] END) AS ref,
               i.source_id AS via,
               CASE WHEN i.source_id IS NULL THEN t.stated ELSE stated_via(t.stated, i.source_id) END AS stated
        FROM (SELECT 1) AS one LEFT JOIN relation_ids i ON i.source_id = t.src_ref
    ) AS s
    CROSS JOIN LATERAL (
        SELECT unnest(CASE WHEN i.source_id IS NULL THEN ARRAY[t.dst_ref] ELSE ARRAY[i.src_ref, i.dst_ref] END) AS ref,
               i.source_id AS via
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

-- name: RelationIDRefUpsertMany :exec
-- RelationIDRefUpsertMany keeps the links that name a known relationship
-- id that a batch expands before writing (expandKnownRelationRefs; parallel
-- arrays as RelationUpsertMany's, keys unique and sorted), merged per key
-- as PendingRelationExpand keeps those it takes.
INSERT INTO relation_id_refs AS x (src_ref, relation, dst_ref,
                                   confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks,
                                   stated)
SELECT i.src_ref, i.relation, i.dst_ref, NULLIF(i.confidence, -1), i.first_seen, i.last_seen, NOT i.untimed,
       i.sources::text[], i.props, i.props_rank, i.props_key_ranks, NULLIF(i.stated, '{}'::jsonb)
FROM (
    SELECT unnest(@src_refs::text[]) AS src_ref, unnest(@relations::text[]) AS relation,
           unnest(@dst_refs::text[]) AS dst_ref, unnest(@confidences::int2[]) AS confidence,
           unnest(@first_seens::timestamptz[]) AS first_seen, unnest(@last_seens::timestamptz[]) AS last_seen,
           unnest(@sources::text[]) AS sources, unnest(@props::jsonb[]) AS props,
           unnest(@props_ranks::text[]) AS props_rank, unnest(@props_key_ranks::jsonb[]) AS props_key_ranks,
           unnest(@stated::jsonb[]) AS stated, unnest(@untimed::boolean[]) AS untimed
) AS i
ORDER BY i.src_ref, i.relation, i.dst_ref
ON CONFLICT (src_ref, relation, dst_ref) DO UPDATE SET
    (confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks) = (
        SELECT m.confidence, m.first_seen, m.last_seen, m.timed, m.sources, m.props, m.props_rank, m.props_key_ranks
        FROM merge_records(merge_record_of(x), merge_record_of(excluded)) AS m),
    stated = stated_merge(x.stated, excluded.stated)
WHERE merge_changes(merge_record_of(x), merge_record_of(excluded))
   OR x.stated IS DISTINCT FROM stated_merge(x.stated, excluded.stated);

-- name: RelationIDRefsForget :one
-- RelationIDRefsForget takes out of the relation records (and of the kept
-- links of relation_id_refs, for a relationship whose end was a
-- relationship, and of the pending relations, expanded to ends not known
-- yet) the statements that came through the relationship ids
-- @ids (stated keys "... via <id>", stated_unvia) to the ends @gone
-- relation_ids no longer names: the records between an end the links
-- naming them give and one of @gone (an end the newest version still
-- names keeps them: the expansion writes them again). A record left stating nothing is deleted (it was
-- only that expansion), another is superseded or not as its statements
-- left say. It deletes the relations the records fed and returns their
-- keys for RelationRebuild; RelationIDRefsRepark then parks the links
-- again, to be expanded to the new ends.
WITH others AS (
    SELECT x.dst_ref AS ref FROM relation_id_refs x WHERE x.src_ref = ANY(@ids::text[])
    UNION
    SELECT x.src_ref FROM relation_id_refs x WHERE x.dst_ref = ANY(@ids::text[])
), cand AS (
    SELECT r.src_ref, r.relation, r.dst_ref, stated_unvia(r.stated, @ids::text[]) AS stated
    FROM relation_records r
    WHERE ((r.src_ref IN (SELECT o.ref FROM others o) AND r.dst_ref = ANY(@gone::text[]))
        OR (r.dst_ref IN (SELECT o.ref FROM others o) AND r.src_ref = ANY(@gone::text[])))
      AND r.stated IS NOT NULL AND stated_unvia(r.stated, @ids::text[]) IS DISTINCT FROM r.stated
), gone AS (
    DELETE FROM relation_records r USING cand c
    WHERE r.src_ref = c.src_ref AND r.relation = c.relation AND r.dst_ref = c.dst_ref AND c.stated IS NULL
    RETURNING r.src_id, r.relation, r.dst_id
), kept AS (
    UPDATE relation_records r SET stated = c.stated, superseded = stated_superseded(c.stated)
    FROM cand c
    WHERE r.src_ref = c.src_ref AND r.relation = c.relation AND r.dst_ref = c.dst_ref AND c.stated IS NOT NULL
    RETURNING r.src_id, r.relation, r.dst_id
), refs AS (
    SELECT x.src_ref, x.relation, x.dst_ref, stated_unvia(x.stated, @ids::text[]) AS stated
    FROM relation_id_refs x
    WHERE ((x.src_ref IN (SELECT o.ref FROM others o) AND x.dst_ref = ANY(@gone::text[]))
        OR (x.dst_ref IN (SELECT o.ref FROM others o) AND x.src_ref = ANY(@gone::text[])))
      AND x.stated IS NOT NULL AND stated_unvia(x.stated, @ids::text[]) IS DISTINCT FROM x.stated
), refs_gone AS (
    DELETE FROM relation_id_refs x USING refs c
    WHERE x.src_ref = c.src_ref AND x.relation = c.relation AND x.dst_ref = c.dst_ref AND c.stated IS NULL
    RETURNING 1
), refs_kept AS (
    UPDATE relation_id_refs x SET stated = c.stated
    FROM refs c
    WHERE x.src_ref = c.src_ref AND x.relation = c.relation AND x.dst_ref = c.dst_ref AND c.stated IS NOT NULL
    RETURNING 1
), parked AS (
    -- links expanded to ends not known yet wait in pending_relations
    SELECT p.src_ref, p.relation, p.dst_ref, stated_unvia(p.stated, @ids::text[]) AS stated
    FROM pending_relations p
    WHERE ((p.src_ref IN (SELECT o.ref FROM others o) AND p.dst_ref = ANY(@gone::text[]))
        OR (p.dst_ref IN (SELECT o.ref FROM others o) AND p.src_ref = ANY(@gone::text[])))
      AND p.stated IS NOT NULL AND stated_unvia(p.stated, @ids::text[]) IS DISTINCT FROM p.stated
), parked_gone AS (
    DELETE FROM pending_relations p USING parked c
    WHERE p.src_ref = c.src_ref AND p.relation = c.relation AND p.dst_ref = c.dst_ref AND c.stated IS NULL
    RETURNING 1
), parked_kept AS (
    UPDATE pending_relations p SET stated = c.stated
    FROM parked c
    WHERE p.src_ref = c.src_ref AND p.relation = c.relation AND p.dst_ref = c.dst_ref AND c.stated IS NOT NULL
    RETURNING 1
), affected AS (
    SELECT DISTINCT a.src_id, a.relation, a.dst_id FROM (SELECT * FROM gone UNION ALL SELECT * FROM kept) AS a
), dropped AS (
    DELETE FROM relations x USING affected a
    WHERE x.src_id = a.src_id AND x.relation = a.relation AND x.dst_id = a.dst_id
    RETURNING 1
)
SELECT coalesce(array_agg(a.src_id ORDER BY a.src_id, a.relation, a.dst_id), '{}')::uuid[] AS src_ids,
       coalesce(array_agg(a.relation ORDER BY a.src_id, a.relation, a.dst_id), '{}')::text[] AS relations,
       coalesce(array_agg(a.dst_id ORDER BY a.src_id, a.relation, a.dst_id), '{}')::uuid[] AS dst_ids,
       ((SELECT count(*) FROM gone) + (SELECT count(*) FROM kept))::bigint AS unlinked
FROM affected a;

-- name: RelationIDRefsRepark :execrows
-- RelationIDRefsRepark parks again the kept links that name any of @ids
-- (relation_id_refs), merged into pending_relations, for
-- PendingRelationExpand to expand to the ends relation_ids names now.
INSERT INTO pending_relations AS p (src_ref, relation, dst_ref,
                                    confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks,
                                    stated)
SELECT x.src_ref, x.relation, x.dst_ref, x.confidence, x.first_seen, x.last_seen, x.timed, x.sources,
       x.props, x.props_rank, x.props_key_ranks, x.stated
FROM relation_id_refs x
WHERE x.src_ref = ANY(@ids::text[]) OR x.dst_ref = ANY(@ids::text[])
ORDER BY x.src_ref, x.relation, x.dst_ref
ON CONFLICT (src_ref, relation, dst_ref) DO UPDATE SET
    (confidence, first_seen, last_seen, timed, sources, props, props_rank, props_key_ranks) = (
        SELECT m.confidence, m.first_seen, m.last_seen, m.timed, m.sources, m.props, m.props_rank, m.props_key_ranks
        FROM merge_records(merge_record_of(p), merge_record_of(excluded)) AS m),
    stated = stated_merge(p.stated, excluded.stated);

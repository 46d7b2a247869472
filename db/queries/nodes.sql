-- name: NodeUpsertMany :one
-- NodeUpsertMany inserts or merges one batch of nodes given as parallel
-- arrays (one element per node, ids unique within the batch, sorted by id so
-- concurrent writers take row locks in the same order). Labels and sources
-- come as one PostgreSQL array literal per node ('{"a","b"}'), already sorted
-- and without duplicates, so a new row needs no per-row subquery. The merge is
-- graph.MergeNode, a semilattice, so the result does not depend on load order
-- and reloading a record changes nothing: the smallest (kind, key), the earliest first_seen and the
-- latest last_seen of the records with times, the union of labels and sources
-- (sorted), the highest confidence, the strictest TLP; the name of the record
-- with the highest name_rank, and each props key from the highest-ranked
-- record that has it (props_merge, migration 00007). The ranks come from
-- graph.Node.Ranks. A row @untimed carries no times of its own (its
-- first/last seen are the load time, used only when inserting): merging it
-- leaves the stored times alone, and the first record with times replaces the
-- load time. (A flag per row, so that a batch's nodes, timed or not, are
-- written in one id order: two writers taking row locks in two orders
-- deadlock.) A row that the merge would not change is not written. It
-- returns how many nodes were inserted and how many merged into existing
-- ones; the rest of the batch was unchanged.
WITH upserted AS (
    INSERT INTO nodes AS n (id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources,
                            name_rank, props_rank, props_key_ranks, timed)
    SELECT
        i.id, i.kind, i.key, i.name, i.props, i.labels::text[],
        NULLIF(i.confidence, -1),
        NULLIF(i.tlp, ''),
        i.first_seen, i.last_seen,
        i.sources::text[],
        i.name_rank, i.props_rank, i.props_key_ranks, NOT i.untimed
    FROM (
        SELECT unnest(@ids::uuid[]) AS id, unnest(@kinds::text[]) AS kind, unnest(@keys::text[]) AS key,
               unnest(@names::text[]) AS name, unnest(@props::jsonb[]) AS props,
               unnest(@labels::text[]) AS labels, unnest(@confidences::int2[]) AS confidence,
               unnest(@tlps::text[]) AS tlp, unnest(@first_seens::timestamptz[]) AS first_seen,
               unnest(@last_seens::timestamptz[]) AS last_seen, unnest(@sources::text[]) AS sources,
               unnest(@name_ranks::text[]) AS name_rank, unnest(@props_ranks::text[]) AS props_rank,
               unnest(@props_key_ranks::jsonb[]) AS props_key_ranks, unnest(@untimed::boolean[]) AS untimed
    ) AS i
    ORDER BY i.id
    ON CONFLICT (id) DO UPDATE SET
        kind = CASE WHEN ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
                    THEN excluded.kind ELSE n.kind END,
        key = CASE WHEN ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
                   THEN excluded.key ELSE n.key END,
        name = CASE WHEN excluded.name_rank > n.name_rank THEN excluded.name ELSE n.name END,
        name_rank = greatest(n.name_rank, excluded.name_rank),
        -- The common case inline: both rows come whole from one record and the
        -- incoming one outranks the stored one and has all its keys.
        props = CASE WHEN n.props_key_ranks = '{}' AND excluded.props_key_ranks = '{}' AND excluded.props_rank > n.props_rank
                          AND excluded.props ?& ARRAY(SELECT jsonb_object_keys(n.props))
                     THEN excluded.props
                     ELSE props_merge(jsonb_build_object('p', n.props, 'r', n.props_rank, 'k', n.props_key_ranks),
                                      jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'p' END,
        props_key_ranks = CASE WHEN n.props_key_ranks = '{}' AND excluded.props_key_ranks = '{}' AND excluded.props_rank > n.props_rank
                                    AND excluded.props ?& ARRAY(SELECT jsonb_object_keys(n.props))
                               THEN '{}'::jsonb
                               ELSE props_merge(jsonb_build_object('p', n.props, 'r', n.props_rank, 'k', n.props_key_ranks),
                                                jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'k' END,
        props_rank = greatest(n.props_rank, excluded.props_rank),
        labels = CASE WHEN n.labels @> excluded.labels THEN n.labels
                      ELSE ARRAY(SELECT DISTINCT l COLLATE "C" FROM unnest(n.labels || excluded.labels) AS l ORDER BY 1) END,
        confidence = greatest(n.confidence, excluded.confidence),
        tlp = CASE WHEN ROW(tlp_rank(excluded.tlp), coalesce(excluded.tlp, '') COLLATE "C") > ROW(tlp_rank(n.tlp), coalesce(n.tlp, '') COLLATE "C")
                   THEN excluded.tlp ELSE n.tlp END,
        first_seen = CASE WHEN NOT excluded.timed THEN n.first_seen WHEN NOT n.timed THEN excluded.first_seen
                          ELSE least(n.first_seen, excluded.first_seen) END,
        last_seen = CASE WHEN NOT excluded.timed THEN n.last_seen WHEN NOT n.timed THEN excluded.last_seen
                         ELSE greatest(n.last_seen, excluded.last_seen) END,
        timed = n.timed OR excluded.timed,
        sources = CASE WHEN n.sources @> excluded.sources THEN n.sources
                       ELSE ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(n.sources || excluded.sources) AS s ORDER BY 1) END,
        updated_at = now()
    -- Props change exactly when the incoming winner outranks the stored one
    -- or one of its keys is missing or outranks the stored key.
    WHERE (excluded.timed AND (NOT n.timed OR excluded.first_seen < n.first_seen OR excluded.last_seen > n.last_seen))
       OR ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
       OR NOT n.labels @> excluded.labels
       OR NOT n.sources @> excluded.sources
       OR coalesce(excluded.confidence, -1) > coalesce(n.confidence, -1)
       OR ROW(tlp_rank(excluded.tlp), coalesce(excluded.tlp, '') COLLATE "C") > ROW(tlp_rank(n.tlp), coalesce(n.tlp, '') COLLATE "C")
       OR excluded.name_rank > n.name_rank
       OR excluded.props_rank > n.props_rank
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(excluded.props) AS k
                  WHERE NOT n.props ? k
                     OR coalesce(excluded.props_key_ranks->>k COLLATE "C", excluded.props_rank)
                        > coalesce(n.props_key_ranks->>k COLLATE "C", n.props_rank))
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE u.inserted) AS inserted, count(*) FILTER (WHERE NOT u.inserted) AS merged
FROM upserted u;

-- name: NodeGet :one
-- NodeGet returns one node by id.
SELECT * FROM nodes WHERE id = @id;

-- name: NodeGetByKey :one
-- NodeGetByKey returns the node of a kind with the given natural key.
SELECT * FROM nodes WHERE kind = @kind AND md5(key) = md5(@key::text) AND key = @key;

-- name: NodeCountByKind :many
-- NodeCountByKind counts nodes per kind.
SELECT kind, count(*) AS nodes FROM nodes GROUP BY kind ORDER BY kind;

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
--
-- Node records (node_records, migration 00042): a row @recorded carries a
-- versioned record (graph.RecordSource). Inserted, it is the whole merge of
-- its batch's records and the node is recorded from the start; merged into
-- an existing node, only its kind, key, times and sources merge here, and
-- the store writes its records and merges the node again from them
-- (NodeRecordSeed, NodeRecordUpsertMany, NodeRemergeRecords). A row not
-- @recorded merges as always; into a node already recorded it is always
-- returned (written even when nothing changes, updated_at kept then), so
-- the store merges it into the node's '' record too. recorded lists the
-- merged rows whose node is recorded, inserted_recorded the rows inserted
-- @recorded (their content is already the merge of their records). For a node not recorded and a row
-- not @recorded the statement does what it did before 00042: the only
-- extra work is reading the row's recorded flag.
WITH upserted AS (
    INSERT INTO nodes AS n (id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources,
                            name_rank, props_rank, props_key_ranks, timed, recorded)
    SELECT
        i.id, i.kind, i.key, i.name, i.props, i.labels::text[],
        NULLIF(i.confidence, -1),
        NULLIF(i.tlp, ''),
        i.first_seen, i.last_seen,
        i.sources::text[],
        i.name_rank, i.props_rank, i.props_key_ranks, NOT i.untimed, i.recorded
    FROM (
        SELECT unnest(@ids::uuid[]) AS id, unnest(@kinds::text[]) AS kind, unnest(@keys::text[]) AS key,
               unnest(@names::text[]) AS name, unnest(@props::jsonb[]) AS props,
               unnest(@labels::text[]) AS labels, unnest(@confidences::int2[]) AS confidence,
               unnest(@tlps::text[]) AS tlp, unnest(@first_seens::timestamptz[]) AS first_seen,
               unnest(@last_seens::timestamptz[]) AS last_seen, unnest(@sources::text[]) AS sources,
               unnest(@name_ranks::text[]) AS name_rank, unnest(@props_ranks::text[]) AS props_rank,
               unnest(@props_key_ranks::jsonb[]) AS props_key_ranks, unnest(@untimed::boolean[]) AS untimed,
               unnest(@recorded::boolean[]) AS recorded
    ) AS i
    ORDER BY i.id
    ON CONFLICT (id) DO UPDATE SET
        kind = CASE WHEN ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
                    THEN excluded.kind ELSE n.kind END,
        key = CASE WHEN ROW(excluded.kind COLLATE "C", excluded.key COLLATE "C") < ROW(n.kind COLLATE "C", n.key COLLATE "C")
                   THEN excluded.key ELSE n.key END,
        name = CASE WHEN NOT excluded.recorded AND excluded.name_rank > n.name_rank THEN excluded.name ELSE n.name END,
        name_rank = CASE WHEN excluded.recorded THEN n.name_rank ELSE greatest(n.name_rank, excluded.name_rank) END,
        -- The common case inline: both rows come whole from one record and the
        -- incoming one outranks the stored one and has all its keys.
        props = CASE WHEN excluded.recorded THEN n.props
                     WHEN n.props_key_ranks = '{}' AND excluded.props_key_ranks = '{}' AND excluded.props_rank > n.props_rank
                          AND excluded.props ?& ARRAY(SELECT jsonb_object_keys(n.props))
                     THEN excluded.props
                     ELSE props_merge(jsonb_build_object('p', n.props, 'r', n.props_rank, 'k', n.props_key_ranks),
                                      jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'p' END,
        props_key_ranks = CASE WHEN excluded.recorded THEN n.props_key_ranks
                               WHEN n.props_key_ranks = '{}' AND excluded.props_key_ranks = '{}' AND excluded.props_rank > n.props_rank
                                    AND excluded.props ?& ARRAY(SELECT jsonb_object_keys(n.props))
                               THEN '{}'::jsonb
                               ELSE props_merge(jsonb_build_object('p', n.props, 'r', n.props_rank, 'k', n.props_key_ranks),
                                                jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'k' END,
        props_rank = CASE WHEN excluded.recorded THEN n.props_rank ELSE greatest(n.props_rank, excluded.props_rank) END,
        labels = CASE WHEN excluded.recorded OR n.labels @> excluded.labels THEN n.labels
                      ELSE ARRAY(SELECT DISTINCT l COLLATE "C" FROM unnest(n.labels || excluded.labels) AS l ORDER BY 1) END,
        confidence = CASE WHEN excluded.recorded THEN n.confidence ELSE greatest(n.confidence, excluded.confidence) END,
        tlp = CASE WHEN NOT excluded.recorded AND ROW(tlp_rank(excluded.tlp), coalesce(excluded.tlp, '') COLLATE "C") > ROW(tlp_rank(n.tlp), coalesce(n.tlp, '') COLLATE "C")
                   THEN excluded.tlp ELSE n.tlp END,
        first_seen = CASE WHEN NOT excluded.timed THEN n.first_seen WHEN NOT n.timed THEN excluded.first_seen
                          ELSE least(n.first_seen, excluded.first_seen) END,
        last_seen = CASE WHEN NOT excluded.timed THEN n.last_seen WHEN NOT n.timed THEN excluded.last_seen
                         ELSE greatest(n.last_seen, excluded.last_seen) END,
        timed = n.timed OR excluded.timed,
        sources = CASE WHEN n.sources @> excluded.sources THEN n.sources
                       ELSE ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(n.sources || excluded.sources) AS s ORDER BY 1) END,
        -- A row returned only because its node is recorded (the WHERE's
        -- first test) keeps updated_at: nothing changed. The change test is
        -- node_row_changes (migration 00044), inlined.
        updated_at = CASE WHEN NOT n.recorded OR excluded.recorded THEN now()
                          WHEN node_row_changes(excluded.kind, excluded.key, excluded.timed, excluded.first_seen, excluded.last_seen, excluded.sources,
                                                n.kind, n.key, n.timed, n.first_seen, n.last_seen, n.sources, true,
                                                excluded.labels, excluded.confidence, excluded.tlp, excluded.name_rank,
                                                excluded.props, excluded.props_rank, excluded.props_key_ranks,
                                                n.labels, n.confidence, n.tlp, n.name_rank, n.props, n.props_rank, n.props_key_ranks)
                          THEN now() ELSE n.updated_at END
    -- A row is written when the merge changes it (node_row_changes). A
    -- @recorded row changes no content here.
    WHERE (n.recorded AND NOT excluded.recorded)
       OR node_row_changes(excluded.kind, excluded.key, excluded.timed, excluded.first_seen, excluded.last_seen, excluded.sources,
                           n.kind, n.key, n.timed, n.first_seen, n.last_seen, n.sources, NOT excluded.recorded,
                           excluded.labels, excluded.confidence, excluded.tlp, excluded.name_rank,
                           excluded.props, excluded.props_rank, excluded.props_key_ranks,
                           n.labels, n.confidence, n.tlp, n.name_rank, n.props, n.props_rank, n.props_key_ranks)
    -- The id of a recorded node alone (NULL for the others): the
    -- returned rows are materialized, and the smaller row made the merge
    -- pass's server CPU about 4 % lower (20,000 rows, docs/benchmarks.md).
    RETURNING CASE WHEN n.recorded THEN n.id END AS recorded_id, (xmax = 0) AS inserted, n.updated_at = now() AS changed
)
SELECT count(*) FILTER (WHERE u.inserted) AS inserted, count(*) FILTER (WHERE NOT u.inserted AND u.changed) AS merged,
       coalesce(array_agg(u.recorded_id) FILTER (WHERE u.recorded_id IS NOT NULL AND NOT u.inserted), '{}')::uuid[] AS recorded,
       coalesce(array_agg(u.recorded_id) FILTER (WHERE u.recorded_id IS NOT NULL AND u.inserted), '{}')::uuid[] AS inserted_recorded
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

-- name: NodeRecordSeed :execrows
-- NodeRecordSeed marks the nodes @ids (each locked by the transaction's
-- NodeUpsertMany, which merged none of its versioned records' content into
-- them) as recorded, and for those that were not, writes what the node
-- held (the content of its writers without a version, or of every writer
-- before migration 00042) as its '' record: the node's content is from now
-- on the merge of its records (migration 00042). A node holding no content
-- gets no '' record. It returns how many nodes it marked.
WITH marked AS (
    UPDATE nodes n SET recorded = true
    WHERE n.id = ANY(@ids::uuid[]) AND NOT n.recorded
    RETURNING n.id, n.name, n.name_rank, n.props, n.props_rank, n.props_key_ranks, n.labels, n.confidence, n.tlp
), seeded AS (
    INSERT INTO node_records (node_id, source_id, version, name, name_rank, props, props_rank, props_key_ranks, labels, confidence, tlp)
    SELECT m.id, '', '0001-01-01 00:00:00+00', m.name, m.name_rank, m.props, m.props_rank, m.props_key_ranks, m.labels, m.confidence, m.tlp
    FROM marked m
    WHERE m.name_rank <> '' OR m.props_rank <> '' OR m.props <> '{}' OR m.labels <> '{}' OR m.confidence IS NOT NULL OR m.tlp IS NOT NULL
    ORDER BY m.id
    ON CONFLICT (node_id, source_id) DO NOTHING
)
SELECT m.id FROM marked m;

-- name: NodeRecordUpsertMany :many
-- NodeRecordUpsertMany writes one batch of node records (node_records,
-- migration 00042) as parallel arrays sorted by (node id, source id), after
-- NodeUpsertMany locked their nodes and NodeRecordSeed recorded them: the
-- record of one source object at a newer version than the stored one
-- replaces it; at the same version (and for the '' record, of every copy
-- without a single version) it merges as NodeUpsertMany merges a node's
-- name, props, labels, confidence and TLP; an older version changes
-- nothing. It returns the records written (inserted, merged or replaced;
-- replaced says which replaced an older version).
INSERT INTO node_records AS r (node_id, source_id, version, name, name_rank, props, props_rank, props_key_ranks, labels, confidence, tlp)
SELECT i.node_id, i.source_id, i.version, i.name, i.name_rank, i.props, i.props_rank, i.props_key_ranks, i.labels::text[],
       NULLIF(i.confidence, -1), NULLIF(i.tlp, '')
FROM (
    SELECT unnest(@node_ids::uuid[]) AS node_id, unnest(@source_ids::text[]) AS source_id,
           unnest(@versions::timestamptz[]) AS version, unnest(@names::text[]) AS name,
           unnest(@name_ranks::text[]) AS name_rank, unnest(@props::jsonb[]) AS props,
           unnest(@props_ranks::text[]) AS props_rank, unnest(@props_key_ranks::jsonb[]) AS props_key_ranks,
           unnest(@labels::text[]) AS labels, unnest(@confidences::int2[]) AS confidence,
           unnest(@tlps::text[]) AS tlp
) AS i
ORDER BY i.node_id, i.source_id
ON CONFLICT (node_id, source_id) DO UPDATE SET
    version = excluded.version,
    replaced = excluded.version > r.version,
    name = CASE WHEN excluded.version > r.version OR excluded.name_rank > r.name_rank THEN excluded.name ELSE r.name END,
    name_rank = CASE WHEN excluded.version > r.version THEN excluded.name_rank ELSE greatest(r.name_rank, excluded.name_rank) END,
    props = CASE WHEN excluded.version > r.version THEN excluded.props
                 ELSE props_merge(jsonb_build_object('p', r.props, 'r', r.props_rank, 'k', r.props_key_ranks),
                                  jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'p' END,
    props_key_ranks = CASE WHEN excluded.version > r.version THEN excluded.props_key_ranks
                           ELSE props_merge(jsonb_build_object('p', r.props, 'r', r.props_rank, 'k', r.props_key_ranks),
                                            jsonb_build_object('p', excluded.props, 'r', excluded.props_rank, 'k', excluded.props_key_ranks))->'k' END,
    props_rank = CASE WHEN excluded.version > r.version THEN excluded.props_rank ELSE greatest(r.props_rank, excluded.props_rank) END,
    labels = CASE WHEN excluded.version > r.version THEN excluded.labels
                  WHEN r.labels @> excluded.labels THEN r.labels
                  ELSE ARRAY(SELECT DISTINCT l COLLATE "C" FROM unnest(r.labels || excluded.labels) AS l ORDER BY 1) END,
    confidence = CASE WHEN excluded.version > r.version THEN excluded.confidence ELSE greatest(r.confidence, excluded.confidence) END,
    tlp = CASE WHEN excluded.version > r.version THEN excluded.tlp
               WHEN ROW(tlp_rank(excluded.tlp), coalesce(excluded.tlp, '') COLLATE "C") > ROW(tlp_rank(r.tlp), coalesce(r.tlp, '') COLLATE "C")
               THEN excluded.tlp ELSE r.tlp END
WHERE excluded.version > r.version
   OR (excluded.version = r.version
       AND node_content_changes(excluded.labels, excluded.confidence, excluded.tlp, excluded.name_rank,
                                excluded.props, excluded.props_rank, excluded.props_key_ranks,
                                r.labels, r.confidence, r.tlp, r.name_rank, r.props, r.props_rank, r.props_key_ranks))
RETURNING node_id, source_id, replaced;

-- name: NodeRemergeRecords :many
-- NodeRemergeRecords sets the name, props, labels, confidence and TLP of
-- the recorded nodes @ids (each locked by the transaction's NodeUpsertMany)
-- to the merge of their node_records (graph.MergeNode over the records:
-- the name of the highest name_rank, props_merge_agg, the union of labels,
-- the highest confidence, the strictest TLP), after NodeRecordUpsertMany
-- wrote one of their records. It returns the nodes it changed, and whether
-- the transaction had not changed them before (earlier, updated_at was
-- not yet the transaction's time): those count as merged.
UPDATE nodes n SET
    name = m.name, name_rank = m.name_rank,
    props = m.ps->'p', props_rank = m.ps->>'r', props_key_ranks = m.ps->'k',
    labels = m.labels, confidence = m.confidence, tlp = m.tlp, updated_at = now()
FROM (
    SELECT r.node_id,
           coalesce((array_agg(r.name ORDER BY r.name_rank DESC) FILTER (WHERE r.name_rank <> ''))[1], '') AS name,
           max(r.name_rank) AS name_rank,
           props_merge_agg(jsonb_build_object('p', r.props, 'r', r.props_rank, 'k', r.props_key_ranks)) AS ps,
           ARRAY(SELECT DISTINCT l COLLATE "C" FROM node_records r2, unnest(r2.labels) AS l
                 WHERE r2.node_id = r.node_id ORDER BY 1) AS labels,
           max(r.confidence) AS confidence,
           (array_agg(r.tlp ORDER BY tlp_rank(r.tlp) DESC, coalesce(r.tlp, '') COLLATE "C" DESC))[1] AS tlp
    FROM node_records r
    WHERE r.node_id = ANY(@ids::uuid[])
    GROUP BY r.node_id
) m, nodes o
WHERE n.id = m.node_id AND o.id = m.node_id
  AND (n.name, n.name_rank, n.props, n.props_rank, n.props_key_ranks, n.labels, n.confidence, n.tlp)
      IS DISTINCT FROM (m.name, m.name_rank, m.ps->'p', m.ps->>'r', m.ps->'k', m.labels, m.confidence, m.tlp)
RETURNING n.id, o.updated_at <> now() AS newly_changed;

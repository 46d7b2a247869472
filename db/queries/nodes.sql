-- name: NodeUpsertMany :one
-- NodeUpsertMany inserts or merges one batch of nodes given as parallel
-- arrays (one element per node, ids unique within the batch, sorted by id so
-- concurrent writers take row locks in the same order). Labels and sources
-- come as one PostgreSQL array literal per node ('{"a","b"}'), already sorted
-- and without duplicates, so a new row needs no per-row subquery. A merge
-- keeps the earliest first_seen, the latest last_seen, the union of labels and
-- sources (sorted), the highest confidence and the strictest TLP. Name and
-- props values come from the row with the higher (confidence, last_seen): a
-- lower-confidence or older record only adds props keys that are missing, so
-- the result does not depend on load order and reloading a record changes
-- nothing. With @untimed the rows carry no times of their own (their
-- first/last seen are the load time, used only when inserting): merging them
-- leaves the stored times alone, so reloading a feed without times changes
-- nothing either. A row that the merge would not change is not written. It
-- returns how many nodes were inserted and how many merged into existing
-- ones; the rest of the batch was unchanged.
WITH upserted AS (
    INSERT INTO nodes AS n (id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources)
    SELECT
        i.id, i.kind, i.key, i.name, i.props, i.labels::text[],
        NULLIF(i.confidence, -1),
        NULLIF(i.tlp, ''),
        i.first_seen, i.last_seen,
        i.sources::text[]
    FROM (
        SELECT unnest(@ids::uuid[]) AS id, unnest(@kinds::text[]) AS kind, unnest(@keys::text[]) AS key,
               unnest(@names::text[]) AS name, unnest(@props::jsonb[]) AS props,
               unnest(@labels::text[]) AS labels, unnest(@confidences::int2[]) AS confidence,
               unnest(@tlps::text[]) AS tlp, unnest(@first_seens::timestamptz[]) AS first_seen,
               unnest(@last_seens::timestamptz[]) AS last_seen, unnest(@sources::text[]) AS sources
    ) AS i
    ORDER BY i.id
    ON CONFLICT (id) DO UPDATE SET
        name = CASE WHEN excluded.name <> '' AND (n.name = '' OR ROW(coalesce(excluded.confidence, -1), CASE WHEN @untimed::boolean THEN n.last_seen ELSE excluded.last_seen END)
                        > ROW(coalesce(n.confidence, -1), n.last_seen))
                    THEN excluded.name ELSE n.name END,
        props = CASE WHEN ROW(coalesce(excluded.confidence, -1), CASE WHEN @untimed::boolean THEN n.last_seen ELSE excluded.last_seen END)
                        > ROW(coalesce(n.confidence, -1), n.last_seen)
                     THEN n.props || excluded.props ELSE excluded.props || n.props END,
        labels = CASE WHEN n.labels @> excluded.labels THEN n.labels
                      ELSE ARRAY(SELECT DISTINCT l COLLATE "C" FROM unnest(n.labels || excluded.labels) AS l ORDER BY 1) END,
        confidence = greatest(n.confidence, excluded.confidence),
        tlp = CASE WHEN tlp_rank(excluded.tlp) > tlp_rank(n.tlp) THEN excluded.tlp ELSE n.tlp END,
        first_seen = CASE WHEN @untimed::boolean THEN n.first_seen ELSE least(n.first_seen, excluded.first_seen) END,
        last_seen = CASE WHEN @untimed::boolean THEN n.last_seen ELSE greatest(n.last_seen, excluded.last_seen) END,
        sources = CASE WHEN n.sources @> excluded.sources THEN n.sources
                       ELSE ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(n.sources || excluded.sources) AS s ORDER BY 1) END,
        updated_at = now()
    -- (excluded.props || n.props) = n.props exactly when every key of the
    -- incoming props is already stored.
    WHERE (NOT @untimed::boolean AND (excluded.first_seen < n.first_seen OR excluded.last_seen > n.last_seen))
       OR NOT n.labels @> excluded.labels
       OR NOT n.sources @> excluded.sources
       OR coalesce(excluded.confidence, -1) > coalesce(n.confidence, -1)
       OR tlp_rank(excluded.tlp) > tlp_rank(n.tlp)
       OR (n.name = '' AND excluded.name <> '')
       OR (excluded.props || n.props) <> n.props
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

-- name: NodeGetMany :many
-- NodeGetMany returns the nodes with the given ids, in id order.
SELECT * FROM nodes WHERE id = ANY(@ids::uuid[]) ORDER BY id;

-- name: NodeCountByKind :many
-- NodeCountByKind counts nodes per kind.
SELECT kind, count(*) AS nodes FROM nodes GROUP BY kind ORDER BY kind;

-- name: FeedGet :one
-- FeedGet returns the bookkeeping row of one feed.
SELECT * FROM feeds WHERE name = @name;

-- name: FeedList :many
-- FeedList returns every feed's bookkeeping row, by name.
SELECT * FROM feeds ORDER BY name;

-- name: FeedStart :one
-- FeedStart registers a feed (or updates its format and location) and marks
-- a load as running.
INSERT INTO feeds (name, format, location, last_status)
VALUES (@name, @format, @location, 'running')
ON CONFLICT (name) DO UPDATE SET
    format = excluded.format,
    location = excluded.location,
    last_status = 'running',
    updated_at = now()
RETURNING *;

-- name: FeedFinish :exec
-- FeedFinish records the outcome of a load: its status, error, report and,
-- on success, the content hash it loaded.
UPDATE feeds SET
    last_status = @status,
    last_error = @error,
    last_report = @report,
    content_hash = CASE WHEN @status = 'ok' THEN @content_hash ELSE content_hash END,
    last_loaded_at = CASE WHEN @status IN ('ok', 'skipped') THEN now() ELSE last_loaded_at END,
    updated_at = now()
WHERE name = @name;

-- name: FeedItemList :many
-- FeedItemList returns the per-item bookkeeping of a feed.
SELECT * FROM feed_items WHERE feed = @feed ORDER BY item;

-- name: FeedItemUpsert :exec
-- FeedItemUpsert records that one item of a feed was loaded with this content.
INSERT INTO feed_items (feed, item, content_hash, source_ts)
VALUES (@feed, @item, @content_hash, @source_ts)
ON CONFLICT (feed, item) DO UPDATE SET
    content_hash = excluded.content_hash,
    source_ts = excluded.source_ts,
    loaded_at = now();

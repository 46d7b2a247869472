-- name: FeedGet :one
-- FeedGet returns the bookkeeping row of one feed.
SELECT * FROM feeds WHERE name = @name;

-- name: FeedList :many
-- FeedList returns every feed's bookkeeping row, by name.
SELECT * FROM feeds ORDER BY name;

-- name: FeedStartIf :one
-- FeedStartIf registers a feed (or updates its format and location) and
-- marks a load as running in the process named by host, pid and
-- pid_start. With @take_over it always does (Store.FeedStarted); without,
-- it does not take over a load running in another process: the row is
-- taken only when no load of the feed is running, the running load is
-- this process's (a retried start whose first try committed), or it is
-- the load the caller judged stale (its started_at and pid as the caller
-- read them). Otherwise no row: the caller waits for that load.
INSERT INTO feeds (name, format, location, last_status,
                   running_host, running_pid, running_pid_start, started_at, heartbeat_at)
VALUES (@name, @format, @location, 'running',
        @running_host, @running_pid, sqlc.narg(running_pid_start), now(), now())
ON CONFLICT (name) DO UPDATE SET
    format = excluded.format,
    location = excluded.location,
    last_status = 'running',
    running_host = excluded.running_host,
    running_pid = excluded.running_pid,
    running_pid_start = excluded.running_pid_start,
    started_at = excluded.started_at,
    heartbeat_at = excluded.heartbeat_at,
    updated_at = now()
WHERE @take_over::boolean
   OR feeds.last_status <> 'running'
   OR (feeds.running_host = excluded.running_host AND feeds.running_pid = excluded.running_pid
       AND feeds.running_pid_start IS NOT DISTINCT FROM excluded.running_pid_start)
   OR (feeds.started_at = sqlc.narg(stale_started_at)::timestamptz
       AND feeds.running_pid IS NOT DISTINCT FROM sqlc.narg(stale_pid)::integer)
RETURNING *;

-- name: FeedHeartbeat :execrows
-- FeedHeartbeat renews the sign of life of a load that is still running in
-- this process: the load this process started at started_at. It touches
-- nothing once the load has ended or another load (of another process, or
-- a later one of this process) has taken the feed over.
UPDATE feeds SET heartbeat_at = now()
WHERE name = @name
  AND last_status = 'running'
  AND running_host = @running_host
  AND running_pid = @running_pid
  AND running_pid_start IS NOT DISTINCT FROM sqlc.narg(running_pid_start)
  AND started_at = @started_at;

-- name: FeedLoadHeld :one
-- FeedLoadHeld reports whether the feed's bookkeeping still names the
-- load this process started at started_at as running (FeedHeartbeat's
-- condition): a load's writes ask it in their own transaction, so a load
-- another process took over as stale writes nothing more. The row is
-- locked FOR SHARE until that transaction ends: a takeover (FeedStartIf)
-- or the load's end (FeedFinish) waits for the write that found the load
-- holding the feed to commit, and a check made while a takeover is in
-- flight waits for it and reads the row it wrote. Without the lock a
-- takeover could commit between this answer and the write's COMMIT, and
-- both were stored.
SELECT EXISTS (
    SELECT 1 FROM feeds
    WHERE name = @name
      AND last_status = 'running'
      AND running_host = @running_host
      AND running_pid = @running_pid
      AND running_pid_start IS NOT DISTINCT FROM sqlc.narg(running_pid_start)::bigint
      AND started_at = @started_at
    FOR SHARE
)::boolean AS held;

-- name: FeedFinish :execrows
-- FeedFinish records the outcome of a load: its status, error, report and,
-- on success, the content hash it loaded and the mapping version that
-- made its records. A load skipped as unchanged
-- keeps the report and load time of the load that stored the content (it
-- wrote nothing: its own report is all zeros); updated_at says when it ran.
-- The outcome is recorded only while the bookkeeping is still the load's
-- own (compare-and-set): the load this process started at started_at
-- (running_host, running_pid, running_pid_start and started_at as
-- FeedStartIf wrote them), or, for an outcome of no load started (skipped,
-- or failed before it started: started_at NULL), while no load runs. A
-- load taken over as stale by another process that then resumes records
-- nothing (no row): the feed's bookkeeping is the other load's.
UPDATE feeds SET
    last_status = @status,
    last_error = @error,
    last_report = CASE WHEN @status = 'skipped' AND last_report <> '{}'::jsonb THEN last_report ELSE @report END,
    content_hash = CASE WHEN @status = 'ok' THEN @content_hash ELSE content_hash END,
    mapping = CASE WHEN @status = 'ok' THEN @mapping ELSE mapping END,
    last_loaded_at = CASE WHEN @status = 'ok' OR (@status = 'skipped' AND last_loaded_at IS NULL) THEN now() ELSE last_loaded_at END,
    updated_at = now()
WHERE name = @name
  AND CASE WHEN sqlc.narg(started_at)::timestamptz IS NULL THEN last_status <> 'running'
           ELSE running_host = @running_host
                AND running_pid = @running_pid
                AND running_pid_start IS NOT DISTINCT FROM sqlc.narg(running_pid_start)::bigint
                AND started_at = sqlc.narg(started_at)::timestamptz END;

-- name: FeedItemList :many
-- FeedItemList returns the per-item bookkeeping of a feed.
SELECT * FROM feed_items WHERE feed = @feed ORDER BY item;

-- name: FeedItemUpsert :exec
-- FeedItemUpsert records that one item of a feed was loaded with this
-- content, by this mapping version.
INSERT INTO feed_items (feed, item, content_hash, mapping, source_ts)
VALUES (@feed, @item, @content_hash, @mapping, @source_ts)
ON CONFLICT (feed, item) DO UPDATE SET
    content_hash = excluded.content_hash,
    mapping = excluded.mapping,
    source_ts = excluded.source_ts,
    loaded_at = now();

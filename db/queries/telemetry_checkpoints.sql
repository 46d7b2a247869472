-- name: TelemetryCheckpointStart :one
-- TelemetryCheckpointStart registers a telemetry input (or finds it) and
-- returns how far it has been loaded.
-- @bytes and @line_hashes describe the content (NULL when unknown); a
-- checkpoint without them (an older intel's) gets them.
INSERT INTO telemetry_checkpoints AS c (input, content_hash, bytes, line_hashes)
VALUES (@input, @content_hash, sqlc.narg('bytes'), sqlc.narg('line_hashes'))
ON CONFLICT (input, content_hash) DO UPDATE SET
    updated_at = now(),
    bytes = coalesce(c.bytes, excluded.bytes),
    line_hashes = coalesce(c.line_hashes, excluded.line_hashes)
RETURNING c.edges, c.rows_written, c.complete, c.seen_edges;

-- name: TelemetryCheckpointAdvance :one
-- TelemetryCheckpointAdvance moves an input's checkpoint from @from_edges to
-- @to_edges, in the transaction that COPYs those edges; it returns no row
-- when the checkpoint is no longer at @from_edges (that chunk was committed
-- already, or another load of the input runs).
UPDATE telemetry_checkpoints SET
    edges = @to_edges,
    rows_written = rows_written + @rows,
    updated_at = now()
WHERE input = @input AND content_hash = @content_hash AND edges = @from_edges
RETURNING edges;

-- name: TelemetryCheckpointGet :one
-- TelemetryCheckpointGet returns how far an input has been loaded.
SELECT edges, rows_written, complete, seen_edges FROM telemetry_checkpoints
WHERE input = @input AND content_hash = @content_hash;

-- name: TelemetryCheckpointComplete :exec
-- TelemetryCheckpointComplete marks an input loaded to its end, at @edges,
-- with the times of its records written (the load's last write of the
-- endpoint cache's pending times has committed).
UPDATE telemetry_checkpoints SET
    edges = greatest(edges, @edges),
    seen_edges = greatest(seen_edges, edges, @edges),
    complete = true,
    updated_at = now()
WHERE input = @input AND content_hash = @content_hash;

-- name: TelemetryCheckpointRestart :one
-- TelemetryCheckpointRestart registers a telemetry input, or starts its
-- checkpoint over (a forced reload), and returns it.
INSERT INTO telemetry_checkpoints AS c (input, content_hash)
VALUES (@input, @content_hash)
ON CONFLICT (input, content_hash) DO UPDATE SET
    edges = 0, rows_written = 0, complete = false, base_offset = 0, seen_edges = 0, updated_at = now()
RETURNING c.edges, c.rows_written, c.complete, c.seen_edges;

-- name: TelemetryCheckpointAdopt :exec
-- TelemetryCheckpointAdopt renames the checkpoint an input had under an
-- older name (@old_input) to @input, for the same content, unless @input
-- has a checkpoint of that content already.
UPDATE telemetry_checkpoints AS c SET input = @input, updated_at = now()
WHERE c.input = @old_input AND c.content_hash = @content_hash
  AND NOT EXISTS (SELECT 1 FROM telemetry_checkpoints n
                  WHERE n.input = @input AND n.content_hash = @content_hash);

-- name: TelemetryCheckpointLatest :one
-- TelemetryCheckpointLatest returns the checkpoint of an input touched
-- last: the content whose rows the input has stored.
SELECT content_hash, base_offset, bytes, edges, rows_written, complete, line_hashes, seen_edges
FROM telemetry_checkpoints
WHERE input = @input
ORDER BY updated_at DESC, created_at DESC
LIMIT 1;

-- name: TelemetryCheckpointBegin :one
-- TelemetryCheckpointBegin records a content of an input as planned
-- against the input's last checkpoint: its edges start at @base_offset
-- (the lines before are stored), @edges of them are stored already
-- (@seen_edges of those with their records' times written), and @complete
-- when nothing of it is left to load.
-- Only the input's last checkpoint is compared with, so the line hashes of
-- its other contents are dropped (a file appended to hourly would keep
-- one copy of its line hashes per load).
WITH older AS (
    UPDATE telemetry_checkpoints SET line_hashes = NULL
    WHERE input = @input AND content_hash <> @content_hash AND line_hashes IS NOT NULL
)
INSERT INTO telemetry_checkpoints AS c (input, content_hash, base_offset, bytes, line_hashes, edges, complete, seen_edges, updated_at)
VALUES (@input, @content_hash, @base_offset, @bytes, @line_hashes, @edges, @complete, least(@seen_edges::bigint, @edges), clock_timestamp())
ON CONFLICT (input, content_hash) DO UPDATE SET
    base_offset = excluded.base_offset, bytes = excluded.bytes, line_hashes = excluded.line_hashes,
    edges = excluded.edges, rows_written = 0, complete = excluded.complete, seen_edges = excluded.seen_edges,
    updated_at = clock_timestamp()
RETURNING c.edges, c.rows_written, c.complete, c.seen_edges;

-- name: TelemetryCheckpointSeen :exec
-- TelemetryCheckpointSeen records that the first/last seen of the records
-- named by an input's first @seen_edges edges are written (the endpoint
-- cache's pending times, flushed): a rerun after a cut reads the edges
-- past it again for their times. It never moves back, nor past edges.
UPDATE telemetry_checkpoints SET seen_edges = least(edges, greatest(seen_edges, @seen_edges))
WHERE input = @input AND content_hash = @content_hash AND seen_edges < @seen_edges;

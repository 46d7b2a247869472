-- name: PartitionEnsureDay :one
-- PartitionEnsureDay makes the child of a range-partitioned table for one
-- UTC day if it is missing, moving that day's rows out of the default
-- partition (see ensure_day_partition in the migrations). Run it in its own
-- transaction with a lock_timeout.
SELECT e.partition_name::text AS partition_name, e.created::boolean AS created, e.moved_rows::bigint AS moved_rows
FROM ensure_day_partition(sqlc.arg(parent)::text::regclass, sqlc.arg(day)::date) AS e;

-- name: PartitionList :many
-- PartitionList lists the partitions of a range-partitioned table (a name
-- that may be schema-qualified and quoted, as regclass reads it) with their
-- bounds read from the catalog, never from their names, oldest first. The
-- default partition is left out (see PartitionDefault). Row counts are the
-- planner's estimates (reltuples; -1 before the first ANALYZE).
SELECT
    n.nspname::text AS schema_name,
    c.relname::text AS table_name,
    (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz AS lower_bound,
    (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound,
    c.reltuples::bigint AS estimated_rows,
    pg_total_relation_size(c.oid)::bigint AS total_bytes
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.inhparent = sqlc.arg(parent)::text::regclass
  AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
ORDER BY lower_bound, table_name;

-- name: PartitionDefault :many
-- PartitionDefault returns the default partition of a partitioned table (no
-- row when it has none) with its planner estimates and size.
SELECT
    n.nspname::text AS schema_name,
    c.relname::text AS table_name,
    c.reltuples::bigint AS estimated_rows,
    pg_total_relation_size(c.oid)::bigint AS total_bytes
FROM pg_catalog.pg_partitioned_table p
JOIN pg_catalog.pg_class c ON c.oid = p.partdefid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE p.partrelid = sqlc.arg(parent)::text::regclass;

-- name: TelemetryDefaultDays :many
-- TelemetryDefaultDays counts the rows waiting in telemetry_edges_default by
-- the UTC day they belong to.
SELECT (observed_at AT TIME ZONE 'UTC')::date AS day, count(*)::bigint AS row_count
FROM telemetry_edges_default
GROUP BY 1
ORDER BY 1;

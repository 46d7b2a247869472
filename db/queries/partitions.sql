-- name: PartitionEnsureDay :one
-- PartitionEnsureDay makes the child of a range-partitioned table for one
-- UTC day if it is missing, moving that day's rows out of the default
-- partition (see ensure_day_partition in the migrations). Run it in its own
-- transaction with a lock_timeout.
SELECT e.partition_name::text AS partition_name, e.created::boolean AS created, e.moved_rows::bigint AS moved_rows
FROM ensure_day_partition(sqlc.arg(parent)::text::regclass, sqlc.arg(day)::date) AS e;

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

-- name: PartitionParent :one
-- PartitionParent describes a table partitioned by range on one column (a
-- name that may be schema-qualified and quoted, as regclass reads it): its
-- schema and name and its partition key column and type. No row when the
-- table is not partitioned that way.
SELECT
    n.nspname::text AS schema_name,
    c.relname::text AS table_name,
    a.attname::text AS key_column,
    format_type(a.atttypid, a.atttypmod)::text AS key_type
FROM pg_catalog.pg_partitioned_table p
JOIN pg_catalog.pg_class c ON c.oid = p.partrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
WHERE p.partrelid = sqlc.arg(parent)::text::regclass
  AND p.partstrat = 'r'
  AND p.partnatts = 1;

-- name: PartitionChildren :many
-- PartitionChildren lists the partitions of a range-partitioned table, the
-- default partition left out, with their bounds read from the catalog (never
-- from their names), oldest first. Unlike PartitionList it keeps partitions
-- bounded by MINVALUE or MAXVALUE: bounds is a range, unbounded on that
-- side; bound is the catalog's own text (FOR VALUES ...). Row counts are
-- the planner's estimates (reltuples; -1 before the first VACUUM or ANALYZE).
SELECT
    n.nspname::text AS schema_name,
    c.relname::text AS table_name,
    pg_get_expr(c.relpartbound, c.oid)::text AS bound,
    tstzrange(
        (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\)'))[1]::timestamptz,
        (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz,
        '[)') AS bounds,
    c.reltuples::bigint AS estimated_rows,
    pg_total_relation_size(c.oid)::bigint AS total_bytes
FROM pg_catalog.pg_inherits i
JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE i.inhparent = sqlc.arg(parent)::text::regclass
  AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
ORDER BY bounds, table_name;

-- name: PartitionPrivileges :one
-- PartitionPrivileges says whether the current role may keep the partitions
-- of a table: it has the privileges of the table's owner (creating and
-- attaching children needs them) and may create tables in its schema.
SELECT
    pg_has_role(c.relowner, 'USAGE')::boolean AS owns,
    has_schema_privilege(c.relnamespace, 'CREATE')::boolean AS can_create
FROM pg_catalog.pg_class c
WHERE c.oid = sqlc.arg(parent)::text::regclass;

-- name: RetentionGet :many
-- RetentionGet returns the retention the last prune of a table recorded (no
-- row when it was never pruned).
SELECT keep_seconds, mode, cutoff, late_rows
FROM partition_retention
WHERE parent = sqlc.arg(parent);

-- name: RetentionSet :exec
-- RetentionSet records the retention a prune applied.
INSERT INTO partition_retention (parent, keep_seconds, mode, cutoff, late_rows)
VALUES (sqlc.arg(parent), sqlc.arg(keep_seconds), sqlc.arg(mode), sqlc.arg(cutoff), sqlc.arg(late_rows))
ON CONFLICT (parent) DO UPDATE
SET keep_seconds = EXCLUDED.keep_seconds, mode = EXCLUDED.mode, cutoff = EXCLUDED.cutoff,
    late_rows = EXCLUDED.late_rows, pruned_at = now();

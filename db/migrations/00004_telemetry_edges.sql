-- +goose Up
CREATE TABLE telemetry_edges (
    src_id      uuid        NOT NULL,
    dst_id      uuid        NOT NULL,
    relation    text        NOT NULL CHECK (relation <> ''),
    agent_id    text        NOT NULL CHECK (agent_id <> ''),
    observed_at timestamptz NOT NULL,
    props       jsonb       NOT NULL DEFAULT '{}'::jsonb
) PARTITION BY RANGE (observed_at);

-- Rows for a day that has no child yet land here; ensure_day_partition moves
-- them into the child when it is made, so none are stranded.
CREATE TABLE telemetry_edges_default PARTITION OF telemetry_edges DEFAULT;

-- Declared on the parent: every child gets them when it is attached.
CREATE INDEX telemetry_edges_src_idx ON telemetry_edges (src_id, observed_at);
CREATE INDEX telemetry_edges_dst_idx ON telemetry_edges (dst_id, observed_at);

COMMENT ON TABLE telemetry_edges IS 'What endpoint agents observed (process wrote file, host contacted IP, ...). Append-only, range-partitioned by observed_at into one child per UTC day named telemetry_edges_YYYY_MM_DD, plus telemetry_edges_default.';
COMMENT ON COLUMN telemetry_edges.src_id IS 'Node the observation starts from (nodes.id; not a foreign key, the writer upserts it first).';
COMMENT ON COLUMN telemetry_edges.dst_id IS 'Node the observation points to (nodes.id; not a foreign key, the writer upserts it first).';
COMMENT ON COLUMN telemetry_edges.agent_id IS 'Reporting agent. Part of every future unique key so the table can be distributed by agent.';
COMMENT ON COLUMN telemetry_edges.observed_at IS 'When the agent observed it; the partition key, bucketed by UTC day whatever the session TimeZone.';
COMMENT ON TABLE telemetry_edges_default IS 'Default partition: rows whose UTC day has no child. Normally empty; reported by intel partitions check and emptied by ensure_day_partition.';

-- ensure_day_partition makes the child of p_parent for the UTC day p_day, if
-- it does not exist, in the caller's transaction:
--   * bounds are [p_day 00:00 UTC, p_day+1 00:00 UTC) whatever the session TimeZone;
--   * identifiers are quoted with format('%I'), so any parent name works;
--   * concurrent callers for the same child serialize on a transaction-scoped
--     advisory lock, and the loser sees the child and returns created = false;
--   * the child is created stand-alone, filled with the rows of that day that
--     wait in the default partition, and then attached, which takes only a
--     SHARE UPDATE EXCLUSIVE lock on the parent (readers and inserters of other
--     days keep going). Callers bound the wait for the default partition's lock
--     with SET LOCAL lock_timeout.
-- +goose StatementBegin
CREATE FUNCTION ensure_day_partition(
    p_parent regclass,
    p_day date,
    OUT partition_name text,
    OUT created boolean,
    OUT moved_rows bigint
)
LANGUAGE plpgsql AS $$
DECLARE
    v_schema  text;
    v_table   text;
    v_key     text;
    v_default regclass;
    v_lo      timestamptz := p_day::timestamp AT TIME ZONE 'UTC';
    v_hi      timestamptz := (p_day + 1)::timestamp AT TIME ZONE 'UTC';
    v_check   text;
    v_owner   oid;
BEGIN
    IF p_day IS NULL THEN
        RAISE EXCEPTION 'ensure_day_partition: day must not be NULL';
    END IF;

    SELECT n.nspname, c.relname INTO v_schema, v_table
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = p_parent;

    SELECT a.attname, NULLIF(p.partdefid, 0)::regclass INTO v_key, v_default
    FROM pg_partitioned_table p
    JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0]
    WHERE p.partrelid = p_parent AND p.partstrat = 'r' AND p.partnatts = 1;
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'ensure_day_partition: % is not a table partitioned by range on one column', p_parent;
    END IF;

    partition_name := v_table || '_' || to_char(p_day, 'YYYY_MM_DD');
    IF octet_length(partition_name) > 63 THEN
        RAISE EXCEPTION 'ensure_day_partition: partition name % is longer than 63 bytes', partition_name;
    END IF;
    created := false;
    moved_rows := 0;

    PERFORM pg_advisory_xact_lock(hashtextextended(v_schema || '.' || partition_name, 0));

    SELECT c.oid INTO v_owner
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = v_schema AND c.relname = partition_name;
    IF v_owner IS NOT NULL THEN
        IF EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = v_owner AND inhparent = p_parent) THEN
            RETURN;
        END IF;
        RAISE EXCEPTION 'ensure_day_partition: %.% exists but is not a partition of %',
            quote_ident(v_schema), quote_ident(partition_name), p_parent;
    END IF;

    -- Take the default partition's lock first, in the mode ATTACH needs, so
    -- no row of this day can slip into it between the move and the attach.
    IF v_default IS NOT NULL THEN
        EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', v_default);
    END IF;

    EXECUTE format(
        'CREATE TABLE %I.%I (LIKE %s INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)',
        v_schema, partition_name, p_parent);

    -- A constraint matching the bounds lets ATTACH skip scanning the child.
    v_check := left(partition_name, 50) || '_bounds';
    EXECUTE format('ALTER TABLE %I.%I ADD CONSTRAINT %I CHECK (%I IS NOT NULL AND %I >= %L AND %I < %L)',
        v_schema, partition_name, v_check, v_key, v_key, v_lo, v_key, v_hi);

    IF v_default IS NOT NULL THEN
        EXECUTE format(
            'WITH moved AS (DELETE FROM %s WHERE %I >= $1 AND %I < $2 RETURNING *) INSERT INTO %I.%I SELECT * FROM moved',
            v_default, v_key, v_key, v_schema, partition_name)
        USING v_lo, v_hi;
        GET DIAGNOSTICS moved_rows = ROW_COUNT;
    END IF;

    EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
        p_parent, v_schema, partition_name, v_lo, v_hi);
    EXECUTE format('ALTER TABLE %I.%I DROP CONSTRAINT %I', v_schema, partition_name, v_check);
    created := true;
END
$$;
-- +goose StatementEnd

COMMENT ON FUNCTION ensure_day_partition(regclass, date) IS 'Creates the child of a range-partitioned table for one UTC day (name <parent>_YYYY_MM_DD) if missing, moving that day''s rows out of the default partition; idempotent and safe under concurrency.';

-- +goose Down
DROP FUNCTION ensure_day_partition(regclass, date);
DROP TABLE telemetry_edges;

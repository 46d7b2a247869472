-- +goose Up
-- The retention partman prunes by, recorded by every prune so that writers,
-- which may not prune, know which days are gone: the day partition maker
-- refuses the days before now - keep instead of re-creating a pruned day.
-- No role is created here: `intel roles create` does that, for release
-- pipelines whose migrating user may not create roles.
CREATE TABLE partition_retention (
    parent       text        PRIMARY KEY CHECK (parent <> ''),
    keep_seconds bigint      NOT NULL CHECK (keep_seconds > 0),
    mode         text        NOT NULL CHECK (mode IN ('drop', 'detach')),
    cutoff       timestamptz NOT NULL,
    late_rows    text        NOT NULL DEFAULT 'drop' CHECK (late_rows IN ('drop', 'keep')),
    pruned_at    timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE partition_retention IS 'Retention of a day-partitioned table as the last prune applied it: rows older than now - keep are refused at ingest and removed by prune.';
COMMENT ON COLUMN partition_retention.parent IS 'The partitioned table, schema-qualified as partman prints it (public.telemetry_edges).';
COMMENT ON COLUMN partition_retention.keep_seconds IS 'How long rows are kept: days before the UTC day of now - keep are pruned and refused.';
COMMENT ON COLUMN partition_retention.cutoff IS 'now - keep at the last prune.';
COMMENT ON COLUMN partition_retention.late_rows IS 'What writers do with rows past retention: drop them (counted), or keep them in the default partition (counted) for the next prune.';

-- +goose Down
DROP TABLE partition_retention;

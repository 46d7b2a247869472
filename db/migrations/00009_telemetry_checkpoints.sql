-- +goose Up
CREATE TABLE telemetry_checkpoints (
    input        text        NOT NULL CHECK (input <> ''),
    content_hash text        NOT NULL,
    edges        bigint      NOT NULL DEFAULT 0 CHECK (edges >= 0),
    rows_written bigint      NOT NULL DEFAULT 0 CHECK (rows_written >= 0),
    complete     boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (input, content_hash)
);

COMMENT ON TABLE telemetry_checkpoints IS 'How far each telemetry input has been loaded, so a load cut short (SIGKILL, server restart) and run again writes each edge exactly once. Advanced in the transaction that COPYs each chunk.';
COMMENT ON COLUMN telemetry_checkpoints.input IS 'The input''s identity: "feed:<name>" for a feed of intel ingest feeds, "file:<absolute path>" for intel ingest telemetry FILE.';
COMMENT ON COLUMN telemetry_checkpoints.content_hash IS 'SHA-256 (hex) of the input''s content: changed content is a new input.';
COMMENT ON COLUMN telemetry_checkpoints.edges IS 'How many edges of the input, in input order (the edges its lines map to, dropped ones included), are durable: a rerun skips them.';
COMMENT ON COLUMN telemetry_checkpoints.rows_written IS 'Rows those edges wrote to telemetry_edges (the edges less the ones dropped).';
COMMENT ON COLUMN telemetry_checkpoints.complete IS 'The whole input was loaded.';

-- +goose Down
DROP TABLE telemetry_checkpoints;

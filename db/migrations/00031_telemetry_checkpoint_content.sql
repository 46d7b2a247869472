-- +goose Up
-- A telemetry file's checkpoint recognises what was loaded by content, not
-- only by the hash of the whole file: a file appended to loads only its new
-- lines, one truncated to a prefix of what was loaded loads nothing, and
-- one rewritten loads from its first changed line.
ALTER TABLE telemetry_checkpoints
    ADD COLUMN base_offset bigint NOT NULL DEFAULT 0 CHECK (base_offset >= 0),
    ADD COLUMN bytes       bigint CHECK (bytes >= 0),
    ADD COLUMN line_hashes bytea;

CREATE INDEX telemetry_checkpoints_latest ON telemetry_checkpoints (input, updated_at DESC);

COMMENT ON COLUMN telemetry_checkpoints.base_offset IS 'Byte offset in the content where this checkpoint''s edges start: the lines before it, the same as in the content an earlier load of the input stored, are stored already. edges counts from here.';
COMMENT ON COLUMN telemetry_checkpoints.bytes IS 'Length of the content content_hash covers (the bytes a load reads; lines appended later are a new content); NULL for checkpoints of intel before 00031.';
COMMENT ON COLUMN telemetry_checkpoints.line_hashes IS 'FNV-64a (8 bytes, big-endian) of each line of the content, its newline included, in order: a rerun compares the file''s lines with them to find what is already stored. Kept for the input''s last content only (a new content''s checkpoint drops the others''); NULL before 00031.';

-- +goose Down
DROP INDEX telemetry_checkpoints_latest;
ALTER TABLE telemetry_checkpoints DROP COLUMN line_hashes, DROP COLUMN bytes, DROP COLUMN base_offset;

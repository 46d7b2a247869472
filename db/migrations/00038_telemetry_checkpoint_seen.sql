-- +goose Up
-- A telemetry load cut short (SIGKILL, a crash, the server's death) may
-- leave unwritten the first/last seen its endpoint cache kept pending for
-- records it had written already: edges past `edges` are loaded by the
-- rerun, but the times carried by the stored edges were lost with the
-- process. seen_edges says how many of the stored edges have their
-- records' times written too; a rerun reads the edges between seen_edges
-- and edges again for those times alone (no row is COPYed twice).
-- Checkpoints made before it are taken as written through (their edges).
ALTER TABLE telemetry_checkpoints ADD COLUMN seen_edges bigint NOT NULL DEFAULT 0 CHECK (seen_edges >= 0);
UPDATE telemetry_checkpoints SET seen_edges = edges;

COMMENT ON COLUMN telemetry_checkpoints.seen_edges IS 'How many of the stored edges (counted as edges is, at most edges) have the first/last seen of their endpoint nodes and implied records written as well: moved on after each write of the endpoint cache''s pending times, and to edges when a load completes. A rerun reads the edges from seen_edges to edges again for their records'' times only.';

-- +goose Down
ALTER TABLE telemetry_checkpoints DROP COLUMN seen_edges;

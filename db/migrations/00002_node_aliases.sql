-- +goose Up
CREATE TABLE node_aliases (
    source_id  text        PRIMARY KEY,
    node_id    uuid        NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    source     text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX node_aliases_node_id_idx ON node_aliases (node_id);

COMMENT ON TABLE node_aliases IS 'Maps every identifier a source used for an entity (STIX id, MISP uuid) to the merged node, so relationships that name the source id resolve to it.';
COMMENT ON COLUMN node_aliases.source_id IS 'The identifier as the source wrote it, e.g. indicator--8e2e2d2b-... or misp-attribute--<uuid>.';
COMMENT ON COLUMN node_aliases.source IS 'The feed that last mapped this identifier.';

-- +goose Down
DROP TABLE node_aliases;

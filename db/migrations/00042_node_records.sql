-- +goose Up
-- A node's name, props, labels, confidence and TLP were merged key by key
-- from every record ever loaded for it, so after an upgrade (ATT&CK T1485
-- as release 1.1, then 1.4) props keys, labels and a TLP marking only the
-- older version of one source object had stayed on the node. node_records
-- keeps, for a node that has at least one versioned record (one source
-- object in one version, graph.RecordSource: the notion source_versions
-- keeps), one record per source object at that object's newest version,
-- and one record ('') of everything else written to the node (copies
-- without a single version: telemetry, observables, MISP attributes, and
-- what the node held before its first versioned record). A newer version
-- replaces its object's record and the node's name, props, labels,
-- confidence and TLP are merged again from its records; an older version
-- changes none of them. Nodes without a versioned record have no rows here
-- and are written as before (nodes.recorded false: NodeUpsertMany alone).
-- Times, sources, kind and key still merge over every record.
ALTER TABLE nodes ADD COLUMN recorded boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN nodes.recorded IS 'Whether node_records holds this node''s records (it has had a versioned record): its name, props, labels, confidence and TLP are then the merge of its records (migration 00042).';

CREATE TABLE node_records (
    node_id         uuid        NOT NULL,
    source_id       text        NOT NULL,
    version         timestamptz NOT NULL,
    name            text        NOT NULL DEFAULT '',
    name_rank       text COLLATE "C" NOT NULL DEFAULT '',
    props           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    props_rank      text COLLATE "C" NOT NULL DEFAULT '',
    props_key_ranks jsonb       NOT NULL DEFAULT '{}'::jsonb,
    labels          text[]      NOT NULL DEFAULT '{}',
    confidence      smallint,
    tlp             text,
    replaced        boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (node_id, source_id)
);
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        ALTER TABLE node_records ALTER COLUMN props SET COMPRESSION lz4;
    END IF;
END
$$;
-- +goose StatementEnd

COMMENT ON TABLE node_records IS 'For a node that has had a versioned record (nodes.recorded), its record of each source object at the newest version of that object, and (source_id '''') the merge of everything else written to it. The node''s name, props, labels, confidence and TLP are the merge of its records (graph.MergeNode); a newer version replaces its object''s record (migration 00042).';
COMMENT ON COLUMN node_records.source_id IS 'The one source object (graph.RecordSource) the record comes from, or '''' for records with no version or several and for what the node held before its first versioned record.';
COMMENT ON COLUMN node_records.version IS 'The newest version of the object written to this node; 0001-01-01 UTC (graph time zero) for the '''' record.';
COMMENT ON COLUMN node_records.replaced IS 'Whether the last write replaced an older version (NodeRecordUpsertMany returns it); bookkeeping, not part of the graph.';

-- +goose StatementBegin
CREATE FUNCTION node_records_of_deleted_nodes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM node_records r USING gone g WHERE r.node_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER nodes_delete_node_records AFTER DELETE ON nodes
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION node_records_of_deleted_nodes();
COMMENT ON FUNCTION node_records_of_deleted_nodes() IS 'Deletes the node_records of deleted nodes (migration 00042).';

-- +goose Down
DROP TRIGGER nodes_delete_node_records ON nodes;
DROP FUNCTION node_records_of_deleted_nodes();
DROP TABLE node_records;
ALTER TABLE nodes DROP COLUMN recorded;

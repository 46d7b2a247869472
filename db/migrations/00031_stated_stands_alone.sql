-- +goose Up
-- A relation record one source states on its own (a STIX relationship
-- object, a copy of an object without a version, a MISP event whose
-- timestamp comes after its attributes) and another states through an
-- older version of an object is a link a source still gives. It was
-- written with a NULL stated, which stated_merge took as nothing: the
-- record kept only the object's version, and the object's newer version
-- that no longer states the link superseded it, in one load order only.
-- The store now writes such a record with the entry {"": "infinity"}
-- (graph.StandsAlone): no object has the empty id in source_versions, so
-- stated_merge keeps the entry through every merge and stated_superseded
-- is false for the record. NULL is left to records written before
-- migration 00030 (versioned by the first load that states them).
COMMENT ON COLUMN relation_records.stated IS 'Objects (by id) that stated this record through their own properties, each with the newest version of it that did: {"<id>": "<time>"}; the entry {"": "infinity"} when a source states it on its own (never superseded); NULL for records written before migration 00030.';
COMMENT ON COLUMN pending_relations.stated IS 'As relation_records.stated; a pending record that only older versions state is deleted.';

-- +goose Down
COMMENT ON COLUMN relation_records.stated IS 'Objects (by id) that stated this record through their own properties, each with the newest version of it that did: {"<id>": "<time>"}; NULL when the relation stands on its own (never superseded).';

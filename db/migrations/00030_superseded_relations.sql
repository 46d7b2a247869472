-- +goose Up
-- A newer version of an object supersedes the relations an older version
-- stated through its own properties and the newer one no longer states.
-- Until now relations were only ever added: a technique moved to another
-- tactic in a newer ATT&CK release kept the old tactic, a report whose
-- object_refs lost an object, an indicator whose pattern changed, and a
-- MISP event reloaded after an attribute was deleted or changed kept the
-- old links, which a walk then showed as if a source still said them.
--
-- source_versions keeps the newest version seen of each such object (the
-- mappers' graph.Node.Versions: STIX modified, a MISP event's timestamp),
-- by the object's own id (a STIX id, misp--<uuid>): not by its node, which
-- objects of several sources may share (a vendor's intrusion set and
-- ATT&CK's of one name), each with versions of its own. Each relation record
-- keeps, in stated, the objects that stated it and the newest version of
-- each that did ({"<id>": "<time>"}, graph.Relation.StatedBy). A record a
-- source states on its own (a STIX relationship object, telemetry, a copy
-- of an object without a version, a MISP event's links made before its
-- timestamp is read) has the entry {"": "infinity"} (graph.StandsAlone):
-- no object has the empty id here, so stated_merge keeps it through every
-- merge and the record is never superseded, also when an object states it
-- too. Records written before this migration have NULL, which merges as
-- nothing (the first versions that state them version them). A record is
-- superseded when every
-- object that stated it has a newer version (stated_superseded); it is
-- kept, feeds no relation (relations merge the records that are not), and
-- comes back when a newer version states it again. The store serialises the
-- writes of one object's versions and of what they state (the object's row
-- here, locked by the batch's transaction before it writes relations;
-- store.writeMerged), so the outcome does not depend on the order or
-- concurrency of loads.
CREATE TABLE source_versions (
    source_id text        PRIMARY KEY,
    version   timestamptz NOT NULL,
    nodes     uuid[]      NOT NULL DEFAULT '{}'
);
COMMENT ON TABLE source_versions IS 'Newest version (STIX modified, MISP event timestamp) seen of each source object that states relations through its own properties, by its id; relation records only older versions stated are superseded.';
COMMENT ON COLUMN source_versions.nodes IS 'The nodes the object''s versions came with or stated relations from (a renamed name-keyed object has a node per name): where RelationSupersede looks for its records, by relation_records_key_idx, with no index on stated to keep up.';

ALTER TABLE relation_records
    ADD COLUMN stated     jsonb,
    ADD COLUMN superseded boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN relation_records.stated IS 'Objects (by id) that stated this record through their own properties, each with the newest version of it that did: {"<id>": "<time>"}; the entry {"": "infinity"} when a source states it on its own (never superseded); NULL for records written before migration 00030.';
COMMENT ON COLUMN relation_records.superseded IS 'stated_superseded(stated): every object that stated the record has a newer version, which does not; it feeds no relation.';

ALTER TABLE pending_relations ADD COLUMN stated jsonb;
COMMENT ON COLUMN pending_relations.stated IS 'As relation_records.stated; a pending record that only older versions state is deleted.';

-- stated_merge merges two stated maps: the union of the ids, each with its
-- latest time (graph.LatestVersions). Times are written by the store in one
-- fixed UTC format, so their text order is their time order.
-- +goose StatementBegin
CREATE FUNCTION stated_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN a IS NULL OR a = '{}'::jsonb THEN b
        WHEN b IS NULL OR b = '{}'::jsonb OR a @> b THEN a
        WHEN b @> a THEN b
        ELSE (SELECT jsonb_object_agg(x.k, x.v ORDER BY x.k)
              FROM (SELECT e.key AS k, max(e.value #>> '{}' COLLATE "C") AS v
                    FROM (SELECT * FROM jsonb_each(a) UNION ALL SELECT * FROM jsonb_each(b)) AS e
                    GROUP BY e.key) AS x)
    END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_merge(jsonb, jsonb) IS 'Union of two stated maps ({"<id>": "<time>"}), each id with its latest time.';

CREATE AGGREGATE stated_merge_agg(jsonb) (SFUNC = stated_merge, STYPE = jsonb);
COMMENT ON AGGREGATE stated_merge_agg(jsonb) IS 'stated_merge over rows.';

-- +goose StatementBegin
CREATE FUNCTION stated_superseded(stated jsonb) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(stated <> '{}'::jsonb, false)
       AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(stated) AS e
                       WHERE NOT EXISTS (SELECT 1 FROM source_versions v
                                         WHERE v.source_id = e.key AND v.version > e.value::timestamptz))
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_superseded(jsonb) IS 'True when every object in a stated map has a newer version in source_versions than the one that stated the record.';

-- +goose Down
DROP FUNCTION stated_superseded(jsonb);
DROP AGGREGATE stated_merge_agg(jsonb);
DROP FUNCTION stated_merge(jsonb, jsonb);
ALTER TABLE pending_relations DROP COLUMN stated;
ALTER TABLE relation_records DROP COLUMN superseded, DROP COLUMN stated;
DROP TABLE source_versions;

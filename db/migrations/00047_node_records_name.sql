-- +goose Up
-- Search by a name a source gives a node that is not the node's name
-- (NodeRecordNamed: a producer's "Log4Shell" that lost the name to the CVE
-- id, migration 00046) probes node_records by the lower-cased, trimmed
-- name. A sequential scan of node_records took 24-45 ms a search for the
-- 6,315 records of the ATT&CK enterprise synthetic (14 MB: records hold
-- their props), growing with every feed loaded. A hash index: names are
-- not bounded (a MISP yara or sigma attribute's indicator is named by its
-- rule, kilobytes long), and a btree refuses an entry over 2,704 bytes,
-- which would refuse the record; a hash index keeps a 4-byte hash of any
-- value, and equality is all the probe asks.
CREATE INDEX node_records_name_idx ON node_records USING hash (lower(btrim(name))) WHERE name <> '';

-- +goose Down
DROP INDEX node_records_name_idx;

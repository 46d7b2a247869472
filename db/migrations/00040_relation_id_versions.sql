-- +goose Up
-- A relationship id given by copies of the relationship that name other
-- ends (OpenCTI's client-python test bundles give relationship--10e8c71d…
-- as malware part-of malware without a version, and as identity part-of
-- identity and x-mitre-asset part-of identity, both modified
-- 2020-02-23T23:40:53.582Z) named in relation_ids whichever copy the
-- rules of the moment let through last: a copy without a version after
-- one with it replaced it when its references sorted first, and one
-- order of the corpus gave another row than the other. relation_ids now
-- keeps the version of the copy it names, and one rule, in the upsert,
-- picks the row: the newest version, a copy with a version before one
-- without, then the smallest references (relation_ids_pick), so any order
-- and any interleaving of writers give the same row. Rows written before
-- have no version: the next copy with one replaces them.
ALTER TABLE relation_ids ADD COLUMN version timestamptz;

COMMENT ON COLUMN relation_ids.version IS 'The version (a STIX relationship''s modified) of the copy of the relationship this row names; NULL for a copy without one (a MISP object reference, a STIX relationship without modified) and for rows written before migration 00040. The newest version wins, then a versioned copy over an unversioned one, then the smallest (relation, src_ref, dst_ref, non-empty source, source).';

-- +goose Down
ALTER TABLE relation_ids DROP COLUMN version;

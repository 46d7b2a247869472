-- +goose Up
-- An unchanged feed was skipped by its content hash alone, so after an
-- upgrade that maps records differently (a MISP object that is now an
-- indicator, a relationship type now normalised) the graph kept what the
-- older intel had made of the feed until someone thought of --force.
-- mapping records which mapping of the feed's format made the stored
-- records (stix.MappingVersion, misp.MappingVersion); a feed (or a MISP
-- feed directory's event) is skipped only when both its content and its
-- mapping are unchanged. Rows loaded before this migration have '' and are
-- loaded again on their next run.
ALTER TABLE feeds ADD COLUMN mapping text NOT NULL DEFAULT '';
ALTER TABLE feed_items ADD COLUMN mapping text NOT NULL DEFAULT '';

COMMENT ON COLUMN feeds.mapping IS 'The mapping version of the feed''s format (stix.MappingVersion, misp.MappingVersion) that made the stored records at the last successful load; '''' before migration 00039 and for telemetry. A feed is skipped as unchanged only when its content hash and this both match.';
COMMENT ON COLUMN feed_items.mapping IS 'The mapping version that loaded this item (a MISP feed directory''s event); the item is skipped only when its content hash and this both match.';

-- +goose Down
ALTER TABLE feed_items DROP COLUMN mapping;
ALTER TABLE feeds DROP COLUMN mapping;

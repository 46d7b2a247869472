-- +goose Up
-- A report, grouping, note, opinion or sighting whose object_refs or
-- sighting_of_ref name a relationship id is written as links to that
-- relationship's ends (expandKnownRelationRefs, PendingRelationExpand). A
-- newer version of the relationship that names other ends (relation_ids
-- then names them) left those links at the old ends: the link naming the
-- relationship was gone once expanded, and nothing in a record said which
-- of its statements came through the relationship.
--
-- relation_id_refs keeps each link that named a known relationship id as
-- the feed wrote it (merged per key as pending_relations is), so a change
-- of the ends relation_ids names expands it again to the new ends. The
-- records an expansion writes are stated by "<object> via <relationship
-- id>" (stated_via; "<object> via <id> via <id>" when the ends were
-- relationships in turn): when the ends change, those keys are taken out
-- of the records at the old ends (a record left stating nothing is
-- deleted: it was only that expansion) before the links are expanded
-- again. stated_superseded reads a via key as its object's: a newer
-- version of the object that no longer names the relationship supersedes
-- it as it would a direct link.
CREATE TABLE relation_id_refs (
    src_ref         text        NOT NULL,
    relation        text        NOT NULL CHECK (relation <> ''),
    dst_ref         text        NOT NULL,
    confidence      smallint             CHECK (confidence BETWEEN 0 AND 100),
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    timed           boolean     NOT NULL DEFAULT true,
    sources         text[]      NOT NULL DEFAULT '{}',
    props           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    props_rank      text COLLATE "C" NOT NULL DEFAULT '',
    props_key_ranks jsonb       NOT NULL DEFAULT '{}'::jsonb,
    stated          jsonb,
    PRIMARY KEY (src_ref, relation, dst_ref)
);
CREATE INDEX relation_id_refs_dst_ref_idx ON relation_id_refs (dst_ref);
COMMENT ON TABLE relation_id_refs IS 'Links that named a known relationship id as an end (a report''s object_refs, a sighting''s sighting_of_ref), as the feed wrote them, merged per key: expanded again to the new ends when the relationship''s newest version names other ends.';

-- stated_via is the stated map of a link expanded through the
-- relationship id via: each object's key suffixed " via <id>" (a map
-- standing alone, or NULL, as the empty object's).
-- +goose StatementBegin
CREATE FUNCTION stated_via(stated jsonb, via text) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_object_agg(e.key || ' via ' || via, e.value)
    FROM jsonb_each(CASE WHEN stated IS NULL OR stated = '{}'::jsonb THEN '{"": "infinity"}'::jsonb ELSE stated END) AS e
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_via(jsonb, text) IS 'The stated map of a link expanded through relationship id via: each key suffixed " via <id>".';

-- stated_unvia is stated without the keys of expansions through any of
-- ids ("... via <id>" or "... via <id> via ..."); NULL when none is left.
-- +goose StatementBegin
CREATE FUNCTION stated_unvia(stated jsonb, ids text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_object_agg(e.key, e.value)
    FROM jsonb_each(stated) AS e
    WHERE NOT EXISTS (SELECT 1 FROM unnest(ids) AS i(id) WHERE position(' via ' || i.id || ' ' IN e.key || ' ') > 0)
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_unvia(jsonb, text[]) IS 'stated without the keys of expansions through the relationship ids; NULL when none is left.';

-- stated_names: the object id states the record, directly or through a
-- relationship (RelationSupersede, PendingLockStated).
-- +goose StatementBegin
CREATE FUNCTION stated_names(stated jsonb, id text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (stated -> id) IS NOT NULL
        OR EXISTS (SELECT 1 FROM jsonb_object_keys(stated) AS k WHERE starts_with(k, id || ' via '))
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_names(jsonb, text) IS 'The object id states the record, directly or through a relationship ("<id> via ...").';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stated_superseded(stated jsonb) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(stated <> '{}'::jsonb, false)
       AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(stated) AS e
                       WHERE NOT EXISTS (SELECT 1 FROM source_versions v
                                         WHERE v.source_id = split_part(e.key, ' via ', 1) AND v.version > e.value::timestamptz))
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_superseded(jsonb) IS 'True when every object in a stated map (a key "<id> via <relationship id>" is its object''s) has a newer version in source_versions than the one that stated the record.';

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stated_superseded(stated jsonb) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(stated <> '{}'::jsonb, false)
       AND NOT EXISTS (SELECT 1 FROM jsonb_each_text(stated) AS e
                       WHERE NOT EXISTS (SELECT 1 FROM source_versions v
                                         WHERE v.source_id = e.key AND v.version > e.value::timestamptz))
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_superseded(jsonb) IS 'True when every object in a stated map has a newer version in source_versions than the one that stated the record.';
DROP FUNCTION stated_names(jsonb, text);
DROP FUNCTION stated_unvia(jsonb, text[]);
DROP FUNCTION stated_via(jsonb, text);
DROP TABLE relation_id_refs;

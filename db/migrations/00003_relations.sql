-- +goose Up
CREATE TABLE relations (
    src_id     uuid        NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    relation   text        NOT NULL CHECK (relation <> ''),
    dst_id     uuid        NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    confidence smallint             CHECK (confidence BETWEEN 0 AND 100),
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    sources    text[]      NOT NULL DEFAULT '{}',
    props      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (src_id, relation, dst_id),
    CONSTRAINT relations_seen_order CHECK (first_seen <= last_seen)
);
-- The primary key serves walks from src; this index serves walks from dst.
CREATE INDEX relations_dst_idx ON relations (dst_id, relation, src_id);

COMMENT ON TABLE relations IS 'Intelligence relationships from feeds (indicates, attributed-to, uses, based-on, sighting-of, ...): one row per (src, relation, dst), upserted.';
COMMENT ON COLUMN relations.relation IS 'Relationship type as STIX names it (relationship_type), lower-case.';
COMMENT ON COLUMN relations.confidence IS 'Highest confidence (0-100) any source gave; NULL when none said.';
COMMENT ON COLUMN relations.sources IS 'Sorted set of the feeds that reported the relationship.';

CREATE TABLE pending_relations (
    src_ref    text        NOT NULL,
    relation   text        NOT NULL CHECK (relation <> ''),
    dst_ref    text        NOT NULL,
    confidence smallint             CHECK (confidence BETWEEN 0 AND 100),
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen  timestamptz NOT NULL DEFAULT now(),
    sources    text[]      NOT NULL DEFAULT '{}',
    props      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (src_ref, relation, dst_ref)
);
CREATE INDEX pending_relations_dst_ref_idx ON pending_relations (dst_ref);

COMMENT ON TABLE pending_relations IS 'Relationships whose source or target identifier is not known yet. They are kept here, never dropped, and move to relations when both endpoints resolve through node_aliases.';
COMMENT ON COLUMN pending_relations.src_ref IS 'Source identifier of the relationship start as the feed wrote it (resolved through node_aliases.source_id).';
COMMENT ON COLUMN pending_relations.dst_ref IS 'Source identifier of the relationship end as the feed wrote it (resolved through node_aliases.source_id).';

-- jsonb_merge_agg merges JSON objects in aggregate order: later keys win.
CREATE AGGREGATE jsonb_merge_agg(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, INITCOND = '{}');
COMMENT ON AGGREGATE jsonb_merge_agg(jsonb) IS 'Merges JSON objects; with ORDER BY, the last row''s value of a key wins.';

-- resolve_ref maps a relationship endpoint reference to a node id: a source
-- identifier through node_aliases, or 'node--<uuid>' naming an existing node.
-- +goose StatementBegin
CREATE FUNCTION resolve_ref(ref text) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT a.node_id FROM node_aliases a WHERE a.source_id = ref),
        (SELECT n.id FROM nodes n
         WHERE n.id = CASE
             WHEN ref ~ '^node--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
             THEN substr(ref, 7)::uuid
         END))
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION resolve_ref(text) IS 'Maps a relationship endpoint reference (a source identifier in node_aliases, or node--<uuid>) to a node id; NULL when unknown.';

-- +goose Down
DROP FUNCTION resolve_ref(text);
DROP AGGREGATE jsonb_merge_agg(jsonb);
DROP TABLE pending_relations;
DROP TABLE relations;

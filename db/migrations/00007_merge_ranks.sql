-- +goose Up
-- Order-independent merging (README "Merging", graph/merge.go): every record
-- has a rank (graph.RecordRank: confidence, its own last-seen, a content
-- digest), and a row keeps the ranks of the records its name and props came
-- from, so a later record is compared with those records and not with
-- maxima taken over several. Rows written before this migration have empty
-- ranks (the lowest): the next record with a name or props key replaces them.
-- timed says whether any merged record had times of its own; a row without
-- carries its load time, which the first timed record replaces.
ALTER TABLE nodes
    ADD COLUMN name_rank       text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN props_rank      text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN props_key_ranks jsonb            NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN timed           boolean          NOT NULL DEFAULT true;
ALTER TABLE relations
    ADD COLUMN props_rank      text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN props_key_ranks jsonb            NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN timed           boolean          NOT NULL DEFAULT true;
ALTER TABLE pending_relations
    ADD COLUMN props_rank      text COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN props_key_ranks jsonb            NOT NULL DEFAULT '{}'::jsonb,
    ADD COLUMN timed           boolean          NOT NULL DEFAULT true;

COMMENT ON COLUMN nodes.confidence IS 'Highest confidence (0-100) any source gave; NULL when no source said. Name and props come from the highest-ranked records (see name_rank, props_rank).';
COMMENT ON COLUMN node_aliases.source IS 'A feed that mapped this identifier to node_id: the smallest non-empty one.';
COMMENT ON COLUMN node_aliases.node_id IS 'The node the identifier maps to: the smallest node id of those naming it.';
COMMENT ON COLUMN nodes.name_rank IS 'Rank (graph.RecordRank) of the record the name came from: the highest-ranked record with a non-empty name; empty when the name is.';
COMMENT ON COLUMN nodes.props_rank IS 'Highest rank of the merged records: every props key of that record is kept as it gave it.';
COMMENT ON COLUMN nodes.props_key_ranks IS 'Props keys whose value came from a record ranked below props_rank, with that record''s rank (usually none).';
COMMENT ON COLUMN nodes.timed IS 'Whether any merged record had times of its own; when not, first_seen and last_seen are the load time of the insert.';
COMMENT ON COLUMN relations.props_rank IS 'Highest rank of the merged records: every props key of that record is kept as it gave it.';
COMMENT ON COLUMN relations.props_key_ranks IS 'Props keys whose value came from a record ranked below props_rank, with that record''s rank.';
COMMENT ON COLUMN relations.timed IS 'Whether any merged record had times of its own.';
COMMENT ON COLUMN pending_relations.props_rank IS 'As relations.props_rank.';
COMMENT ON COLUMN pending_relations.props_key_ranks IS 'As relations.props_key_ranks.';
COMMENT ON COLUMN pending_relations.timed IS 'As relations.timed.';

-- props_merge merges two merge states {"p": props, "r": props_rank, "k":
-- props_key_ranks}: each key's value comes from the side whose rank for it
-- is higher (equal ranks mean the same record, so the same value). It is
-- graph.mergeProps: commutative, associative and idempotent, with
-- {"p": {}, "r": "", "k": {}} as identity. The common cases (one side's
-- record outranks the other and already has all its keys, or both are the
-- same) return without taking the objects apart.
-- +goose StatementBegin
CREATE FUNCTION props_merge(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    ar text COLLATE "C" := coalesce(a->>'r', '');
    br text COLLATE "C" := coalesce(b->>'r', '');
BEGIN
    IF a = b THEN
        RETURN a;
    END IF;
    IF coalesce(a->'k', '{}') = '{}' AND coalesce(b->'k', '{}') = '{}' THEN
        IF ar > br AND a->'p' ?& ARRAY(SELECT jsonb_object_keys(b->'p')) THEN
            RETURN a;
        END IF;
        IF br > ar AND b->'p' ?& ARRAY(SELECT jsonb_object_keys(a->'p')) THEN
            RETURN b;
        END IF;
    END IF;
    RETURN (
        SELECT jsonb_build_object(
            'p', coalesce(jsonb_object_agg(m.key, m.value), '{}'::jsonb),
            'r', greatest(ar, br),
            'k', coalesce(jsonb_object_agg(m.key, m.rank) FILTER (WHERE m.rank < greatest(ar, br)), '{}'::jsonb))
        FROM (
            SELECT DISTINCT ON (e.key) e.key, e.value, e.rank
            FROM (SELECT x.key, x.value, coalesce(v.s->'k'->>x.key, v.s->>'r', '') COLLATE "C" AS rank
                  FROM (VALUES (a), (b)) AS v(s), jsonb_each(coalesce(v.s->'p', '{}'::jsonb)) AS x) e
            ORDER BY e.key, e.rank DESC
        ) m);
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION props_merge(jsonb, jsonb) IS 'Merges two props merge states {"p": props, "r": rank, "k": key ranks}: each key from the higher-ranked record that has it (graph.MergeNode).';

CREATE AGGREGATE props_merge_agg(jsonb) (SFUNC = props_merge, STYPE = jsonb, INITCOND = '{"p": {}, "r": "", "k": {}}');
COMMENT ON AGGREGATE props_merge_agg(jsonb) IS 'props_merge over a group of merge states; order does not matter.';

-- merge_record is the part of a node or relation row that graph.MergeNode and
-- graph.MergeRelation merge the same way: the highest confidence, the
-- earliest first_seen and latest last_seen of the records with times (timed;
-- rows without keep the load time of their first insert), the sorted union of
-- sources, and each props key from the highest-ranked record (props_merge).
CREATE TYPE merge_record AS (
    confidence      smallint,
    first_seen      timestamptz,
    last_seen       timestamptz,
    timed           boolean,
    sources         text[],
    props           jsonb,
    props_rank      text COLLATE "C",
    props_key_ranks jsonb
);
COMMENT ON TYPE merge_record IS 'The merged part of a node or relation row (graph.MergeNode, graph.MergeRelation); merge_records merges two.';

-- merge_record_of takes the merge_record of any row that has its columns
-- (relations, relation_records, pending_relations, excluded in ON CONFLICT).
CREATE FUNCTION merge_record_of(r anyelement) RETURNS merge_record
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ROW(r.confidence, r.first_seen, r.last_seen, r.timed, r.sources, r.props, r.props_rank, r.props_key_ranks)::merge_record
$$;

-- merge_records is the one SQL copy of the merge: commutative, associative
-- and idempotent, so ON CONFLICT updates and GROUP BY aggregates
-- (merge_records_agg) give the same row whatever the order of the records.
-- +goose StatementBegin
CREATE FUNCTION merge_records(a merge_record, b merge_record) RETURNS merge_record
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    m merge_record;
    p jsonb;
BEGIN
    IF a IS NULL THEN
        RETURN b;
    ELSIF b IS NULL THEN
        RETURN a;
    END IF;
    m.confidence := greatest(a.confidence, b.confidence);
    m.timed := a.timed OR b.timed;
    IF a.timed = b.timed THEN
        -- Both timed: the span of both. Neither: the earliest load time.
        m.first_seen := least(a.first_seen, b.first_seen);
        m.last_seen := CASE WHEN m.timed THEN greatest(a.last_seen, b.last_seen) ELSE least(a.last_seen, b.last_seen) END;
    ELSIF a.timed THEN
        m.first_seen := a.first_seen;
        m.last_seen := a.last_seen;
    ELSE
        m.first_seen := b.first_seen;
        m.last_seen := b.last_seen;
    END IF;
    m.sources := CASE WHEN a.sources @> b.sources THEN a.sources
                      WHEN b.sources @> a.sources THEN b.sources
                      ELSE ARRAY(SELECT DISTINCT s COLLATE "C" FROM unnest(a.sources || b.sources) AS s ORDER BY 1) END;
    IF a.props_rank = b.props_rank AND a.props_key_ranks = b.props_key_ranks THEN
        -- The same records: the same props.
        m.props := a.props;
        m.props_rank := a.props_rank;
        m.props_key_ranks := a.props_key_ranks;
    ELSE
        p := props_merge(jsonb_build_object('p', a.props, 'r', a.props_rank, 'k', a.props_key_ranks),
                         jsonb_build_object('p', b.props, 'r', b.props_rank, 'k', b.props_key_ranks));
        m.props := p->'p';
        m.props_rank := p->>'r';
        m.props_key_ranks := p->'k';
    END IF;
    RETURN m;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION merge_records(merge_record, merge_record) IS 'Merges two merge_records (graph.MergeRelation); commutative, associative, idempotent.';

CREATE AGGREGATE merge_records_agg(merge_record) (SFUNC = merge_records, STYPE = merge_record);
COMMENT ON AGGREGATE merge_records_agg(merge_record) IS 'merge_records over a group; order does not matter.';

-- merge_changes says whether merging incoming into stored changes it: an ON
-- CONFLICT update that would not is skipped.
CREATE FUNCTION merge_changes(stored merge_record, incoming merge_record) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT merge_records(stored, incoming) IS DISTINCT FROM stored
$$;

-- relation_records keeps every relationship record whose endpoints resolved,
-- merged per reference triple as the feeds wrote it, with the node ids it
-- resolved to: relations holds their merge per (src_id, relation, dst_id).
-- When a source id moves to another node (node_aliases: the smallest node id
-- naming it wins, so a later feed can take it over), the records that named
-- it are re-resolved and the relations they fed are rebuilt from the records,
-- so relations do not depend on whether they were resolved before or after
-- the move.
CREATE TABLE relation_records (
    src_ref         text        NOT NULL,
    relation        text        NOT NULL CHECK (relation <> ''),
    dst_ref         text        NOT NULL,
    src_id          uuid        NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    dst_id          uuid        NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    confidence      smallint             CHECK (confidence BETWEEN 0 AND 100),
    first_seen      timestamptz NOT NULL,
    last_seen       timestamptz NOT NULL,
    sources         text[]      NOT NULL DEFAULT '{}',
    props           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    props_rank      text COLLATE "C" NOT NULL DEFAULT '',
    props_key_ranks jsonb       NOT NULL DEFAULT '{}'::jsonb,
    timed           boolean     NOT NULL DEFAULT true,
    PRIMARY KEY (src_ref, relation, dst_ref)
);
CREATE INDEX relation_records_dst_ref_idx ON relation_records (dst_ref);
CREATE INDEX relation_records_key_idx ON relation_records (src_id, relation, dst_id);
COMMENT ON TABLE relation_records IS 'Every resolved relationship record, merged per (src_ref, relation, dst_ref) as the feed wrote them, with the node ids they resolved to; relations is their merge per (src_id, relation, dst_id), rebuilt from here when a source id moves to another node.';
COMMENT ON COLUMN relation_records.src_id IS 'The node src_ref resolved to when the record was last keyed (resolve_ref).';
-- Relations written before this migration become records named by node id.
INSERT INTO relation_records (src_ref, relation, dst_ref, src_id, dst_id, confidence, first_seen, last_seen, sources, props,
                              props_rank, props_key_ranks, timed)
SELECT 'node--' || src_id::text, relation, 'node--' || dst_id::text, src_id, dst_id, confidence, first_seen, last_seen, sources, props,
       props_rank, props_key_ranks, timed
FROM relations;

-- +goose Down
COMMENT ON COLUMN nodes.confidence IS 'Highest confidence (0-100) any source gave; NULL when no source said. Name and props come from the record with the highest (confidence, last_seen); others only add props keys that are missing.';
COMMENT ON COLUMN node_aliases.source IS 'The feed that last mapped this identifier.';
COMMENT ON COLUMN node_aliases.node_id IS NULL;
DROP TABLE relation_records;
DROP FUNCTION merge_changes(merge_record, merge_record);
DROP AGGREGATE merge_records_agg(merge_record);
DROP FUNCTION merge_records(merge_record, merge_record);
DROP FUNCTION merge_record_of(anyelement);
DROP TYPE merge_record;
DROP AGGREGATE props_merge_agg(jsonb);
DROP FUNCTION props_merge(jsonb, jsonb);
ALTER TABLE pending_relations DROP COLUMN props_rank, DROP COLUMN props_key_ranks, DROP COLUMN timed;
ALTER TABLE relations DROP COLUMN props_rank, DROP COLUMN props_key_ranks, DROP COLUMN timed;
ALTER TABLE nodes DROP COLUMN name_rank, DROP COLUMN props_rank, DROP COLUMN props_key_ranks, DROP COLUMN timed;

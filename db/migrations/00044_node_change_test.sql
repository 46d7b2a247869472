-- +goose Up
-- The rule "does this record change the stored one", written once. It was
-- written out three times: in NodeUpsertMany's WHERE (which rows to write),
-- again in its updated_at CASE (whether a row returned only because its
-- node is recorded changed anything) and in NodeRecordUpsertMany's WHERE
-- (which records of the same version to merge).
--
-- node_content_changes(incoming..., stored...) is true when merging the
-- incoming record's content into the stored one (graph.MergeNode: the union
-- of labels, the highest confidence, the strictest TLP, the name of the
-- highest name_rank, each props key from the highest-ranked record that
-- has it) changes the stored content: a label, a higher confidence, a
-- stricter TLP (ties by name), a higher name rank or props rank, a props
-- key the stored props lack, or a key whose rank (its props_key_ranks
-- entry, else the record's props_rank) outranks the stored key's.
-- node_row_changes adds what merges into a node's row whatever its
-- records: kind and key (the smallest), times (a timed record widening
-- them, or the first timed one) and sources; content is whether the
-- incoming content merges into the row (false for a row whose content
-- goes to node_records, migration 00042).
--
-- Both are plain SQL expressions so the planner inlines them into the
-- statement (no function call per row: a SQL function called through
-- fmgr_sql costs 20-30 us a row here). An expression with a subquery is
-- not inlined, so the props key test is written without one: with neither
-- record carrying per-key ranks (the common case: each props whole from
-- one record) a key outranks exactly when the record's props_rank does, so
-- it is "a key missing" ((incoming || stored) <> stored: the concatenation
-- adds exactly the missing keys) or "props_rank higher"; only when a record
-- carries per-key ranks does node_props_keys_outrank look at each key.
-- Every text comparison is in "C", as the columns are.
CREATE FUNCTION node_props_keys_outrank(props jsonb, props_rank text, props_key_ranks jsonb,
                                        s_props jsonb, s_props_rank text, s_props_key_ranks jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM jsonb_object_keys(props) AS k
                   WHERE NOT s_props ? k
                      OR coalesce(props_key_ranks->>k COLLATE "C", props_rank COLLATE "C")
                         > coalesce(s_props_key_ranks->>k COLLATE "C", s_props_rank COLLATE "C"))
$$;
COMMENT ON FUNCTION node_props_keys_outrank(jsonb, text, jsonb, jsonb, text, jsonb) IS 'Whether a props key of the incoming record (props, props_rank, props_key_ranks) is missing from the stored props (s_...) or outranks the stored key (its props_key_ranks entry, else props_rank); called by node_content_changes only when a record carries per-key ranks (migration 00044).';

CREATE FUNCTION node_content_changes(labels text[], confidence smallint, tlp text, name_rank text,
                                     props jsonb, props_rank text, props_key_ranks jsonb,
                                     s_labels text[], s_confidence smallint, s_tlp text, s_name_rank text,
                                     s_props jsonb, s_props_rank text, s_props_key_ranks jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT NOT s_labels @> labels
        OR coalesce(confidence, -1) > coalesce(s_confidence, -1)
        OR ROW(tlp_rank(tlp), coalesce(tlp, '') COLLATE "C") > ROW(tlp_rank(s_tlp), coalesce(s_tlp, '') COLLATE "C")
        OR name_rank COLLATE "C" > s_name_rank COLLATE "C"
        OR props_rank COLLATE "C" > s_props_rank COLLATE "C"
        OR props || s_props <> s_props
        OR ((props_key_ranks <> '{}' OR s_props_key_ranks <> '{}')
            AND node_props_keys_outrank(props, props_rank, props_key_ranks, s_props, s_props_rank, s_props_key_ranks))
$$;
COMMENT ON FUNCTION node_content_changes(text[], smallint, text, text, jsonb, text, jsonb, text[], smallint, text, text, jsonb, text, jsonb) IS 'Whether merging the incoming record''s name, props, labels, confidence and TLP into the stored ones (s_...) changes them (graph.MergeNode); inlined by the planner (migration 00044).';

CREATE FUNCTION node_row_changes(kind text, key text, timed boolean, first_seen timestamptz, last_seen timestamptz, sources text[],
                                 s_kind text, s_key text, s_timed boolean, s_first_seen timestamptz, s_last_seen timestamptz, s_sources text[],
                                 content boolean,
                                 labels text[], confidence smallint, tlp text, name_rank text,
                                 props jsonb, props_rank text, props_key_ranks jsonb,
                                 s_labels text[], s_confidence smallint, s_tlp text, s_name_rank text,
                                 s_props jsonb, s_props_rank text, s_props_key_ranks jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (timed AND (NOT s_timed OR first_seen < s_first_seen OR last_seen > s_last_seen))
        OR ROW(kind COLLATE "C", key COLLATE "C") < ROW(s_kind COLLATE "C", s_key COLLATE "C")
        OR NOT s_sources @> sources
        OR (content AND node_content_changes(labels, confidence, tlp, name_rank, props, props_rank, props_key_ranks,
                                             s_labels, s_confidence, s_tlp, s_name_rank, s_props, s_props_rank, s_props_key_ranks))
$$;
COMMENT ON FUNCTION node_row_changes(text, text, boolean, timestamptz, timestamptz, text[], text, text, boolean, timestamptz, timestamptz, text[], boolean, text[], smallint, text, text, jsonb, text, jsonb, text[], smallint, text, text, jsonb, text, jsonb) IS 'Whether merging the incoming node row into the stored one (s_...) changes it: kind and key, times, sources and, when content, node_content_changes; inlined by the planner (migration 00044).';

COMMENT ON COLUMN node_records.source_id IS 'The one source object (graph.RecordSource: the newest entry of the record''s versions) the record comes from, or '''' for records with no version and for what the node held before its first versioned record.';

-- +goose Down
COMMENT ON COLUMN node_records.source_id IS 'The one source object (graph.RecordSource) the record comes from, or '''' for records with no version or several and for what the node held before its first versioned record.';
DROP FUNCTION node_row_changes(text, text, boolean, timestamptz, timestamptz, text[], text, text, boolean, timestamptz, timestamptz, text[], boolean, text[], smallint, text, text, jsonb, text, jsonb, text[], smallint, text, text, jsonb, text, jsonb);
DROP FUNCTION node_content_changes(text[], smallint, text, text, jsonb, text, jsonb, text[], smallint, text, text, jsonb, text, jsonb);
DROP FUNCTION node_props_keys_outrank(jsonb, text, jsonb, jsonb, text, jsonb);

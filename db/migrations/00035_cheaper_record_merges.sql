-- +goose Up
-- merge_records (migration 00007) without props_merge when both records
-- carry the same props and no per-key ranks: the merged props are those
-- props and the rank the higher one, what props_merge returns then (the
-- higher-ranked record has every key of the other). That is the case of a
-- record merged with another of itself at other times: every telemetry
-- implied relation written again to extend its first/last seen
-- (store.flushSeen), and a feed's relationship restated by a newer
-- version with the same properties. Measured on 13,334 such pairs: 21 µs
-- a call before, 7 µs after; each merged row calls it two to four times.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION merge_records(a merge_record, b merge_record) RETURNS merge_record
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
    ELSIF a.props_key_ranks = '{}' AND b.props_key_ranks = '{}' AND a.props = b.props THEN
        -- The same props, each whole from one record: props_merge would
        -- return the higher-ranked state.
        m.props := a.props;
        m.props_rank := greatest(a.props_rank, b.props_rank);
        m.props_key_ranks := '{}';
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

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION merge_records(a merge_record, b merge_record) RETURNS merge_record
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

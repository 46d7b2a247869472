-- +goose Up
-- A stated map keeps no "<object> via <relationship id>" entry whose
-- object also states the record directly in the same version or a newer
-- one ("<object>": a time at least the via entry's): such an entry decides
-- nothing. stated_superseded reads a via key as its object's, so with the
-- direct entry at least as new the record is superseded exactly when it
-- was; stated_names and EdgeStatements' objects read the object part only;
-- RelationIDRefsForget (stated_unvia) takes out via keys alone, which
-- leaves the direct entry and the record in place either way. Dropping the
-- entry commutes with the merge (a dominated entry stays dominated under
-- any merge: the direct time only grows, and a newer via time from
-- another map is kept or dropped by the same rule), so the stored map is
-- still one function of the statements, whatever the order they arrive in.
--
-- Why: an ATT&CK collection (x_mitre_contents) and a STIX report
-- (object_refs) name every relationship and, directly, both its ends. Each
-- relationship's links to its ends (migration 00041) added a via key to
-- the collection's record of each end: 36,910 keys on 6,314 records of the
-- enterprise synthetic, up to 51 on one, 8,339 rewrites of relation_records
-- rows at about 130 µs each, for entries that never decide an answer. The
-- store drops them before writing (statedJSON), and stated_union, the merge
-- of two maps neither of which holds the other, drops those the union makes
-- dominated; stated_merge's other branches return one of its inputs, which
-- are kept that way. Maps written before this migration keep their entries
-- until a merge goes through stated_union; they decide nothing either.
-- stated_union_full is the union itself; stated_union (what stated_merge
-- calls when neither map holds the other) first checks, in PL/pgSQL,
-- whether b adds anything to a: every entry of b in a at a time at least
-- its own, or a via entry whose object a states directly at a time at
-- least its own. Then the union is a (a being a map written since this
-- migration, so without dominated entries), and no set-returning query
-- runs: that is what most calls are once the via keys are left out (a
-- collection's record of an end, merged with the links through each of
-- the end's relationships: 6,862 of 6,862 calls on the enterprise
-- synthetic; 16 against 50 µs a call measured in psql on 20,000 such
-- pairs). Otherwise stated_union_full.
-- +goose StatementBegin
CREATE FUNCTION stated_union_full(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_object_agg(x.k, x.v ORDER BY x.k)
    FROM (SELECT e.key AS k, max(e.value #>> '{}' COLLATE "C") AS v
          FROM (SELECT * FROM jsonb_each(a) UNION ALL SELECT * FROM jsonb_each(b)) AS e
          GROUP BY e.key) AS x
    WHERE position(' via ' IN x.k) = 0
       OR NOT coalesce(greatest(a ->> split_part(x.k, ' via ', 1), b ->> split_part(x.k, ' via ', 1)) COLLATE "C" >= x.v, false)
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_union_full(jsonb, jsonb) IS 'The ids of two stated maps, each with its latest time, without a "<object> via <id>" entry whose object states the record directly at a time at least its own.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stated_union(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    k text;
    v text;
    obj text;
BEGIN
    FOR k, v IN SELECT e.key, e.value #>> '{}' FROM jsonb_each(b) AS e LOOP
        IF (a ->> k) COLLATE "C" >= v THEN
            CONTINUE;
        END IF;
        obj := split_part(k, ' via ', 1);
        IF obj <> k AND (a ->> obj) COLLATE "C" >= v THEN
            CONTINUE;
        END IF;
        RETURN stated_union_full(a, b);
    END LOOP;
    RETURN a;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_union(jsonb, jsonb) IS 'stated_merge when neither map holds the other: a when b adds nothing to it (each entry in a at a time at least its own, or a via entry whose object a states directly at a time at least its own), else stated_union_full.';

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stated_union(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT jsonb_object_agg(x.k, x.v ORDER BY x.k)
    FROM (SELECT e.key AS k, max(e.value #>> '{}' COLLATE "C") AS v
          FROM (SELECT * FROM jsonb_each(a) UNION ALL SELECT * FROM jsonb_each(b)) AS e
          GROUP BY e.key) AS x
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION stated_union(jsonb, jsonb) IS 'The ids of two stated maps, each with its latest time: stated_merge when neither map holds the other.';
DROP FUNCTION stated_union_full(jsonb, jsonb);

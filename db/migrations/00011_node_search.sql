-- +goose Up
-- pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the
-- database owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- node_lookup_names lists what a person may call a node, lower-cased, one
-- per line between newlines ("\nname\nalias\nT1059\n"): its name, its key
-- (when short), the aliases of its props (aliases, x_mitre_aliases,
-- x_opencti_aliases, MISP galaxy synonyms) and its external ids
-- (external_references[].external_id, MISP galaxy meta.external_id,
-- x_mitre_old_attack_id). The newlines let one trigram index answer an
-- exact entry (LIKE '%\nx\n%'), a prefix of an entry (LIKE '%\nx%') and a
-- fuzzy match (word_similarity, <%).
-- +goose StatementBegin
CREATE FUNCTION node_lookup_names(name text, key text, props jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT E'\n' || lower(concat_ws(E'\n',
        nullif(btrim(name), ''),
        CASE WHEN length(key) <= 256 THEN key END,
        -- Most nodes (observables) have none of these props: the ?| test
        -- spares them the path queries.
        CASE WHEN props ?| ARRAY['aliases', 'x_mitre_aliases', 'x_opencti_aliases', 'synonyms',
                                 'external_references', 'meta', 'x_mitre_old_attack_id'] THEN
            (SELECT string_agg(btrim(v #>> '{}'), E'\n')
             FROM (
                 SELECT jsonb_path_query(props, 'lax $.aliases[*] ? (@.type() == "string")')
                 UNION ALL
                 SELECT jsonb_path_query(props, 'lax $.x_mitre_aliases[*] ? (@.type() == "string")')
                 UNION ALL
                 SELECT jsonb_path_query(props, 'lax $.x_opencti_aliases[*] ? (@.type() == "string")')
                 UNION ALL
                 SELECT jsonb_path_query(props, 'lax $.synonyms[*] ? (@.type() == "string")')
                 UNION ALL
                 SELECT jsonb_path_query(props, 'lax $.external_references[*].external_id ? (@.type() == "string")')
                 UNION ALL
                 SELECT jsonb_path_query(props, 'lax $.meta.external_id[*] ? (@.type() == "string")')
                 UNION ALL
                 SELECT jsonb_path_query(props, 'lax $.x_mitre_old_attack_id ? (@.type() == "string")')
             ) AS x(v))
        END
    )) || E'\n'
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION node_lookup_names(text, text, jsonb) IS 'What a node may be called, lower-cased, one per line between newlines: name, short key, aliases and synonyms, external ids (ATT&CK, CVE, ...). Indexed by nodes_lookup_trgm for intel search and kind:alias / kind:external-id references.';

CREATE INDEX nodes_lookup_trgm ON nodes USING gin (node_lookup_names(name, key, props) gin_trgm_ops);

-- A source id with or without its type prefix: "misp--<uuid>" and
-- "indicator--<uuid>" are found from the bare uuid.
CREATE INDEX node_aliases_uuid_idx ON node_aliases (right(source_id, 36));

-- +goose Down
DROP INDEX node_aliases_uuid_idx;
DROP INDEX nodes_lookup_trgm;
DROP FUNCTION node_lookup_names(text, text, jsonb);
DROP EXTENSION IF EXISTS pg_trgm;

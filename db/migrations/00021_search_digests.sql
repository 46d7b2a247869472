-- +goose Up
-- Cheaper search entries for the endpoint nodes telemetry writes by the
-- ten thousand (issues 12 and 15). Measured per new node on PostgreSQL 15
-- (INSERT of 4,000 nodes of one kind, EXPLAIN ANALYZE): without the
-- trigram index a node costs 10-15 us; with it a hash node cost 100-150 us
-- (its entry "sha-256:<64 hex>" twice, name and key: 72 trigrams), a file
-- keyed by its hashes 100-170 us (97 trigrams), an address 45-80 us.
--
-- 1. hash nodes leave nodes_lookup_trgm (search_excluded_kinds). A digest
--    is opaque: nobody searches it fuzzily or by a part in its middle.
--    They are found by their whole value and by a prefix of the digest
--    (at least 8 hex digits, with or without "algorithm:") through
--    nodes_hash_digest below, and by kind:key as before.
-- 2. A key that is canonical JSON led by hashes (a file keyed by its
--    hashes and name: '{"hashes":{...},"name":...}') is no longer an entry
--    when the node has a name: nobody types it, the name is an entry of
--    its own and the hashes are nodes of their own. Other JSON keys
--    (software, autonomous-system, accounts) and those of nameless nodes
--    stay entries, for the fuzzy match on the words in them. On the
--    corpus (6,959 nodes) the entries changed for 20 files and nothing
--    else.
-- 3. node_lookup_names can be inlined by the planner: the alias paths,
--    which have a sub-select, move to node_prop_names, called only for the
--    nodes whose props have them; the rest is one expression without
--    concat_ws (stable, so not inlinable in an immutable function). Called
--    as a function it cost about 25 us a node (4,000 hash keys: 116 ms,
--    inlined 28 ms), in every insert of an indexed node.
-- The index is rebuilt under a new name in this transaction, then renamed.
-- +goose StatementBegin
CREATE FUNCTION node_prop_names(props jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(btrim(v #>> '{}'), E'\n')
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
    ) AS x(v)
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION node_prop_names(jsonb) IS 'The alias and external-id entries of node_lookup_names: aliases, x_mitre_aliases, x_opencti_aliases, synonyms, external_references[].external_id, meta.external_id, x_mitre_old_attack_id, one per line.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_lookup_names(name text, key text, props jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT E'\n' || lower(substr(
        coalesce(E'\n' || nullif(btrim(name), ''), '') ||
        coalesce(E'\n' || CASE WHEN length(key) <= 256 AND (left(key, 10) <> '{"hashes":' OR nullif(btrim(name), '') IS NULL) THEN key END, '') ||
        -- Most nodes (observables) have none of these props: the ?| test
        -- spares them the path queries.
        coalesce(E'\n' || CASE WHEN props ?| ARRAY['aliases', 'x_mitre_aliases', 'x_opencti_aliases', 'synonyms',
                                                  'external_references', 'meta', 'x_mitre_old_attack_id']
                               THEN node_prop_names(props) END, ''),
        2)) || E'\n'
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION node_lookup_names(text, text, jsonb) IS 'What a node may be called, lower-cased, one per line between newlines: name, short key (not a hashes-led JSON key beside a name), aliases and synonyms, external ids (ATT&CK, CVE, ...). Indexed by nodes_lookup_trgm for intel search and kind:alias / kind:external-id references.';

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION search_excluded_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['process', 'network-traffic', 'hash']::text[]
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION search_excluded_kinds() IS 'Node kinds left out of nodes_lookup_trgm: telemetry-only endpoints (process instances, connections), found by id or kind:key, and hashes, found by digest or digest prefix (nodes_hash_digest). Changing it means rebuilding nodes_lookup_trgm.';

-- hash_digest is a hash node's digest: its key (graph.HashKey,
-- "SHA-256:<hex>") after the algorithm. Inlined by the planner, so the
-- index below and NodeSearch name the same expression. The index keeps
-- digests in byte order, so a prefix p is a range: >= p and < p || '~'.
-- +goose StatementBegin
CREATE FUNCTION hash_digest(key text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substr(key, strpos(key, ':') + 1)
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION hash_digest(text) IS 'A hash node''s digest: its key after "algorithm:". Indexed by nodes_hash_digest (hash nodes only) for intel search by digest or digest prefix.';
CREATE INDEX nodes_hash_digest ON nodes ((hash_digest(key) COLLATE "C")) WHERE kind = 'hash';

CREATE INDEX nodes_lookup_trgm_21 ON nodes USING gin (node_lookup_names(name, key, props) gin_trgm_ops)
    WHERE kind <> ALL (search_excluded_kinds());
DROP INDEX nodes_lookup_trgm;
ALTER INDEX nodes_lookup_trgm_21 RENAME TO nodes_lookup_trgm;

-- +goose Down
DROP INDEX nodes_hash_digest;
DROP FUNCTION hash_digest(text);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION search_excluded_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['process', 'network-traffic']::text[]
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION search_excluded_kinds() IS 'Node kinds left out of nodes_lookup_trgm (telemetry-only endpoints: process instances, connections). Found by id or kind:key, not by name. Changing it means rebuilding nodes_lookup_trgm.';
-- 00011's body, as it was.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_lookup_names(name text, key text, props jsonb) RETURNS text
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
CREATE INDEX nodes_lookup_trgm_20 ON nodes USING gin (node_lookup_names(name, key, props) gin_trgm_ops)
    WHERE kind <> ALL (search_excluded_kinds());
DROP INDEX nodes_lookup_trgm;
ALTER INDEX nodes_lookup_trgm_20 RENAME TO nodes_lookup_trgm;
DROP FUNCTION node_prop_names(jsonb);

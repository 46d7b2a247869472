-- +goose Up
-- Telemetry-only endpoint kinds leave the search index. A process node is
-- a process instance keyed by host and pid ("host-12:4242"), a
-- network-traffic node a connection keyed by its canonical JSON: agents
-- create them by the hundred thousand a day, nobody searches for them by
-- name, and keeping each in the trigram index of node_lookup_names cost
-- 4x the insert of the node itself (50k new process nodes: 9.6-11.2 s
-- with the index, 2.3-2.6 s without). They stay reachable by id, by
-- kind:key (the unique (kind, md5(key)) index; intel search finds them by
-- their exact key too) and by walking from the files, hashes, addresses
-- and domains they touched, which are indexed as before.
--
-- search_excluded_kinds is that list, written once: the index predicate
-- and every query that must use the index test the same expression
-- (kind <> ALL (search_excluded_kinds())), which the planner folds to a
-- constant on both sides. Changing the list means rebuilding the index.
-- +goose StatementBegin
CREATE FUNCTION search_excluded_kinds() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['process', 'network-traffic']::text[]
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION search_excluded_kinds() IS 'Node kinds left out of nodes_lookup_trgm (telemetry-only endpoints: process instances, connections). Found by id or kind:key, not by name. Changing it means rebuilding nodes_lookup_trgm.';

-- Built under a new name first, so searches keep an index while it builds.
CREATE INDEX nodes_lookup_trgm_partial ON nodes USING gin (node_lookup_names(name, key, props) gin_trgm_ops)
    WHERE kind <> ALL (search_excluded_kinds());
DROP INDEX nodes_lookup_trgm;
ALTER INDEX nodes_lookup_trgm_partial RENAME TO nodes_lookup_trgm;

-- +goose Down
CREATE INDEX nodes_lookup_trgm_full ON nodes USING gin (node_lookup_names(name, key, props) gin_trgm_ops);
DROP INDEX nodes_lookup_trgm;
ALTER INDEX nodes_lookup_trgm_full RENAME TO nodes_lookup_trgm;
DROP FUNCTION search_excluded_kinds();

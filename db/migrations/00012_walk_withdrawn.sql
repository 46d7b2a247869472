-- +goose Up
-- node_withdrawn says whether a node's props mark it withdrawn: the SQL
-- spelling of graph.Lifecycle (props lifecycle 'revoked' or 'deprecated',
-- STIX "revoked": true, ATT&CK "x_mitre_deprecated": true). The walk
-- (FindRelated) neither returns nor expands such a node unless asked.
-- +goose StatementBegin
CREATE FUNCTION node_withdrawn(props jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(props->>'lifecycle' IN ('revoked', 'deprecated')
                    OR props->'revoked' = 'true'::jsonb
                    OR props->'x_mitre_deprecated' = 'true'::jsonb, false)
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION node_withdrawn(jsonb) IS 'True when node props mark it revoked or deprecated (graph.Lifecycle in SQL).';

-- Few nodes are withdrawn: the walk probes this small partial index for
-- every edge it examines instead of reading each neighbour's props.
CREATE INDEX nodes_withdrawn_idx ON nodes (id) WHERE node_withdrawn(props);

-- +goose Down
DROP INDEX nodes_withdrawn_idx;
DROP FUNCTION node_withdrawn(jsonb);

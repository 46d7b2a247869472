-- +goose Up
-- node_withdrawn reads revoked and x_mitre_deprecated as graph.Lifecycle
-- does: a JSON true or the string "true" in any case (hand-made and
-- converted feeds write "x_mitre_deprecated": "true"); props lifecycle
-- 'revoked' or 'deprecated' as before. Before, a string "true" was live
-- here and (once Go read it) withdrawn in Go: the walk returned a node it
-- marked withdrawn. TestNodeWithdrawnIsLifecycle holds the two together.
-- nodes_withdrawn_idx is built from the function: rebuilt, and the
-- identity tables, which leave withdrawn nodes out, recomputed.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_withdrawn(props jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(props->>'lifecycle' IN ('revoked', 'deprecated')
                    OR lower(props->>'revoked') = 'true'
                    OR lower(props->>'x_mitre_deprecated') = 'true', false)
$$;
-- +goose StatementEnd
REINDEX INDEX nodes_withdrawn_idx;
SELECT identity_refresh();

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION node_withdrawn(props jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(props->>'lifecycle' IN ('revoked', 'deprecated')
                    OR props->'revoked' = 'true'::jsonb
                    OR props->'x_mitre_deprecated' = 'true'::jsonb, false)
$$;
-- +goose StatementEnd
REINDEX INDEX nodes_withdrawn_idx;
SELECT identity_refresh();

-- +goose Up
-- relation_ids found by the references an id names: Store.ExplainEdges
-- (db/queries/explain.sql) names the relationship ids behind each relation
-- record of a walk's edges, joining relation_ids on (src_ref, relation,
-- dst_ref), which had only its primary key (source_id) and would be read
-- whole for every explanation.
CREATE INDEX relation_ids_refs_idx ON relation_ids (src_ref, relation, dst_ref);

-- +goose Down
DROP INDEX relation_ids_refs_idx;

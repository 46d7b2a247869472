-- +goose Up
-- Faster feed loads (#16): node_aliases without its foreign key to nodes.
--
-- The check ran for every alias written (12,700 on the enterprise-sized
-- load), a SELECT ... FOR KEY SHARE through SPI that also locks the node
-- row (a heap write and a WAL record on a row the same transaction has
-- just written): 5.2 of the 11.8 ms of a 180-alias NodeAliasUpsertMany
-- (EXPLAIN ANALYZE, "Trigger for constraint node_aliases_node_id_fkey";
-- best of 8 alternating, 8.3 ms with it, 5.1 ms without). It could not
-- fail: NodeAliasUpsertMany is the only statement that writes node_aliases,
-- and its node ids are those of the nodes NodeUpsertMany wrote earlier in
-- the same transaction (store.writeMerged: aliasRows of the written nodes).
-- What ON DELETE CASCADE did, the statement trigger on nodes that already
-- removes a deleted node's relations and relation records (00022) now does
-- for its aliases too. Nodes are never deleted by the product; a manual
-- DELETE FROM nodes still takes every alias, relation and record of the
-- deleted nodes with it (TestDeletedNodeTakesItsRelations).
ALTER TABLE node_aliases DROP CONSTRAINT node_aliases_node_id_fkey;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION relations_of_deleted_nodes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM relations r USING gone g WHERE r.src_id = g.id;
    DELETE FROM relations r USING gone g WHERE r.dst_id = g.id;
    DELETE FROM relation_records r USING gone g WHERE r.src_id = g.id;
    DELETE FROM relation_records r USING gone g WHERE r.dst_id = g.id;
    DELETE FROM node_aliases a USING gone g WHERE a.node_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION relations_of_deleted_nodes() IS 'Deletes the relations, relation_records and node_aliases of deleted nodes (none of them has foreign keys; migrations 00016, 00022, 00024).';

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION relations_of_deleted_nodes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM relations r USING gone g WHERE r.src_id = g.id;
    DELETE FROM relations r USING gone g WHERE r.dst_id = g.id;
    DELETE FROM relation_records r USING gone g WHERE r.src_id = g.id;
    DELETE FROM relation_records r USING gone g WHERE r.dst_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION relations_of_deleted_nodes() IS 'Deletes the relations and relation_records of deleted nodes (neither has foreign keys; migrations 00016, 00022).';
DELETE FROM node_aliases a WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = a.node_id);
ALTER TABLE node_aliases ADD CONSTRAINT node_aliases_node_id_fkey
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE;

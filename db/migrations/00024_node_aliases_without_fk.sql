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
-- What ON DELETE CASCADE did, a statement trigger on nodes does, as one
-- does for a deleted node's relations and relation records (00022). Nodes
-- are never deleted by the product; a manual DELETE FROM nodes still takes
-- every alias, relation and record of the deleted nodes with it
-- (TestDeletedNodeTakesItsRelations).
ALTER TABLE node_aliases DROP CONSTRAINT node_aliases_node_id_fkey;
-- +goose StatementBegin
CREATE FUNCTION node_aliases_of_deleted_nodes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM node_aliases a USING gone g WHERE a.node_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER nodes_delete_aliases AFTER DELETE ON nodes
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION node_aliases_of_deleted_nodes();
COMMENT ON FUNCTION node_aliases_of_deleted_nodes() IS 'Deletes the node_aliases of deleted nodes (node_aliases has no foreign key since migration 00024).';

-- +goose Down
DROP TRIGGER nodes_delete_aliases ON nodes;
DROP FUNCTION node_aliases_of_deleted_nodes();
DELETE FROM node_aliases a WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = a.node_id);
ALTER TABLE node_aliases ADD CONSTRAINT node_aliases_node_id_fkey
    FOREIGN KEY (node_id) REFERENCES nodes (id) ON DELETE CASCADE;

-- +goose Up
-- Faster feed loads (#16): relations without foreign keys, ref_node
-- without a regular expression, and lz4 for node props. The merge, resolution and search rules are unchanged.
--
-- relations' foreign keys to nodes are replaced by
-- the statement trigger on nodes that already removes a deleted node's
-- relation_records (00016), now removing its relations too (what ON DELETE
-- CASCADE did). Measured on the enterprise-sized load: the two checks ran
-- for every relation written (90,000 calls), each a SELECT ... FOR KEY
-- SHARE through SPI that also locks the node row (a heap write and a WAL
-- record, a multixact when two writers lock one node), 62 us per relation
-- of the 95 us its insert cost. They could not fail: every statement that
-- writes relations (RelationUpsertMany, RelationRebuild) takes src_id and
-- dst_id either from ref_node in the same statement (through node_aliases,
-- whose foreign key to nodes remains, or a node--<uuid> whose node exists)
-- or from relation_records rows that statement keyed the same way. Nodes
-- are never deleted by the product; a manual DELETE FROM nodes still takes
-- every relation and record of the deleted nodes with it.
ALTER TABLE relations DROP CONSTRAINT relations_src_id_fkey;
ALTER TABLE relations DROP CONSTRAINT relations_dst_id_fkey;
DROP TRIGGER nodes_delete_relation_records ON nodes;
DROP FUNCTION relation_records_of_deleted_nodes();
-- +goose StatementBegin
CREATE FUNCTION relations_of_deleted_nodes() RETURNS trigger
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
CREATE TRIGGER nodes_delete_relations AFTER DELETE ON nodes
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION relations_of_deleted_nodes();
COMMENT ON FUNCTION relations_of_deleted_nodes() IS 'Deletes the relations and relation_records of deleted nodes (neither has foreign keys; migrations 00016, 00022).';

-- node_lookup_names stays as migration 00021 left it (an inlinable SQL
-- expression, 7 us a node against 15 us for a PL/pgSQL version measured
-- on this branch): both branches rewrote it, and the trigram index must be
-- built with one definition.

-- ref_node tells a node--<uuid> reference by translating its hex digits
-- to 0 and comparing with the shape, instead of the regular expression
-- (5% of the server's CPU on the enterprise load, compiled-pattern lookup
-- and match for every such reference). It accepts exactly what the
-- expression accepted: only 0-9 and a-f become 0, so the comparison holds
-- exactly when each of the 36 characters is a lower-case hex digit or the
-- dash the shape has there. The rule is still written once: resolve_ref
-- reads ref_node.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ref_node(ref text) RETURNS TABLE (node_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT a.node_id FROM node_aliases a WHERE a.source_id = ref),
        (SELECT n.id FROM nodes n
         WHERE n.id = CASE
             WHEN ref LIKE 'node--%'
                  AND translate(substr(ref, 7), '0123456789abcdef', '0000000000000000') = '00000000-0000-0000-0000-000000000000'
             THEN substr(ref, 7)::uuid
         END))
$$;
-- +goose StatementEnd

-- Node props (descriptions: 2.5 kB on average in ATT&CK) are compressed
-- with lz4 where the server has it: pglz compression was 5% of the
-- server's CPU on the enterprise load, and lz4 also decompresses faster
-- for every read of props. Only new values use it; the stored values and
-- every read are unchanged. A server built without lz4 keeps pglz.
-- +goose StatementBegin
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)) THEN
        ALTER TABLE nodes ALTER COLUMN props SET COMPRESSION lz4;
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE nodes ALTER COLUMN props SET COMPRESSION default;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION ref_node(ref text) RETURNS TABLE (node_id uuid)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT a.node_id FROM node_aliases a WHERE a.source_id = ref),
        (SELECT n.id FROM nodes n
         WHERE n.id = CASE
             WHEN ref LIKE 'node--%'
                  AND ref ~ '^node--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
             THEN substr(ref, 7)::uuid
         END))
$$;
-- +goose StatementEnd
DROP TRIGGER nodes_delete_relations ON nodes;
DROP FUNCTION relations_of_deleted_nodes();
-- +goose StatementBegin
CREATE FUNCTION relation_records_of_deleted_nodes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM relation_records r USING gone g WHERE r.src_id = g.id;
    DELETE FROM relation_records r USING gone g WHERE r.dst_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER nodes_delete_relation_records AFTER DELETE ON nodes
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION relation_records_of_deleted_nodes();
COMMENT ON FUNCTION relation_records_of_deleted_nodes() IS 'Deletes the relation_records of deleted nodes (relation_records has no foreign keys; migration 00016).';
DELETE FROM relations r WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = r.src_id)
                           OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = r.dst_id);
ALTER TABLE relations ADD CONSTRAINT relations_src_id_fkey FOREIGN KEY (src_id) REFERENCES nodes (id) ON DELETE CASCADE;
ALTER TABLE relations ADD CONSTRAINT relations_dst_id_fkey FOREIGN KEY (dst_id) REFERENCES nodes (id) ON DELETE CASCADE;

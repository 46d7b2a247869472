-- +goose Up
-- Faster feed loads (#16) and batched node merges (#12). RelationUpsertMany
-- spent most of its time in function calls and checks that gave nothing the
-- statement does not already guarantee, and batched merges rewrote most
-- node rows off their page. The merge and resolution rules are unchanged.

-- ref_node is resolve_ref as a one-row table function. A SQL scalar
-- function with sub-selects is never inlined, so each resolve_ref call ran
-- through the SQL function executor; ref_node is inlined into the calling
-- statement (FROM ref_node(x) or a LATERAL join), its two lookups becoming
-- index probes of that statement's plan. The LIKE test spares the regular
-- expression (slow with its bounded repeats) for every reference that is
-- not shaped like node--<uuid>; it accepts exactly what the expression does.
-- +goose StatementBegin
CREATE FUNCTION ref_node(ref text) RETURNS TABLE (node_id uuid)
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
COMMENT ON FUNCTION ref_node(text) IS 'resolve_ref as an inlinable one-row table function: (node id or NULL) for a relationship endpoint reference.';

-- resolve_ref keeps its signature for the statements that call it once;
-- the rule itself is written once, in ref_node.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION resolve_ref(ref text) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT r.node_id FROM ref_node(ref) AS r
$$;
-- +goose StatementEnd

-- merge_records is never given a NULL record by the statements (ON
-- CONFLICT merges two rows; aggregates merge rows), so it can be STRICT.
-- That lets merge_records_agg take a group's first record as its state
-- without a call, so a one-row group (almost every group of a batch: batches
-- are unique by reference triple) costs no PL/pgSQL call. Merging
-- non-NULL records is unchanged.
ALTER FUNCTION merge_records(merge_record, merge_record) STRICT;

-- relation_records' foreign keys to nodes are replaced by a statement
-- trigger on nodes that deletes the records of deleted nodes (what ON
-- DELETE CASCADE did). The checks cost two index probes and row locks per
-- record written and could not fail: RelationUpsertMany and RelationRekey
-- take src_id and dst_id from resolve_ref/ref_node in the same statement,
-- through node_aliases (whose foreign key to nodes remains) or an existing
-- node--<uuid>, and the same statement writes relations, whose foreign keys
-- remain, with the same ids. Nodes are never deleted by the product; the
-- trigger keeps a manual DELETE FROM nodes from leaving records behind (it
-- reads relation_records by src_id through relation_records_key_idx and by
-- dst_id without an index, as the cascade did: no index is kept for it on
-- the write path).
ALTER TABLE relation_records DROP CONSTRAINT relation_records_src_id_fkey;
ALTER TABLE relation_records DROP CONSTRAINT relation_records_dst_id_fkey;
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

-- A batch that merges into every node of a page rewrites every row of it in
-- one transaction, so none of the old versions can be pruned yet: with a
-- fifth of the page free (00006) only about a quarter of the new versions
-- fit on their page as heap-only tuples (HOT), and each of the others adds
-- entries to every index of nodes, the trigram index among them. With half
-- of each page free, a batch merges into all of a page's rows as HOT
-- updates (4,999 of 5,000 in BenchmarkNodeUpsert's merge pass, against
-- 1,366 with 80). Row-by-row merges did not need it: each commits alone,
-- and the next prunes the page. The heap of nodes grows by about 1.6x; pages
-- written before this migration keep the old fill.
ALTER TABLE nodes SET (fillfactor = 50);

-- +goose Down
ALTER TABLE nodes SET (fillfactor = 80);
DROP TRIGGER nodes_delete_relation_records ON nodes;
DROP FUNCTION relation_records_of_deleted_nodes();
DELETE FROM relation_records r WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = r.src_id)
                                  OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = r.dst_id);
ALTER TABLE relation_records ADD CONSTRAINT relation_records_src_id_fkey FOREIGN KEY (src_id) REFERENCES nodes (id) ON DELETE CASCADE;
ALTER TABLE relation_records ADD CONSTRAINT relation_records_dst_id_fkey FOREIGN KEY (dst_id) REFERENCES nodes (id) ON DELETE CASCADE;
ALTER FUNCTION merge_records(merge_record, merge_record) CALLED ON NULL INPUT;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION resolve_ref(ref text) RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (SELECT a.node_id FROM node_aliases a WHERE a.source_id = ref),
        (SELECT n.id FROM nodes n
         WHERE n.id = CASE
             WHEN ref ~ '^node--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
             THEN substr(ref, 7)::uuid
         END))
$$;
-- +goose StatementEnd
DROP FUNCTION ref_node(text);

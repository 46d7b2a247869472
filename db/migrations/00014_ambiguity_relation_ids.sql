-- +goose Up
-- alias_claims records every name alias (graph.NameAlias:
-- "intrusion-set:berserk bear") that a live entity keyed by an external id
-- of its own (an ATT&CK id) claims, one row per (alias, node). An alias two
-- or more nodes claim is ambiguous: it merges nothing, and a lookup by it
-- lists the candidates. Rows are only ever added (a set union), so what is
-- ambiguous does not depend on the order feeds load in.
CREATE TABLE alias_claims (
    alias   text NOT NULL,
    node_id uuid NOT NULL,
    PRIMARY KEY (alias, node_id)
);
CREATE INDEX alias_claims_node_idx ON alias_claims (node_id);
COMMENT ON TABLE alias_claims IS 'Name aliases claimed by entities with an external id of their own; an alias with two or more claims is ambiguous.';

-- relation_ids keeps the identifiers feeds gave their relationships (STIX
-- relationship ids) with the references the feed wrote (source ids,
-- resolved through node_aliases when read), so a later object naming a
-- relationship finds it. A relationship id restated with other endpoints
-- keeps the smallest (relation, src_ref, dst_ref), whatever the order.
CREATE TABLE relation_ids (
    source_id text NOT NULL PRIMARY KEY,
    src_ref   text NOT NULL,
    relation  text NOT NULL,
    dst_ref   text NOT NULL,
    source    text NOT NULL DEFAULT ''
);
COMMENT ON TABLE relation_ids IS 'Relationship ids from feeds and the references (src_ref, relation, dst_ref) they stand for.';

-- +goose Down
DROP TABLE relation_ids;
DROP TABLE alias_claims;

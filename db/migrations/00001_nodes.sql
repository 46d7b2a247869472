-- +goose Up
CREATE TABLE nodes (
    id          uuid        PRIMARY KEY,
    kind        text        NOT NULL CHECK (kind <> ''),
    key         text        NOT NULL CHECK (key <> ''),
    name        text        NOT NULL DEFAULT '',
    props       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    labels      text[]      NOT NULL DEFAULT '{}',
    confidence  smallint             CHECK (confidence BETWEEN 0 AND 100),
    tlp         text,
    first_seen  timestamptz NOT NULL DEFAULT now(),
    last_seen   timestamptz NOT NULL DEFAULT now(),
    sources     text[]      NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT nodes_seen_order CHECK (first_seen <= last_seen)
);
-- UNIQUE (kind, key) through a hash of the key: keys of composite observables
-- (an e-mail message's canonical JSON) can exceed a btree entry's 2,704 bytes.
CREATE UNIQUE INDEX nodes_kind_key_key ON nodes (kind, md5(key));

COMMENT ON TABLE nodes IS 'One row per entity of the threat graph (file, hash, IP, domain, process, malware, threat actor, CVE, indicator, ...). The same entity from two feeds is one row.';
COMMENT ON COLUMN nodes.id IS 'Deterministic id: the STIX 2.1 UUIDv5 for observables, a UUIDv5 of kind and normalized name or external id for named objects.';
COMMENT ON COLUMN nodes.kind IS 'Node kind, a STIX type name where one exists (ipv4-addr, file, malware, intrusion-set, ...).';
COMMENT ON COLUMN nodes.key IS 'Natural key the id is derived from, unique within kind (an address, a hash, a normalized name, a CVE id; enforced by the unique index nodes_kind_key_key on (kind, md5(key))).';
COMMENT ON COLUMN nodes.props IS 'Every property the model has no column for, custom x_ fields included; never dropped.';
COMMENT ON COLUMN nodes.confidence IS 'Highest confidence (0-100) any source gave; NULL when no source said. Name and props come from the record with the highest (confidence, last_seen); others only add props keys that are missing.';
COMMENT ON COLUMN nodes.tlp IS 'Most restrictive TLP marking any source gave (clear, green, amber, amber+strict, red); NULL when unmarked.';
COMMENT ON COLUMN nodes.first_seen IS 'Earliest time any source saw the entity.';
COMMENT ON COLUMN nodes.last_seen IS 'Latest time any source saw the entity.';
COMMENT ON COLUMN nodes.sources IS 'Sorted set of the feeds and agents that reported the entity.';

-- tlp_rank orders TLP markings from least to most restrictive, so merges keep the strictest.
-- +goose StatementBegin
CREATE FUNCTION tlp_rank(tlp text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE lower(tlp)
        WHEN 'clear' THEN 1 WHEN 'white' THEN 1
        WHEN 'green' THEN 2
        WHEN 'amber' THEN 3
        WHEN 'amber+strict' THEN 4
        WHEN 'red' THEN 5
        ELSE 0
    END
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION tlp_rank(text) IS 'Orders TLP markings from least (clear/white = 1) to most restrictive (red = 5); unknown or NULL = 0.';

-- +goose Down
DROP FUNCTION tlp_rank(text);
DROP TABLE nodes;

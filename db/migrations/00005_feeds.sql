-- +goose Up
CREATE TABLE feeds (
    name           text        PRIMARY KEY CHECK (name <> ''),
    format         text        NOT NULL CHECK (format IN ('stix', 'misp', 'telemetry')),
    location       text        NOT NULL DEFAULT '',
    content_hash   text        NOT NULL DEFAULT '',
    last_status    text        NOT NULL DEFAULT 'never' CHECK (last_status IN ('never', 'running', 'ok', 'failed', 'skipped')),
    last_error     text        NOT NULL DEFAULT '',
    last_report    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    last_loaded_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE feeds IS 'Load bookkeeping: one row per configured feed, so an unchanged feed is skipped and every load leaves its report.';
COMMENT ON COLUMN feeds.content_hash IS 'SHA-256 (hex) of the feed content (file, or manifest for a MISP feed directory) at the last successful load.';
COMMENT ON COLUMN feeds.last_report IS 'The load report of the last run: records read, written, merged, dropped by reason, bytes, duration.';

CREATE TABLE feed_items (
    feed         text        NOT NULL REFERENCES feeds (name) ON DELETE CASCADE,
    item         text        NOT NULL,
    content_hash text        NOT NULL DEFAULT '',
    source_ts    timestamptz,
    loaded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (feed, item)
);

COMMENT ON TABLE feed_items IS 'Per-item bookkeeping inside a feed (one MISP event of a feed directory), so a changed feed reloads only the items that changed.';
COMMENT ON COLUMN feed_items.item IS 'Item identifier inside the feed, e.g. a MISP event uuid.';
COMMENT ON COLUMN feed_items.source_ts IS 'The item''s own timestamp as the feed states it (MISP manifest timestamp).';

-- +goose Down
DROP TABLE feed_items;
DROP TABLE feeds;

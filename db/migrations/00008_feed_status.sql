-- +goose Up
-- Feed status (intel feeds): a load stopped by SIGINT/SIGTERM (or a
-- cancelled context) is recorded as interrupted, and a running load names
-- the process doing it, so a load whose process is gone (SIGKILL, a crash,
-- a reboot) can be shown as stale instead of running forever.
ALTER TABLE feeds DROP CONSTRAINT feeds_last_status_check;
ALTER TABLE feeds ADD CONSTRAINT feeds_last_status_check
    CHECK (last_status IN ('never', 'running', 'ok', 'failed', 'skipped', 'interrupted'));
ALTER TABLE feeds
    ADD COLUMN running_host      text NOT NULL DEFAULT '',
    ADD COLUMN running_pid       integer,
    ADD COLUMN running_pid_start bigint,
    ADD COLUMN started_at        timestamptz,
    ADD COLUMN heartbeat_at      timestamptz;

COMMENT ON COLUMN feeds.running_host IS 'Host name of the process running the current or last load.';
COMMENT ON COLUMN feeds.running_pid IS 'Process id of the process running the current or last load.';
COMMENT ON COLUMN feeds.running_pid_start IS 'Start time of that process (Linux: clock ticks after boot, /proc/PID/stat field 22), to tell it from a later process with the same id; NULL when unknown.';
COMMENT ON COLUMN feeds.started_at IS 'When the current or last load started.';
COMMENT ON COLUMN feeds.heartbeat_at IS 'Last sign of life of a running load (renewed while it runs); a running load from another host without a recent heartbeat is stale.';

-- +goose Down
UPDATE feeds SET last_status = 'failed', last_error = 'interrupted' WHERE last_status = 'interrupted';
ALTER TABLE feeds
    DROP COLUMN heartbeat_at,
    DROP COLUMN started_at,
    DROP COLUMN running_pid_start,
    DROP COLUMN running_pid,
    DROP COLUMN running_host;
ALTER TABLE feeds DROP CONSTRAINT feeds_last_status_check;
ALTER TABLE feeds ADD CONSTRAINT feeds_last_status_check
    CHECK (last_status IN ('never', 'running', 'ok', 'failed', 'skipped'));

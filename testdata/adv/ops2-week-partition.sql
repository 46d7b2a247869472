-- A partition that intel partitions ensure did not make: another name, a
-- range of seven days (adjust the dates to cover days of the ensure window,
-- today-1 .. today+6). Before 6e662a7, ensure and every command's startup
-- upkeep failed with "would overlap partition" (exit 1).
CREATE TABLE telemetry_week (LIKE telemetry_edges INCLUDING ALL);
ALTER TABLE telemetry_edges ATTACH PARTITION telemetry_week
  FOR VALUES FROM ('2026-12-06') TO ('2026-12-13');
-- Then: a day held in part only (still an error, by design)
-- CREATE TABLE telemetry_half PARTITION OF telemetry_edges
--   FOR VALUES FROM ('2026-12-13') TO ('2026-12-13 12:00+00');

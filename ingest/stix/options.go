package stix

import "github.com/ransomeye/intel/ingest/engine"

// Options configure Load: the engine's options (feed name, workers, batch
// size, record size limit, logger, progress). STIX has no options of its
// own. The zero value is usable: one worker, batches of
// engine.DefaultBatchSize, records up to engine.DefaultMaxRecordBytes.
type Options = engine.Options

package engine

import (
	"log/slog"
	"time"
)

// Defaults of Options.
const (
	// DefaultWorkers is the worker count when Options.Workers is zero.
	DefaultWorkers = 1
	// DefaultBatchSize is the batch size when Options.BatchSize is zero.
	DefaultBatchSize = 500
	// DefaultMaxRecordBytes is the record size limit when
	// Options.MaxRecordBytes is zero.
	DefaultMaxRecordBytes = 64 << 20
	// DefaultMaxDepth is the nesting limit when Options.MaxDepth is zero.
	DefaultMaxDepth = 1000
	// MaxMaxDepth is the highest nesting limit Options.MaxDepth can set:
	// the JSON decoder's own limit (10,000 levels) must never be reached.
	MaxMaxDepth = 9000
)

// Progress is called with the bytes and records read so far: from the
// reading goroutine every chunk of records, and once at the end of a load.
// It must return quickly.
type Progress func(bytes, records int64)

// Options configure a load. The zero value is usable. The engine does not
// measure the machine: a caller that wants tuned figures (the CLI, from
// package tuning) passes them.
type Options struct {
	// Feed names the feed in logs, in the report and in the sources of
	// every node and relation written.
	Feed string
	// Workers is the number of goroutines that decode and map records;
	// 0 means DefaultWorkers.
	Workers int
	// BatchSize is the number of graph records per write to the sink; 0
	// means DefaultBatchSize.
	BatchSize int
	// Writers is the number of batches written to the sink at once, each
	// on a goroutine of its own while the next batch is collected; 0 or 1
	// writes one batch at a time on the collecting goroutine. The records
	// written are the same whatever the count, and so are the batches but
	// that a relation naming a node of one of the last Writers-1 batches
	// started (which may still be being written) waits for a later batch,
	// so that the store need not park it. Batch k starts only once batch
	// k-Writers has ended, so the batches depend on the input and the count
	// alone, never on timing. A sink
	// written to concurrently must give one result whatever the order its
	// writes commit in (store.Store does once its ReleasePending has run,
	// which package ingest calls after such a load).
	Writers int
	// RelationsWaitAhead makes a relation naming a node no record has
	// given yet wait until one does (at most 8 batches of relations wait;
	// see relationsAhead), rather than go to the sink beside its record,
	// where a store parks it until its endpoint comes. For formats whose
	// records name objects given later in the input (STIX: a collection's
	// object refs, relationships before their targets); the memory it
	// takes grows with what waits, so formats whose relations name their
	// own record's nodes (MISP) leave it off.
	RelationsWaitAhead bool
	// MaxRecordBytes is the size above which a record is dropped (under
	// ReasonTooLarge) without being buffered whole; 0 means
	// DefaultMaxRecordBytes.
	MaxRecordBytes int64
	// MaxDepth is the deepest nesting of JSON arrays and objects read,
	// counted from the top of the document (a record in a STIX bundle
	// starts at level 3, a MISP attribute at about 6). A record that
	// nests deeper is dropped (under ReasonTooDeep) without being
	// buffered whole; 0 means DefaultMaxDepth, and values above
	// MaxMaxDepth mean MaxMaxDepth.
	MaxDepth int
	// Logger receives a WARN for every dropped record; nil means
	// slog.Default().
	Logger *slog.Logger
	// Progress, when set, receives the bytes and records read so far.
	Progress Progress
	// IdleFlush, for RunTelemetry, is how long the source may emit nothing
	// before the edges read so far go to the writer to be written at once
	// (store.ErrFlush), rather than wait for a full chunk: a stream from
	// a producer that pauses (agent | intel ingest telemetry -) is then
	// stored within about that time. 0 never flushes early. Run ignores
	// it: its batches depend on the input alone.
	IdleFlush time.Duration
	// AtEnd, when set, runs once after the input's last record, on the
	// goroutine and in the way of a Result's Ordered hook (also when the
	// source stopped with an error, not when the load stopped for the
	// context or the sink): what it puts in the Result's Batch is written
	// with the rest. For formats that hold records until a later one says
	// how to write them (STIX: a network-traffic until its endpoints'
	// objects). A format's loader sets it; Run alone reads it.
	AtEnd func(*Result)
}

// WithDefaults returns o with its zero fields filled.
func (o Options) WithDefaults() Options {
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	o.MaxDepth = min(o.MaxDepth, MaxMaxDepth)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

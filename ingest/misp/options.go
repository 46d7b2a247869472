package misp

import (
	"log/slog"
	"time"

	"github.com/ransomeye/intel/tuning"
)

// DefaultMaxRecordBytes is the default limit on the size of one record (an
// attribute, an object, a galaxy, a galaxy cluster) in the input.
const DefaultMaxRecordBytes = 64 << 20

// Drop reasons counted in pipeline.Report.Dropped.
const (
	// ReasonDeleted counts attributes, objects and references flagged
	// "deleted": true. They are skipped on purpose and logged at DEBUG only.
	ReasonDeleted = "deleted"
	// ReasonMalformed counts records that are valid JSON but not the shape
	// of their MISP record (an attribute that is a string, "Tag": 5, ...).
	ReasonMalformed = "malformed"
	// ReasonMissingType counts attributes without a type and objects
	// without a name.
	ReasonMissingType = "missing-type"
	// ReasonMissingValue counts attributes with an empty value.
	ReasonMissingValue = "missing-value"
	// ReasonInvalidValue counts attributes whose value is not valid for
	// their type (ip-dst "not-an-ip", md5 of 31 characters, ...).
	ReasonInvalidValue = "invalid-value"
	// ReasonMissingUUID counts events, references and galaxy clusters that
	// cannot be identified.
	ReasonMissingUUID = "missing-uuid"
	// ReasonTooLarge counts records larger than Options.MaxRecordBytes.
	ReasonTooLarge = "too-large"
	// ReasonMissingEventFile counts manifest entries whose event file is
	// missing from a feed directory.
	ReasonMissingEventFile = "missing-event-file"
)

// Options configure a load. The zero value is usable.
type Options struct {
	// Feed names the feed in logs, reports and node sources. Default: the
	// file or directory name, or "misp".
	Feed string
	// Workers is the number of goroutines that decode and map records.
	// Default: tuning.PlanFor(tuning.Detect()).ParserWorkers.
	Workers int
	// BatchSize is the number of graph records per write to the sink.
	// Default: the tuning plan's BatchSize.
	BatchSize int
	// MaxRecordBytes bounds one record (attribute, object, galaxy, galaxy
	// cluster); larger records are dropped with a WARN. Memory use is bounded
	// by this and the worker count, not by the size of an event or a file.
	// Default: DefaultMaxRecordBytes.
	MaxRecordBytes int64
	// Strict makes a trailing comma ("},\n ]") a syntax error. By default it
	// is tolerated, logged at WARN and read as white space, because real
	// exports carry them (see the package documentation).
	Strict bool
	// Only restricts LoadDir to these event uuids (as listed in the
	// manifest); nil loads every event.
	Only []string
	// Logger receives WARN lines for dropped records; default slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called from the reading goroutine at most every
	// progressInterval and once at the end with the bytes and records read
	// so far (as the STIX loader calls it). It must return quickly.
	Progress func(bytes, records int64)
	// Tally, when set, is filled with the counts of what was read by record
	// type, attribute type and object name.
	Tally *Tally
	// OnEvent, when set, is called once per event that has been read to its
	// end (or whose file failed in LoadDir), after its records were queued
	// for the sink. A feed manager records the event's timestamp here.
	OnEvent func(EventResult)
}

// progressInterval is the least time between two Progress calls.
const progressInterval = 200 * time.Millisecond

// EventResult says that one event was loaded, or failed.
type EventResult struct {
	// UUID is the event uuid ("" for an event without one).
	UUID string
	// Info is the event title.
	Info string
	// Timestamp is the event's MISP timestamp (its last change), zero when
	// absent.
	Timestamp time.Time
	// File is the event file in LoadDir, empty otherwise.
	File string
	// Err is set when the event could not be read to its end.
	Err error
}

// withDefaults fills the zero fields.
func (o Options) withDefaults(feed string) Options {
	if o.Feed == "" {
		o.Feed = feed
	}
	if o.Feed == "" {
		o.Feed = "misp"
	}
	if o.Workers < 1 || o.BatchSize < 1 {
		workers, batch := 1, 500
		if res, err := tuning.Detect(); err == nil {
			if plan, err := tuning.PlanFor(res); err == nil {
				workers, batch = plan.ParserWorkers, plan.BatchSize
			}
		}
		if o.Workers < 1 {
			o.Workers = workers
		}
		if o.BatchSize < 1 {
			o.BatchSize = batch
		}
	}
	if o.MaxRecordBytes <= 0 {
		o.MaxRecordBytes = DefaultMaxRecordBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

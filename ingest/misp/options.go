package misp

import (
	"time"

	"github.com/ransomeye/intel/ingest/engine"
)

// Drop reasons of MISP records (engine.Report.Dropped keys), besides the
// shared engine.ReasonNotObject (a record that is not a JSON object),
// engine.ReasonInvalidProperty (valid JSON but not the shape of its MISP
// record: an attribute whose value is an object, "Tag": 5, ...),
// engine.ReasonMissingType (attributes without a type, objects without a
// name), engine.ReasonMissingID (events, references, galaxy clusters and
// sightings that cannot be identified) and engine.ReasonTooLarge (records
// larger than Options.MaxRecordBytes).
const (
	// ReasonDeleted counts attributes, objects and references flagged
	// "deleted": true. They are skipped on purpose and logged at DEBUG only.
	ReasonDeleted engine.Reason = "deleted"
	// ReasonMissingValue counts attributes with an empty value.
	ReasonMissingValue engine.Reason = "missing-value"
	// ReasonInvalidValue counts attributes whose value is not valid for
	// their type (ip-dst "not-an-ip", md5 of 31 characters, ...).
	ReasonInvalidValue engine.Reason = "invalid-value"
	// ReasonInvalidTimestamp counts attributes (first_seen, last_seen,
	// timestamp) and sightings (date_sighting) whose time is present but
	// unusable: not a time, a unix time out of range ("1e999999"), or
	// 0001-01-01T00:00:00Z, the zero time the graph reads as no time. The
	// same in an event, object or reference drops the field alone, with a
	// WARN under this reason, and the record loads without that time.
	ReasonInvalidTimestamp engine.Reason = "invalid-timestamp"
	// ReasonMissingEventFile counts manifest entries whose event file is
	// missing from a feed directory.
	ReasonMissingEventFile engine.Reason = "missing-event-file"
	// ReasonUnsafeEventFile counts event files of a feed directory refused
	// unread: a symbolic link leading outside the directory, or not a
	// regular file (a FIFO, a device, a directory).
	ReasonUnsafeEventFile engine.Reason = "unsafe-event-file"
	// ReasonAttributesNotIncluded counts, among the parts dropped, the
	// events listed with an attribute_count above zero and no Attribute or
	// Object list, alone in a list (an /events/index answer, a
	// metadata-only restSearch): the event's own node, tags and creator
	// load, its attributes are not in the input. Loaded so, a feed would
	// otherwise look whole.
	ReasonAttributesNotIncluded engine.Reason = "attributes-not-included"
)

// Options configure a load: the engine's options (feed name, workers,
// batch size, record size limit, logger, progress) and MISP's own. The zero
// value is usable.
type Options struct {
	engine.Options
	// Strict makes a trailing comma ("},\n ]") a syntax error. By default it
	// is tolerated, logged at WARN and read as white space, because real
	// exports carry them (see the package documentation).
	Strict bool
	// Only restricts LoadDir to these event uuids (as listed in the
	// manifest); nil loads every event.
	Only []string
	// Tally, when set, is filled with the counts of what was read by record
	// type, attribute type and object name.
	Tally *Tally
	// OnEvent, when set, is called once per event that has been read to its
	// end (or whose file failed in LoadDir), on the goroutine that called
	// the load. LoadFile calls it once the event's records were queued for
	// the sink; LoadDir once its file's records were written, and with Err
	// set (not written whole) when a write failed or the load stopped
	// before they were. A feed manager records the event as loaded here.
	OnEvent func(EventResult)
}

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

// withDefaults fills the zero fields; the feed is named feed, else "misp".
func (o Options) withDefaults(feed string) Options {
	if o.Feed == "" {
		o.Feed = feed
	}
	if o.Feed == "" {
		o.Feed = "misp"
	}
	o.Options = o.WithDefaults()
	return o
}

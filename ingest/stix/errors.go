package stix

import (
	"errors"
	"fmt"

	"github.com/ransomeye/intel/ingest/engine"
)

// Sentinel errors of the STIX loader. A syntax error, a truncated feed or
// a read error stops the load with an *engine.OffsetError wrapping
// engine.engine.ErrSyntax or engine.engine.ErrRead.
var (
	// ErrTokenTooLarge means a single token outside any record (a bundle
	// property, a member name) is larger than Options.MaxRecordBytes.
	ErrTokenTooLarge = errors.New("token larger than the record size limit")

	// errRecordTooLarge is what the guarded source returns to the JSON
	// decoder when a value grows past the record size limit; the reader
	// then skips the value without buffering it.
	errRecordTooLarge = errors.New("record larger than the size limit")
	// errLineEnd is what the source returns in line mode (NDJSON) when
	// asked for bytes past the end of the current line.
	errLineEnd = errors.New("value does not end on its line")
)

// Reasons under which a STIX record is dropped (engine.Report.Dropped
// keys), besides the shared engine.ReasonInvalidJSON (an NDJSON line that
// is not valid JSON), engine.engine.ReasonNotObject, engine.engine.ReasonTooLarge,
// engine.engine.ReasonMissingType ("type" absent or empty), engine.engine.ReasonMissingID
// ("id" absent or empty) and engine.engine.ReasonInvalidProperty (a common
// property of the wrong JSON type or out of range).
const (
	// ReasonInvalidID: an "id" that is not "<type>--<uuid>".
	ReasonInvalidID engine.Reason = "invalid-id"
	// ReasonIDTypeMismatch: an "id" whose type part differs from "type".
	ReasonIDTypeMismatch engine.Reason = "id-type-mismatch"
	// ReasonInvalidTimestamp: a timestamp that is not RFC 3339, or
	// timestamps out of order (modified before created, last seen before
	// first seen, stop before start).
	ReasonInvalidTimestamp engine.Reason = "invalid-timestamp"
	// ReasonMissingProperty: a property the object cannot be mapped
	// without (relationship_type, source_ref, sighting_of_ref, ...).
	ReasonMissingProperty engine.Reason = "missing-property"
	// ReasonInvalidReference: a relationship or sighting whose endpoint is
	// not a STIX identifier.
	ReasonInvalidReference engine.Reason = "invalid-reference"
)

// Reasons under which a part of a STIX record is dropped while the record
// loads (engine.Report.PartsDropped keys).
const (
	// ReasonInvalidPattern: an indicator whose STIX pattern is not
	// understood (invalid STIX patterning, such as an unquoted
	// hashes.SHA-256 path): the indicator loads, no observable is taken
	// from its pattern.
	ReasonInvalidPattern engine.Reason = "invalid-pattern"
	// ReasonInvalidPatternValue: a value a pattern compares that is not
	// valid for its kind (a 31-digit MD5): no node for it.
	ReasonInvalidPatternValue engine.Reason = "invalid-pattern-value"
	// ReasonInvalidHash: a hash of an observable object (a file's,
	// an artifact's, a certificate's) that is not valid for its algorithm
	// (a 40-digit MD5, a SHA-256 of 63 digits): no hash node for it; the
	// object loads with it in its props.
	ReasonInvalidHash engine.Reason = "invalid-hash"
)

// recordError says why one record is dropped.
type recordError struct {
	reason engine.Reason
	detail string
}

func (e *recordError) Error() string { return string(e.reason) + ": " + e.detail }

func dropf(reason engine.Reason, format string, args ...any) *recordError {
	return &recordError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

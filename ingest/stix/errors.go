package stix

import (
	"errors"
	"fmt"
)

// Sentinel errors of the STIX loader.
var (
	// ErrSyntax means the feed holds a JSON syntax error (or ends early)
	// that makes the rest of it unreadable. The error returned by Load is an
	// *OffsetError that names the byte offset and wraps ErrSyntax. A syntax
	// error in an NDJSON line does not stop the feed: the line is dropped
	// under ReasonInvalidJSONLine.
	ErrSyntax = errors.New("json syntax error")
	// ErrRead means reading the feed failed (an I/O error of the reader).
	ErrRead = errors.New("read feed")
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

// OffsetError is the error that stopped a feed at a byte offset: a JSON
// syntax error, a truncated feed or a read error. Everything before Offset
// was loaded.
type OffsetError struct {
	// Feed is the feed name from Options.Feed.
	Feed string
	// Offset is the byte offset (from the start of the feed, 0-based) at or
	// after which reading failed.
	Offset int64
	// Records is the number of records read before the error.
	Records int64
	// Err is the underlying error; it wraps ErrSyntax or ErrRead.
	Err error
}

func (e *OffsetError) Error() string {
	return fmt.Sprintf("read stix feed %q at byte offset %d: %v", e.Feed, e.Offset, e.Err)
}

func (e *OffsetError) Unwrap() error { return e.Err }

// Reasons under which a record is dropped (pipeline.Report.Dropped keys).
const (
	// ReasonNotObject: a record that is not a JSON object.
	ReasonNotObject = "not-an-object"
	// ReasonTooLarge: a record larger than Options.MaxRecordBytes.
	ReasonTooLarge = "record-too-large"
	// ReasonInvalidJSONLine: an NDJSON line that is not valid JSON (garbage,
	// a truncated object, an unterminated string), or whose value does not
	// end on the line.
	ReasonInvalidJSONLine = "invalid-json-line"
	// ReasonMissingType: no "type", or an empty one.
	ReasonMissingType = "missing-type"
	// ReasonMissingID: no "id", or an empty one.
	ReasonMissingID = "missing-id"
	// ReasonInvalidID: an "id" that is not "<type>--<uuid>".
	ReasonInvalidID = "invalid-id"
	// ReasonIDTypeMismatch: an "id" whose type part differs from "type".
	ReasonIDTypeMismatch = "id-type-mismatch"
	// ReasonInvalidTimestamp: a timestamp that is not RFC 3339, or
	// timestamps out of order (modified before created, last seen before
	// first seen, stop before start).
	ReasonInvalidTimestamp = "invalid-timestamp"
	// ReasonInvalidProperty: a common property of the wrong JSON type or
	// out of range (confidence outside 0-100, labels not strings, ...).
	ReasonInvalidProperty = "invalid-property"
	// ReasonMissingProperty: a property the object cannot be mapped
	// without (relationship_type, source_ref, sighting_of_ref, ...).
	ReasonMissingProperty = "missing-property"
	// ReasonInvalidReference: a relationship or sighting whose endpoint is
	// not a STIX identifier.
	ReasonInvalidReference = "invalid-reference"
)

// recordError says why one record is dropped.
type recordError struct {
	reason string
	detail string
}

func (e *recordError) Error() string { return e.reason + ": " + e.detail }

func dropf(reason, format string, args ...any) *recordError {
	return &recordError{reason: reason, detail: fmt.Sprintf(format, args...)}
}

package engine

import (
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// Reason says why a record was dropped: the key of Report.Dropped. It is
// graph.DropReason, the type the store's reasons for invalid telemetry
// edges (graph.TelemetryEdge.InvalidReason) have too, so every report of
// every format and the store count drops under one type. Reasons are
// constants, never built from input text (the details go to the WARN log
// line). The reasons formats share are here; each format adds its own as
// typed constants in its package.
type Reason = graph.DropReason

// Reasons shared by the formats.
const (
	// ReasonInvalidJSON: a record that is not valid JSON where the rest of
	// the feed can still be read, such as an NDJSON line (garbage, a
	// truncated object, an unterminated string, a value not ending on its
	// line).
	ReasonInvalidJSON Reason = "invalid-json"
	// ReasonNotObject: a record that is valid JSON but not a JSON object.
	ReasonNotObject Reason = "not-an-object"
	// ReasonTooLarge: a record larger than Options.MaxRecordBytes, or
	// holding a value larger than the database's index for it takes
	// (store.ReasonTooLarge, the same reason).
	ReasonTooLarge Reason = store.ReasonTooLarge
	// ReasonTooDeep: a record whose arrays and objects nest deeper than
	// Options.MaxDepth.
	ReasonTooDeep Reason = "too-deep"
	// ReasonMissingType: a record without its type (STIX "type", a MISP
	// attribute's type or object's name).
	ReasonMissingType Reason = "missing-type"
	// ReasonMissingID: a record that cannot be identified (no STIX "id", a
	// MISP event, reference, cluster or sighting without a valid uuid).
	ReasonMissingID Reason = "missing-id"
	// ReasonInvalidProperty: a property of the wrong JSON type or out of
	// range (confidence outside 0-100, labels not strings, a MISP "Tag":
	// 5), so the record is not the shape of its kind.
	ReasonInvalidProperty Reason = "invalid-property"
	// ReasonInternalError: a record whose mapping panicked (a bug, logged
	// with its stack); the record is dropped alone and the feed goes on.
	ReasonInternalError Reason = "internal-error"
)

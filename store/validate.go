package store

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ransomeye/intel/graph"
)

// The reasons a record PostgreSQL would reject is dropped for (see
// CheckNode, CheckRelation, CheckEdge), and the reason of the safety net
// that finds a rejected record by splitting its batch.
const (
	// ReasonInvalidText: a text field (kind, key, name, label, source,
	// alias, relation type or reference, agent id) holds a NUL byte or
	// is not valid UTF-8, which a PostgreSQL text column refuses.
	ReasonInvalidText graph.DropReason = "invalid-text"
	// ReasonInvalidProps: props that jsonb refuses: a NUL (\u0000) in a
	// key or string, a number that is not finite, a value that does not
	// marshal to JSON.
	ReasonInvalidProps graph.DropReason = "invalid-props"
	// ReasonInvalidRecord: a record that breaks a rule of the model a
	// check constraint enforces (no id, an empty kind, key or relation
	// type, a confidence outside 0-100, last seen before first seen) or
	// a time outside timestamptz's range.
	ReasonInvalidRecord graph.DropReason = "invalid-record"
	// ReasonTooLarge: a record holding a value larger than the index it
	// goes into takes (see CheckNode, CheckRelation and the limits
	// below: a hash, a source id or name alias, a relation type or
	// reference, a relationship id). It is the reason, and the text,
	// of the loaders' records over their record limit
	// (engine.ReasonTooLarge): both are too large to store.
	ReasonTooLarge graph.DropReason = "too-large"
	// ReasonRejected: a record the database refused with a data error
	// (SQLSTATE class 22 or 23) that validation did not foresee; the store
	// found it by splitting its batch and wrote the rest.
	ReasonRejected graph.DropReason = "rejected-by-database"
)

// Reasons returns every reason the store drops a record for: those above
// and those of graph.TelemetryEdge.InvalidReason.
func Reasons() []graph.DropReason {
	return []graph.DropReason{ReasonInvalidText, ReasonInvalidProps, ReasonInvalidRecord, ReasonTooLarge, ReasonRejected,
		graph.ReasonMissingAgentID, graph.ReasonMissingRelation, graph.ReasonMissingObservedAt,
		graph.ReasonInvalidSrc, graph.ReasonInvalidDst, graph.ReasonInvalidImplied}
}

// The size limits of the values that go into btree indexes. PostgreSQL
// refuses a btree index row of more than 2,704 bytes (a third of an 8 kB
// page: "index row size N exceeds btree version 4 maximum 2704", SQLSTATE
// 54000), and any index row over 8,191 bytes ("index row requires N
// bytes"). A row holds an 8-byte header, each text with a 4-byte length
// and padding to 4 bytes, each uuid in 16 bytes. A text longer than 510
// bytes may be compressed in its index row; the limits count bytes as
// written, so a value passes or fails whatever its content. The indexes a
// feed value reaches (migrations 00001-00024), and the limit each is
// checked against here:
//
//   - node_aliases_pkey (source_id): every alias of a node (STIX id, MISP
//     uuid, lookup alias), at most MaxRefBytes;
//   - alias_claims_pkey, name_uses_pkey (alias, node_id) and
//     ambiguous_aliases_pkey (alias): a name alias (graph.NameAlias) a node
//     claims (among its aliases) or uses (graph.NameUses: its name, aliases,
//     synonyms), at most MaxRefBytes;
//   - nodes_hash_digest (hash_digest(key), hash nodes): a hash node's key,
//     at most MaxIndexedBytes (nodes_kind_key_key indexes md5(key), of any
//     key's length, and the trigram index nodes_lookup_trgm indexes
//     trigrams, so other keys and names are not bounded here);
//   - relations_pkey and relations_dst_idx (src_id, relation, dst_id): a
//     relation type, and relation_records_pkey and pending_relations_pkey
//     (src_ref, relation, dst_ref), with relation_records_dst_ref_idx and
//     pending_relations_dst_ref_idx (dst_ref): a relation's references
//     (each at most MaxRefBytes) and type, together at most
//     MaxIndexedBytes;
//   - relation_ids_pkey (source_id): a relationship id (Relation.IDs), at
//     most MaxRefBytes.
//
// feeds, feed_items, telemetry_checkpoints and partition_retention are
// keyed by names the operator gives (a feed's name or path) and a MISP
// event's uuid; telemetry_edges indexes uuids and times only.
const (
	// MaxIndexedBytes bounds the text of one btree index row: 2,704 less
	// the row header, three text lengths and their padding, and a uuid.
	MaxIndexedBytes = 2600
	// MaxRefBytes bounds one reference or alias.
	MaxRefBytes = 2000
)

// CheckNode returns why PostgreSQL would reject n ("" when it would not)
// and the details for the log line. It is the one validation of the write
// path: the loaders (ingest/engine) apply it to every record before the
// sink, a dry run included, and Write applies it again.
func CheckNode(n *graph.Node) (graph.DropReason, error) {
	if err := n.Validate(); err != nil {
		return ReasonInvalidRecord, err
	}
	if err := texts("node", string(n.Kind), n.Key, n.Name, string(n.TLP)); err != nil {
		return ReasonInvalidText, err
	}
	if err := texts("label", n.Labels...); err != nil {
		return ReasonInvalidText, err
	}
	if err := texts("source", n.Sources...); err != nil {
		return ReasonInvalidText, err
	}
	if err := texts("alias", n.Aliases...); err != nil {
		return ReasonInvalidText, err
	}
	for _, a := range n.Aliases {
		if len(a) > MaxRefBytes {
			return ReasonTooLarge, fmt.Errorf("alias of %d bytes is longer than %d", len(a), MaxRefBytes)
		}
	}
	if n.Kind == graph.KindHash && len(n.Key) > MaxIndexedBytes {
		return ReasonTooLarge, fmt.Errorf("hash key of %d bytes is longer than %d", len(n.Key), MaxIndexedBytes)
	}
	for _, a := range graph.NameUses(*n) {
		if len(a) > MaxRefBytes {
			return ReasonTooLarge, fmt.Errorf("name of %d bytes is longer than %d", len(a), MaxRefBytes)
		}
	}
	if err := checkProps(n.Props); err != nil {
		return ReasonInvalidProps, err
	}
	if err := times(n.FirstSeen, n.LastSeen); err != nil {
		return ReasonInvalidRecord, err
	}
	return "", nil
}

// times checks that times are within timestamptz's range (4713 BC to
// 294276 AD).
func times(ts ...time.Time) error {
	for _, t := range ts {
		if y := t.UTC().Year(); y < -4712 || y > 294275 {
			return fmt.Errorf("time %v outside PostgreSQL's range", t)
		}
	}
	return nil
}

// CheckRelation is CheckNode for a relation.
func CheckRelation(r *graph.Relation) (graph.DropReason, error) {
	if err := r.Validate(); err != nil {
		return ReasonInvalidRecord, err
	}
	if err := texts("relation", string(r.Src), r.Type, string(r.Dst)); err != nil {
		return ReasonInvalidText, err
	}
	if len(r.Src) > MaxRefBytes || len(r.Dst) > MaxRefBytes {
		return ReasonTooLarge, fmt.Errorf("relation reference longer than %d bytes", MaxRefBytes)
	}
	if n := len(r.Src) + len(r.Type) + len(r.Dst); n > MaxIndexedBytes {
		return ReasonTooLarge, fmt.Errorf("relation references and type of %d bytes, longer than %d", n, MaxIndexedBytes)
	}
	if err := texts("relationship id", r.IDs...); err != nil {
		return ReasonInvalidText, err
	}
	for _, id := range r.IDs {
		if len(id) > MaxRefBytes {
			return ReasonTooLarge, fmt.Errorf("relationship id of %d bytes is longer than %d", len(id), MaxRefBytes)
		}
	}
	if err := texts("source", r.Sources...); err != nil {
		return ReasonInvalidText, err
	}
	if err := checkProps(r.Props); err != nil {
		return ReasonInvalidProps, err
	}
	if err := times(r.FirstSeen, r.LastSeen); err != nil {
		return ReasonInvalidRecord, err
	}
	return "", nil
}

// CheckEdge is CheckNode for a telemetry edge: its own fields, its
// endpoint nodes and the records it implies, so an edge is written with
// its endpoints or not at all. Its reasons are those of
// graph.TelemetryEdge.InvalidReason, then ReasonInvalidText or
// ReasonInvalidProps for the edge's own fields, ReasonInvalidSrc,
// ReasonInvalidDst or ReasonInvalidImplied for a record it brings.
func CheckEdge(e *graph.TelemetryEdge) (graph.DropReason, error) {
	if reason, err := CheckEdgeOwn(e); reason != "" {
		return reason, err
	}
	if reason, err := CheckNode(&e.Src); reason != "" {
		return graph.ReasonInvalidSrc, fmt.Errorf("%s: %w", reason, err)
	}
	if reason, err := CheckNode(&e.Dst); reason != "" {
		return graph.ReasonInvalidDst, fmt.Errorf("%s: %w", reason, err)
	}
	for i := range e.Implied.Nodes {
		if reason, err := CheckNode(&e.Implied.Nodes[i]); reason != "" {
			return graph.ReasonInvalidImplied, fmt.Errorf("%s: %w", reason, err)
		}
	}
	for i := range e.Implied.Relations {
		if reason, err := CheckRelation(&e.Implied.Relations[i]); reason != "" {
			return graph.ReasonInvalidImplied, fmt.Errorf("%s: %w", reason, err)
		}
	}
	return "", nil
}

// CheckEdgeOwn is the part of CheckEdge that is the edge's own:
// graph.TelemetryEdge.InvalidReason, then its relation and agent id as
// text, its props and observed_at's range. It gives CheckEdge's answer for
// an edge whose endpoint nodes and implied records passed CheckBatch with
// the edge's sources and without times, and whose first and last seen are
// then set to observed_at (as ingest/telemetry sets them), which
// CheckEdgeOwn checks. That is how telemetry's endpoint memo checks an
// endpoint once, not on every line that names it.
func CheckEdgeOwn(e *graph.TelemetryEdge) (graph.DropReason, error) {
	if reason := e.InvalidReason(); reason != "" {
		return reason, nil
	}
	if err := texts("telemetry edge", e.Relation, e.AgentID); err != nil {
		return ReasonInvalidText, err
	}
	if err := checkProps(e.Props); err != nil {
		return ReasonInvalidProps, err
	}
	if err := times(e.ObservedAt); err != nil {
		return ReasonInvalidRecord, err
	}
	return "", nil
}

// CheckBatch returns the first reason PostgreSQL would reject a record of
// b for, or "".
func CheckBatch(b *graph.Batch) (graph.DropReason, error) {
	for i := range b.Nodes {
		if reason, err := CheckNode(&b.Nodes[i]); reason != "" {
			return reason, err
		}
	}
	for i := range b.Relations {
		if reason, err := CheckRelation(&b.Relations[i]); reason != "" {
			return reason, err
		}
	}
	return "", nil
}

// texts checks that every s is text PostgreSQL stores: valid UTF-8
// without NUL.
func texts(what string, ss ...string) error {
	for _, s := range ss {
		if err := text(s); err != nil {
			return fmt.Errorf("%s %s", what, err)
		}
	}
	return nil
}

func text(s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("text has a NUL byte at %d", i)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("text %q is not valid UTF-8", clip(s))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// checkProps checks that props marshal to JSON that jsonb accepts: no NUL
// in a key or string (JSON writes it \u0000, which jsonb refuses), finite
// numbers, values encoding/json can marshal. Invalid UTF-8 in a string is
// fine: encoding/json replaces it with U+FFFD.
func checkProps(props map[string]any) error {
	if len(props) == 0 {
		return nil
	}
	return checkValue(props)
}

func checkValue(v any) error {
	switch v := v.(type) {
	case string:
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("props string %q has a NUL", clip(v))
		}
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("props number %v is not finite", v)
		}
	case float32:
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("props number %v is not finite", v)
		}
	case map[string]any:
		for k, x := range v {
			if strings.IndexByte(k, 0) >= 0 {
				return fmt.Errorf("props key %q has a NUL", clip(k))
			}
			if err := checkValue(x); err != nil {
				return err
			}
		}
	case []any:
		for _, x := range v {
			if err := checkValue(x); err != nil {
				return err
			}
		}
	case []string:
		for _, x := range v {
			if err := checkValue(x); err != nil {
				return err
			}
		}
	case map[string]string:
		for k, x := range v {
			if strings.IndexByte(k, 0) >= 0 || strings.IndexByte(x, 0) >= 0 {
				return fmt.Errorf("props key or string %q has a NUL", clip(k))
			}
		}
	case json.Number:
		if !json.Valid([]byte(v)) {
			return fmt.Errorf("props number %q is not a JSON number", clip(string(v)))
		}
	case nil, bool, int, int64, int32, int16, int8, uint, uint64, uint32, uint16, uint8:
	default: // a type decoded JSON does not give: it must at least marshal
		if _, err := json.Marshal(v); err != nil {
			return fmt.Errorf("props do not marshal to JSON: %w", err)
		}
	}
	return nil
}

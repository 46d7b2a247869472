package stix

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/stixid"
)

// seenProps are the timestamps that bound when the source saw the entity:
// a node's FirstSeen and LastSeen are the earliest and latest of them.
var seenProps = []string{
	"created", "modified", "first_seen", "last_seen", "first_observed", "last_observed",
	"valid_from", "start_time", "stop_time", "published",
}

// orderedProps are pairs of timestamps the specification orders.
var orderedProps = [][2]string{
	{"created", "modified"},
	{"first_seen", "last_seen"},
	{"first_observed", "last_observed"},
	{"start_time", "stop_time"},
	{"valid_from", "valid_until"},
}

// object is one decoded STIX object with what validation learned.
type object struct {
	m   map[string]any
	typ string
	id  string
	// times holds the timestamps of timestampProps, by index; has marks
	// those present.
	times [len(timestampNames)]time.Time
	has   uint16
}

// timestampNames are timestampProps as an array, for object.times.
var timestampNames = [...]string{
	"created", "modified", "first_seen", "last_seen", "first_observed", "last_observed",
	"valid_from", "valid_until", "start_time", "stop_time", "published",
}

// timestamp returns the object's timestamp p, if present.
func (o object) timestamp(p string) (time.Time, bool) {
	for i, n := range timestampNames {
		if n == p {
			return o.times[i], o.has&(1<<i) != 0
		}
	}
	return time.Time{}, false
}

// validate checks the properties every STIX object has (type, id,
// spec_version, timestamps, confidence, labels, marking and creator
// references, external references, extensions) for presence, JSON type and
// range, and returns the object or why it cannot be loaded. It is lenient
// where feeds commonly are (created/modified may be missing, unknown
// properties are fine).
func validate(m map[string]any) (object, *recordError) {
	o := object{m: m}
	typ, ok := m["type"]
	if !ok || typ == nil || typ == "" {
		return o, dropf(engine.ReasonMissingType, "no type%s", taxiiHint(m))
	}
	if o.typ, ok = typ.(string); !ok {
		return o, dropf(engine.ReasonInvalidProperty, "type is a JSON %s, not a string", jsonKind(typ))
	}
	id, ok := m["id"]
	if !ok || id == nil || id == "" {
		return o, dropf(engine.ReasonMissingID, "no id%s", mispGalaxyHint(m))
	}
	if o.id, ok = id.(string); !ok {
		return o, dropf(engine.ReasonInvalidProperty, "id is a JSON %s, not a string", jsonKind(id))
	}
	idType, _, ok := splitIdentifier(o.id)
	if !ok {
		return o, dropf(ReasonInvalidID, "id %q is not <type>--<uuid>", o.id)
	}
	if idType != o.typ {
		return o, dropf(ReasonIDTypeMismatch, "id %q does not start with type %q", o.id, o.typ)
	}

	for _, p := range []string{"spec_version", "created_by_ref", "lang", "name"} {
		if v, ok := m[p]; ok && v != nil {
			if _, ok := v.(string); !ok {
				return o, dropf(engine.ReasonInvalidProperty, "%s is a JSON %s, not a string", p, jsonKind(v))
			}
		}
	}
	if v, ok := m["revoked"]; ok && v != nil {
		// A boolean, or "true"/"false" as a string (graph.LifecycleFlag).
		if _, ok := graph.LifecycleFlag(v); !ok {
			return o, dropf(engine.ReasonInvalidProperty, "revoked is a JSON %s, not a boolean", jsonKind(v))
		}
	}
	for _, p := range []string{"labels", "object_marking_refs"} {
		if v, ok := m[p]; ok && v != nil {
			if _, ok := stringList(v); !ok {
				return o, dropf(engine.ReasonInvalidProperty, "%s is not a list of strings", p)
			}
		}
	}
	for _, p := range []string{"external_references", "granular_markings"} {
		if v, ok := m[p]; ok && v != nil {
			if !objectList(v) {
				return o, dropf(engine.ReasonInvalidProperty, "%s is not a list of objects", p)
			}
		}
	}
	if v, ok := m["extensions"]; ok && v != nil {
		if _, ok := v.(map[string]any); !ok {
			return o, dropf(engine.ReasonInvalidProperty, "extensions is a JSON %s, not an object", jsonKind(v))
		}
	}
	if v, ok := m["confidence"]; ok && v != nil && !observableType(o.typ) {
		// A cyber-observable's confidence is no STIX property: the
		// producer's own, kept as written (mapObservable).
		f, ok := v.(float64)
		if !ok {
			return o, dropf(engine.ReasonInvalidProperty, "confidence is a JSON %s, not a number", jsonKind(v))
		}
		if f != math.Trunc(f) || f < 0 || f > 100 {
			return o, dropf(engine.ReasonInvalidProperty, "confidence %v is not an integer from 0 to 100", f)
		}
	}

	// The timestamp properties of STIX 2.0 and 2.1 objects the loader checks
	// and uses: each must be an RFC 3339 string when present.
	for i, p := range timestampNames {
		v, ok := m[p]
		if !ok || v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return o, dropf(ReasonInvalidTimestamp, "%s is a JSON %s, not a timestamp string", p, jsonKind(v))
		}
		t, err := parseTimestamp(s)
		if err != nil {
			return o, dropf(ReasonInvalidTimestamp, "%s %q is not an RFC 3339 timestamp", p, s)
		}
		if t.IsZero() {
			return o, dropf(ReasonInvalidTimestamp, "%s %s is the zero time, which the graph reads as no time", p, s)
		}
		o.times[i], o.has = t, o.has|1<<i
	}
	if isSCORef(o.id) {
		// The pairs are properties of SDOs, SROs and the objects the
		// specification gives them; a cyber-observable has none of them
		// (STIX 2.1, 6), so a producer's own created and modified on one
		// (Cortex XSOAR writes its indicator record's) are custom: their
		// order is no reason to lose the observable, which is seen over
		// both.
		return o, nil
	}
	for _, pair := range orderedProps {
		a, okA := o.timestamp(pair[0])
		b, okB := o.timestamp(pair[1])
		if okA && okB && b.Before(a) {
			return o, dropf(ReasonInvalidTimestamp, "%s %s is before %s %s",
				pair[1], b.Format(time.RFC3339Nano), pair[0], a.Format(time.RFC3339Nano))
		}
	}
	return o, nil
}

// parseTimestamp parses a STIX timestamp: RFC 3339, any sub-second
// precision, a leap second too; the specification requires UTC ("Z") but
// offsets are accepted, and so are the forms producers write
// (graph.ParseTimestamp: lower-case z, a space for the T, +0000, no zone
// for UTC).
func parseTimestamp(s string) (time.Time, error) {
	return graph.ParseTimestamp(s)
}

// seen returns the earliest and latest of the object's seen timestamps.
func (o object) seen() (first, last time.Time) {
	for _, p := range seenProps {
		t, ok := o.timestamp(p)
		if !ok || unsetTime(t) {
			continue
		}
		if first.IsZero() || t.Before(first) {
			first = t
		}
		if last.IsZero() || t.After(last) {
			last = t
		}
	}
	return first, last
}

// OpenCTI's sentinels for a time it does not know (FROM_START and
// UNTIL_END): it exports every relationship's start_time and stop_time, a
// sighting's or threat actor's first_seen and last_seen, with these when
// they are unset, and filters them out itself.
var (
	openCTIFromStart = time.Unix(0, 0).UTC()
	openCTIUntilEnd  = time.UnixMilli(100_000_000_000_000).UTC() // 5138-11-16T09:46:40Z
)

// unsetTime reports whether t says "unknown" rather than a time: the Unix
// epoch (OpenCTI's FROM_START, and the zero value of many producers) or
// OpenCTI's UNTIL_END. seen leaves such times out, so that they neither
// make a link "seen since 1970" nor "until 5138", nor widen the times of
// what they merge with; the property keeps the value as written.
func unsetTime(t time.Time) bool {
	return t.Equal(openCTIFromStart) || t.Equal(openCTIUntilEnd)
}

// taxiiHint says what TAXII resource a record without a type is, when it
// is one: a TAXII server's other answers are saved as feeds too.
func taxiiHint(m map[string]any) string {
	has := func(k string) bool { _, ok := m[k]; return ok }
	switch {
	case has("date_added") && has("media_type"):
		return " (a TAXII manifest record: an object's id and version, not the object; load what the collection's objects/ endpoint returns)"
	case has("collections"), has("api_roots"), has("can_read") && has("can_write"):
		return " (a TAXII discovery, API root or collections answer, not STIX content; load what a collection's objects/ endpoint returns)"
	case has("title") && (has("http_status") || has("error_code") || has("error_id")):
		return " (a TAXII error message, saved instead of the page asked for: the server said " + taxiiError(m) + "; nothing of the collection is in it)"
	case has("status") && has("total_count"):
		return " (a TAXII status resource, the server's answer to objects added to a collection, not STIX content; load what the collection's objects/ endpoint returns)"
	}
	return ""
}

// taxiiError is what a TAXII error message (TAXII 2.1 section 3.6.1:
// title, description, http_status, ...) says, quoted and cut short: the
// server's words, shown, never obeyed.
func taxiiError(m map[string]any) string {
	var parts []string
	switch v := m["http_status"].(type) {
	case string:
		if v = strings.TrimSpace(v); len(v) > 16 {
			v = truncateValue(v)
		}
		parts = append(parts, "HTTP "+v)
	case float64:
		parts = append(parts, fmt.Sprintf("HTTP %v", v))
	}
	for _, k := range []string{"title", "description"} {
		if v, ok := m[k].(string); ok && strings.TrimSpace(v) != "" {
			parts = append(parts, truncateValue(strings.TrimSpace(v)))
		}
	}
	return strings.Join(parts, " ")
}

// mispGalaxyHint says what a record without an id is when it is a MISP
// galaxy definition (MISPGalaxyDefinition), which is taken for STIX by its
// "type".
func mispGalaxyHint(m map[string]any) string {
	if _, _, ok := MISPGalaxyDefinition(m); ok {
		return " (a MISP galaxy definition, which holds no clusters: load the galaxy's clusters file, clusters/<name>.json in misp-galaxy, with intel ingest misp)"
	}
	return ""
}

// galaxyDefinitionKeys are the members of a MISP galaxy definition
// (misp-galaxy's galaxies/*.json): the galaxy's name, namespace, type,
// uuid, version, description, icon and, for matrix galaxies,
// kill_chain_order.
var galaxyDefinitionKeys = map[string]bool{
	"name": true, "namespace": true, "type": true, "uuid": true, "version": true,
	"description": true, "icon": true, "kill_chain_order": true,
}

// MISPGalaxyDefinition reports whether m is a MISP galaxy definition
// (misp-galaxy's galaxies/<name>.json): galaxyDefinitionKeys alone, with a
// namespace, a string type and a uuid, and returns its name and type. It
// describes a galaxy and holds none of its clusters (those are the
// "values" of the clusters file of the same name); by its "type" it looks
// like a STIX object without an id.
func MISPGalaxyDefinition(m map[string]any) (name, typ string, ok bool) {
	for k := range m {
		if !galaxyDefinitionKeys[k] {
			return "", "", false
		}
	}
	_, namespace := m["namespace"]
	_, uuid := m["uuid"]
	typ, isString := m["type"].(string)
	name, _ = m["name"].(string)
	return name, typ, namespace && uuid && isString
}

// held returns the first and last seen of a relationship or sighting: the
// times it states the link held or was seen (start, stop: a relationship's
// start_time and stop_time, a sighting's first_seen and last_seen) where
// given (OpenCTI's "unknown" sentinels are none: unsetTime), and
// otherwise, as for any object, the earliest and latest of its timestamps
// (seen). STIX 2.1 (3.2 Relationship) says start_time and
// stop_time are when the relationship is believed to hold, and created and
// modified are about the object: a relationship that stopped holding in
// 2023-09, modified in 2024-01, was last seen 2023-09, not 2024-01.
func (o object) held(start, stop string) (first, last time.Time) {
	first, last = o.seen()
	if t, ok := o.timestamp(start); ok && !unsetTime(t) {
		first = t
	}
	if t, ok := o.timestamp(stop); ok && !unsetTime(t) {
		last = t
	}
	return first, last
}

// observableType reports whether objects of type typ are mapped as
// cyber-observables (mapObject: the types with a deterministic id, the
// graph's observable kinds, a producer's names for them).
func observableType(typ string) bool {
	if k, ok := graph.ProducerObservableKind(typ); ok {
		typ = string(k)
	}
	return stixid.HasDeterministicID(typ) || graph.Kind(typ).IsObservable()
}

// confidence returns the object's confidence, or nil.
func (o object) confidence() *int {
	f, ok := o.m["confidence"].(float64)
	if !ok {
		return nil
	}
	c := int(f)
	return &c
}

// str returns a string property, or "".
func (o object) str(p string) string {
	s, _ := o.m[p].(string)
	return s
}

// splitIdentifier splits a STIX identifier "<type>--<uuid>"
// (stixid.ParseID).
func splitIdentifier(s string) (typ string, id uuid.UUID, ok bool) {
	return stixid.ParseID(s)
}

// isIdentifier reports whether s is a STIX identifier.
func isIdentifier(s string) bool {
	_, _, ok := splitIdentifier(s)
	return ok
}

// canonicalIDs rewrites, in place, every STIX identifier the mapper reads
// in a decoded object to its canonical spelling (stixid.CanonicalID: the
// UUID part lower-case), before anything reads it: the object's id, every
// value of a property named *_ref or *_refs at any depth (relationship
// ends, sighting references, object_refs, created_by_ref, marking
// references, granular markings' marking_ref, references inside
// extensions and STIX 2.0 observed-data objects), and the keys of
// extensions dictionaries (extension-definition--…). So an identifier is
// one whatever the case of its hex digits, and is stored lower-case.
// Values that are not identifiers stay as written.
func canonicalIDs(m map[string]any) {
	if id, ok := m["id"].(string); ok {
		m["id"], _ = stixid.CanonicalID(id)
	}
	canonicalRefs(m)
}

// bareUUIDID reads an object whose id is a UUID alone ("id":
// "4f41230e-…" beside "type": "indicator", as ThreatConnect's TAXII 2.1
// server writes its indicators) as the identifier its type and that UUID
// make (indicator--4f41230e-…, canonical), rewriting m's id, and returns
// the warning that says so. The object says what it is; dropping it lost
// every object of such a feed. An id that is no UUID in its 36-character
// form, or a type that makes no STIX identifier with it ("Indicator"),
// is left to validate, which drops it as before.
func bareUUIDID(m map[string]any) (warning, bool) {
	id, _ := m["id"].(string)
	typ, _ := m["type"].(string)
	if len(id) != 36 || typ == "" || strings.Contains(id, "--") {
		return warning{}, false
	}
	if _, err := uuid.Parse(id); err != nil {
		return warning{}, false
	}
	sid, ok := stixid.CanonicalID(typ + "--" + id)
	if !ok {
		return warning{}, false
	}
	m["id"] = sid
	return warning{property: "id", value: id,
		message: "a bare UUID, not <type>--<uuid>: read as " + sid}, true
}

// canonicalRefs is canonicalIDs' walk below the object's id.
func canonicalRefs(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if isRefProperty(k) {
				switch r := e.(type) {
				case string:
					x[k], _ = stixid.CanonicalID(r)
				case []any:
					for i, s := range r {
						if s, ok := s.(string); ok {
							r[i], _ = stixid.CanonicalID(s)
						}
					}
				}
				continue
			}
			if ext, ok := e.(map[string]any); ok && k == "extensions" {
				for name, def := range ext {
					if c, ok := stixid.CanonicalID(name); ok && c != name {
						if _, taken := ext[c]; !taken {
							delete(ext, name)
							ext[c] = def
						}
					}
				}
			}
			canonicalRefs(e)
		}
	case []any:
		for _, e := range x {
			canonicalRefs(e)
		}
	}
}

// stringList returns v as a list of strings.
func stringList(v any) ([]string, bool) {
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// objectList reports whether v is a list of JSON objects.
func objectList(v any) bool {
	l, ok := v.([]any)
	if !ok {
		return false
	}
	for _, e := range l {
		if _, ok := e.(map[string]any); !ok {
			return false
		}
	}
	return true
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "value"
}

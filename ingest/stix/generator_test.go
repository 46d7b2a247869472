package stix

import (
	"fmt"
	"io"
	"strings"

	"github.com/ransomeye/intel/ingest/engine"
)

// generator is an io.Reader that synthesizes a STIX 2.1 bundle object by
// object, so that feeds of any size can be parsed without a file: a mix of
// indicators (with patterns), malware (from a small pool of names, so they
// merge), relationships, IPv4 and file SCOs, identities, sightings and
// reports with object_refs.
type generator struct {
	records  int64 // stop after this many objects, when > 0
	maxBytes int64 // or after this many bytes, when > 0
	// brokenEvery, when > 0, replaces every brokenEvery-th object with a
	// broken one (valid JSON, invalid STIX), cycling through reasons.
	brokenEvery int64

	n       int64 // objects produced
	broken  []string
	written int64
	buf     []byte
	state   int // 0 header, 1 objects, 2 done
}

func newGenerator(records, maxBytes int64) *generator {
	return &generator{records: records, maxBytes: maxBytes}
}

func (g *generator) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(g.buf) == 0 {
			if !g.fill() {
				if n == 0 {
					return 0, io.EOF
				}
				break
			}
		}
		c := copy(p[n:], g.buf)
		g.buf = g.buf[c:]
		n += c
	}
	g.written += int64(n)
	return n, nil
}

// fill generates the next piece of the bundle; false at the end.
func (g *generator) fill() bool {
	switch g.state {
	case 0:
		g.buf = append(g.buf[:0], `{"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [`...)
		g.state = 1
		return true
	case 1:
		if (g.records > 0 && g.n >= g.records) || (g.maxBytes > 0 && g.written >= g.maxBytes) {
			g.buf = append(g.buf[:0], "\n]}\n"...)
			g.state = 2
			return true
		}
		g.buf = g.buf[:0]
		if g.n > 0 {
			g.buf = append(g.buf, ",\n"...)
		}
		if g.brokenEvery > 0 && (g.n+1)%g.brokenEvery == 0 {
			obj, id := brokenObject(len(g.broken), g.n)
			g.broken = append(g.broken, id)
			g.buf = append(g.buf, obj...)
		} else {
			g.buf = appendObject(g.buf, g.n)
		}
		g.n++
		return true
	}
	return false
}

// uid returns a deterministic UUIDv4-shaped id for object i of a kind.
func uid(kind byte, i int64) string {
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", i, uint16(kind), i%0xfff, (i>>12)%0xfff, i)
}

var malwareNames = []string{"LockBit", "Conti", "BlackCat", "Emotet", "TrickBot", "QakBot", "Ryuk", "REvil", "Cobalt Strike", "PlugX"}

// appendObject appends object i of the synthetic feed.
func appendObject(b []byte, i int64) []byte {
	ts := fmt.Sprintf("2024-%02d-%02dT%02d:%02d:%02d.000Z", 1+i%12, 1+i%28, i%24, i%60, i%60)
	switch i % 8 {
	case 0:
		return fmt.Appendf(b, `{"type": "indicator", "spec_version": "2.1", "id": "indicator--%s", "created": "%s", "modified": "%s", "name": "C2 address %d", "indicator_types": ["malicious-activity"], "pattern_type": "stix", "pattern": "[ipv4-addr:value = '10.%d.%d.%d']", "valid_from": "%s", "confidence": %d, "object_marking_refs": ["marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"], "x_feed_score": %d}`,
			uid('i', i), ts, ts, i, (i>>16)&255, (i>>8)&255, i&255, ts, i%101, i%7)
	case 1:
		return fmt.Appendf(b, `{"type": "indicator", "spec_version": "2.1", "id": "indicator--%s", "created": "%s", "modified": "%s", "pattern_type": "stix", "pattern": "[file:hashes.'SHA-256' = '%064x'] OR [domain-name:value = 'host%d.example.test']", "valid_from": "%s", "labels": ["dropper"], "description": "Dropper hash and domain seen in campaign %d."}`,
			uid('i', i), ts, ts, i*2654435761, i, ts, i%97)
	case 2:
		return fmt.Appendf(b, `{"type": "malware", "spec_version": "2.1", "id": "malware--%s", "created": "%s", "modified": "%s", "name": "%s", "is_family": true, "malware_types": ["ransomware"], "description": "Family %d, variant %d.", "aliases": ["%s-%d"]}`,
			uid('m', i), ts, ts, malwareNames[i%int64(len(malwareNames))], i%10, i, strings.ToLower(malwareNames[i%int64(len(malwareNames))]), i%5)
	case 3:
		return fmt.Appendf(b, `{"type": "relationship", "spec_version": "2.1", "id": "relationship--%s", "created": "%s", "modified": "%s", "relationship_type": "indicates", "source_ref": "indicator--%s", "target_ref": "malware--%s", "confidence": 50}`,
			uid('r', i), ts, ts, uid('i', i-3), uid('m', i-1))
	case 4:
		return fmt.Appendf(b, `{"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--%s", "value": "10.%d.%d.%d", "resolves_to_refs": ["mac-addr--%s"]}`,
			uid('a', i), (i>>16)&255, (i>>8)&255, (i-4)&255, uid('c', i))
	case 5:
		return fmt.Appendf(b, `{"type": "file", "spec_version": "2.1", "id": "file--%s", "name": "invoice-%d.pdf.exe", "size": %d, "hashes": {"MD5": "%032x", "SHA-256": "%064x"}, "x_misp_comment": "attachment of message %d"}`,
			uid('f', i), i, 1000+i, i*31, i*2654435761, i)
	case 6:
		return fmt.Appendf(b, `{"type": "sighting", "spec_version": "2.1", "id": "sighting--%s", "created": "%s", "modified": "%s", "first_seen": "%s", "last_seen": "%s", "count": %d, "sighting_of_ref": "indicator--%s", "where_sighted_refs": ["identity--%s"]}`,
			uid('s', i), ts, ts, ts, ts, 1+i%9, uid('i', i-6), uid('d', i%100))
	default:
		return fmt.Appendf(b, `{"type": "report", "spec_version": "2.1", "id": "report--%s", "created": "%s", "modified": "%s", "name": "Weekly report %d", "published": "%s", "report_types": ["threat-report"], "created_by_ref": "identity--%s", "object_refs": ["indicator--%s", "malware--%s", "relationship--%s"]}`,
			uid('p', i), ts, ts, i, ts, uid('d', i%100), uid('i', i-7), uid('m', i-5), uid('r', i-4))
	}
}

// brokenReasons are what brokenObject produces, in turn.
var brokenReasons = []engine.Reason{
	engine.ReasonMissingType, engine.ReasonMissingID, ReasonInvalidID, ReasonIDTypeMismatch, ReasonInvalidTimestamp,
	engine.ReasonInvalidProperty, ReasonMissingProperty, ReasonInvalidReference, engine.ReasonNotObject, ReasonInvalidTimestamp,
}

// brokenObject returns the k-th broken object (valid JSON, invalid STIX)
// at position i and its id ("" when it has none).
func brokenObject(k int, i int64) (string, string) {
	id := "malware--" + uid('x', i)
	switch brokenReasons[k%len(brokenReasons)] {
	case engine.ReasonMissingType:
		return `{"id": "` + id + `", "name": "no type"}`, id
	case engine.ReasonMissingID:
		return `{"type": "malware", "name": "no id"}`, ""
	case ReasonInvalidID:
		return `{"type": "malware", "id": "malware--1234", "name": "short id"}`, "malware--1234"
	case ReasonIDTypeMismatch:
		id = "tool--" + uid('x', i)
		return `{"type": "malware", "id": "` + id + `", "name": "wrong id type"}`, id
	case engine.ReasonInvalidProperty:
		return `{"type": "malware", "id": "` + id + `", "name": "sure", "confidence": 150}`, id
	case ReasonMissingProperty:
		id = "relationship--" + uid('x', i)
		return `{"type": "relationship", "id": "` + id + `", "relationship_type": "uses", "source_ref": "malware--` + uid('m', 2) + `"}`, id
	case ReasonInvalidReference:
		id = "relationship--" + uid('x', i)
		return `{"type": "relationship", "id": "` + id + `", "relationship_type": "uses", "source_ref": "internal-42", "target_ref": "malware--` + uid('m', 2) + `"}`, id
	case engine.ReasonNotObject:
		return `["not", "an", "object"]`, ""
	default: // ReasonInvalidTimestamp
		if k%2 == 0 {
			return `{"type": "malware", "id": "` + id + `", "name": "late", "created": "2024-02-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"}`, id
		}
		return `{"type": "malware", "id": "` + id + `", "name": "when", "created": "last tuesday"}`, id
	}
}

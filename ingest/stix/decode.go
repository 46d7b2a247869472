package stix

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/ransomeye/intel/ingest/internal/textenc"
)

// errDecode is returned by decodeObject for text that is not one JSON
// object.
var errDecode = errors.New("decode record")

// decodeObject decodes one JSON object into map[string]any, the way
// encoding/json decodes into any (objects as map[string]any, arrays as
// []any, numbers as float64), without reflection: it is the mapping
// workers' hot path. Duplicate member names keep the last value; bytes
// that are not UTF-8 are read as Windows-1252 (textenc.RepairString);
// unpaired surrogates and NUL become U+FFFD; a number beyond float64
// is kept as its literal text. The reader has checked the
// syntax already, but decodeObject does not rely on it.
func decodeObject(data []byte) (map[string]any, error) {
	d := decoder{b: data}
	d.space()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, d.errorf("not a JSON object")
	}
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.space()
	if d.i != len(d.b) {
		return nil, d.errorf("text after the object")
	}
	return v.(map[string]any), nil
}

// maxDepth bounds nesting, as the JSON decoder's default does.
const maxDepth = 10000

type decoder struct {
	b []byte
	i int
}

func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errDecode, d.i, fmt.Sprintf(format, args...))
}

func (d *decoder) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\r', '\n':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, d.errorf("nested too deeply")
	}
	d.space()
	if d.i >= len(d.b) {
		return nil, d.errorf("unexpected end")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		d.i++
		m := make(map[string]any, 8)
		d.space()
		if d.i < len(d.b) && d.b[d.i] == '}' {
			d.i++
			return m, nil
		}
		for {
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, d.errorf("expected a member name")
			}
			k, err := d.key()
			if err != nil {
				return nil, err
			}
			d.space()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, d.errorf("expected ':'")
			}
			d.i++
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			m[k] = v
			d.space()
			if d.i >= len(d.b) {
				return nil, d.errorf("unexpected end in object")
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case '}':
				d.i++
				return m, nil
			default:
				return nil, d.errorf("expected ',' or '}'")
			}
		}
	case c == '[':
		d.i++
		l := make([]any, 0, 4)
		d.space()
		if d.i < len(d.b) && d.b[d.i] == ']' {
			d.i++
			return l, nil
		}
		for {
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
			d.space()
			if d.i >= len(d.b) {
				return nil, d.errorf("unexpected end in array")
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case ']':
				d.i++
				return l, nil
			default:
				return nil, d.errorf("expected ',' or ']'")
			}
		}
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := d.i
		for d.i < len(d.b) {
			switch d.b[d.i] {
			case '-', '+', '.', 'e', 'E', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
				d.i++
				continue
			}
			break
		}
		lit := string(d.b[start:d.i])
		f, err := strconv.ParseFloat(lit, 64)
		if errors.Is(err, strconv.ErrRange) {
			// Beyond float64: keep the literal rather than an infinity
			// that no JSON encoder would write back.
			return lit, nil
		}
		if err != nil {
			return nil, d.errorf("invalid number %q", lit)
		}
		return f, nil
	default:
		return nil, d.errorf("invalid character %q", c)
	}
}

func (d *decoder) literal(lit string) error {
	if len(d.b)-d.i < len(lit) || string(d.b[d.i:d.i+len(lit)]) != lit {
		return d.errorf("invalid literal")
	}
	d.i += len(lit)
	return nil
}

// commonNames are member names decoded without allocating.
var commonNames = map[string]string{}

func init() {
	for _, k := range []string{
		"type", "id", "spec_version", "created", "modified", "created_by_ref", "revoked", "labels",
		"confidence", "lang", "external_references", "object_marking_refs", "granular_markings",
		"extensions", "name", "description", "pattern", "pattern_type", "pattern_version",
		"valid_from", "valid_until", "indicator_types", "kill_chain_phases", "kill_chain_name",
		"phase_name", "source_name", "external_id", "url", "relationship_type", "source_ref",
		"target_ref", "start_time", "stop_time", "first_seen", "last_seen", "first_observed",
		"last_observed", "number_observed", "object_refs", "objects", "value", "hashes", "MD5",
		"SHA-1", "SHA-256", "SHA-512", "size", "sighting_of_ref", "where_sighted_refs",
		"observed_data_refs", "count", "aliases", "is_family", "malware_types", "published",
		"report_types", "resolves_to_refs", "definition", "definition_type", "identity_class",
		"x_mitre_version", "x_mitre_domains", "x_mitre_modified_by_ref", "x_mitre_deprecated",
		"x_mitre_platforms", "x_mitre_attack_spec_version", "extension_type",
	} {
		commonNames[k] = k
	}
}

// key decodes a member name, without allocating for the common ones.
func (d *decoder) key() (string, error) {
	end := d.i + 1
	for end < len(d.b) && d.b[end] != '"' && d.b[end] != '\\' {
		end++
	}
	if end < len(d.b) && d.b[end] == '"' {
		if k, ok := commonNames[string(d.b[d.i+1:end])]; ok {
			d.i = end + 1
			return k, nil
		}
	}
	return d.str()
}

// str decodes the string starting at d.b[d.i] == '"'.
func (d *decoder) str() (string, error) {
	d.i++
	start := d.i
	ascii := true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := string(d.b[start:d.i])
			d.i++
			if !ascii {
				s = textenc.RepairString(s)
			}
			return s, nil
		case c == '\\' || c == 0:
			return d.escaped(start)
		case c >= 0x80:
			ascii = false
		}
		d.i++
	}
	return "", d.errorf("unterminated string")
}

// escaped decodes the rest of a string that has escapes, from start.
func (d *decoder) escaped(start int) (string, error) {
	var sb strings.Builder
	sb.Write(d.b[start:d.i])
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			return textenc.RepairString(sb.String()), nil
		case c == 0:
			sb.WriteString("\uFFFD") // PostgreSQL text cannot hold NUL
			d.i++
			continue
		case c != '\\':
			sb.WriteByte(c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			break
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			sb.WriteByte(e)
		case 'b':
			sb.WriteByte('\b')
		case 'f':
			sb.WriteByte('\f')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		case 't':
			sb.WriteByte('\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", d.errorf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				r2 := rune(utf8.RuneError)
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					if lo, ok := d.hex4(); ok {
						if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
							r2 = dec
						} else {
							d.i = save
						}
					} else {
						d.i = save
					}
				}
				r = r2
			}
			if r == 0 {
				r = utf8.RuneError // PostgreSQL text cannot hold NUL
			}
			sb.WriteRune(r)
		default:
			return "", d.errorf("invalid escape \\%c", e)
		}
	}
	return "", d.errorf("unterminated string")
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

package store

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// appendMarshal appends v as json.Marshal writes it (map keys sorted in byte
// order, strings HTML-escaped), byte for byte: node and relation props are
// hashed (graph.Node.RanksWithProps), so their bytes are part of the stored
// ranks. The values decoded JSON holds (maps of string keys, slices of any,
// strings, float64, bool, nil) are written without reflection, the
// common strings and numbers directly; anything else, and any string or
// number this does not write itself, is json.Marshal's. It reports false
// when json.Marshal would fail (a NaN, a channel).
//
// On the props of ATT&CK enterprise, json.Marshal took 15% of the client's
// CPU of a load (pprof).
func appendMarshal(b []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, x), true
	case string:
		return appendMarshalString(b, x), true
	case float64:
		// json.Marshal's format for these: the shortest 'f' form.
		if a := math.Abs(x); a == 0 || (a >= 1e-6 && a < 1e21) {
			return strconv.AppendFloat(b, x, 'f', -1, 64), true
		}
	case map[string]any:
		if x == nil {
			return append(b, "null"...), true
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendMarshalString(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendMarshal(b, x[k]); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case []any:
		if x == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendMarshal(b, e); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	enc, err := json.Marshal(v)
	if err != nil {
		return b, false
	}
	return append(b, enc...), true
}

// appendMarshalString appends s as json.Marshal writes a string: the
// escapes every Go version writes alike (quote, backslash, newline,
// carriage return, tab; <, > and & as \u003c, \u003e, \u0026) are written
// here, and valid UTF-8 as it is; a string with anything else (another
// control character, invalid UTF-8, U+2028 or U+2029) is json.Marshal's.
func appendMarshalString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	mark := len(b)
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
				enc, _ := json.Marshal(s) // a string always marshals
				return append(b[:mark], enc...)
			}
			i += size
			continue
		}
		var esc []byte
		switch {
		case c == '"' || c == '\\':
			esc = []byte{'\\', c}
		case c == '\n':
			esc = []byte{'\\', 'n'}
		case c == '\r':
			esc = []byte{'\\', 'r'}
		case c == '\t':
			esc = []byte{'\\', 't'}
		case c == '<' || c == '>' || c == '&':
			esc = []byte{'\\', 'u', '0', '0', hex[c>>4], hex[c&0xf]}
		case c < 0x20:
			enc, _ := json.Marshal(s)
			return append(b[:mark], enc...)
		default:
			i++
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

package stixid

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonical serializes a decoded JSON value as RFC 8785 (JCS) canonical
// JSON: object keys sorted by UTF-16 code units, no insignificant white
// space, no HTML escaping, numbers in their shortest form.
func Canonical(v any) []byte {
	var buf bytes.Buffer
	writeCanonical(&buf, v)
	return buf.Bytes()
}

func writeCanonical(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(x))
	case string:
		writeString(buf, x)
	case json.Number:
		if f, err := x.Float64(); err == nil {
			writeNumber(buf, f)
		} else {
			buf.WriteString(x.String())
		}
	case float64:
		writeNumber(buf, x)
	case int:
		buf.WriteString(strconv.Itoa(x))
	case int64:
		buf.WriteString(strconv.FormatInt(x, 10))
	case []any:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeCanonical(buf, e)
		}
		buf.WriteByte(']')
	case []string:
		buf.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, e)
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int {
			switch {
			case a == b:
				return 0
			case utf16Less(a, b):
				return -1
			}
			return 1
		})
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeString(buf, k)
			buf.WriteByte(':')
			writeCanonical(buf, x[k])
		}
		buf.WriteByte('}')
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		writeCanonical(buf, m)
	default:
		b, _ := json.Marshal(x)
		buf.Write(b)
	}
}

// writeNumber writes f as RFC 8785 requires: the shortest decimal that
// round-trips, formatted as ECMAScript's Number.prototype.toString does
// (plain notation for magnitudes from 1e-6 up to 1e21, otherwise an
// exponent such as 1e+21 or 1.5e-7; -0 is 0).
func writeNumber(buf *bytes.Buffer, f float64) {
	if f == 0 {
		buf.WriteByte('0')
		return
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		buf.WriteString("null") // not representable in JSON
		return
	}
	if f < 0 {
		buf.WriteByte('-')
		f = -f
	}
	// Shortest round-trip digits and exponent: d.ddde±x.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expText, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, _ := strconv.Atoi(expText)
	k, n := len(digits), exp+1 // value = 0.digits × 10^n
	switch {
	case k <= n && n <= 21:
		buf.WriteString(digits)
		buf.WriteString(strings.Repeat("0", n-k))
	case 0 < n && n <= 21:
		buf.WriteString(digits[:n])
		buf.WriteByte('.')
		buf.WriteString(digits[n:])
	case -6 < n && n <= 0:
		buf.WriteString("0.")
		buf.WriteString(strings.Repeat("0", -n))
		buf.WriteString(digits)
	default:
		buf.WriteString(digits[:1])
		if k > 1 {
			buf.WriteByte('.')
			buf.WriteString(digits[1:])
		}
		buf.WriteByte('e')
		if n-1 >= 0 {
			buf.WriteByte('+')
		}
		buf.WriteString(strconv.Itoa(n - 1))
	}
}

// writeString writes s as an RFC 8785 string: only '"', '\\' and control
// characters are escaped (\b \f \n \r \t, others as \u00xx); everything
// else, U+2028 and U+2029 included, is written as UTF-8. Invalid UTF-8
// becomes U+FFFD.
func writeString(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			buf.WriteString(`\"`)
		case r == '\\':
			buf.WriteString(`\\`)
		case r == '\b':
			buf.WriteString(`\b`)
		case r == '\f':
			buf.WriteString(`\f`)
		case r == '\n':
			buf.WriteString(`\n`)
		case r == '\r':
			buf.WriteString(`\r`)
		case r == '\t':
			buf.WriteString(`\t`)
		case r < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[r>>4])
			buf.WriteByte(hex[r&0xf])
		default:
			buf.WriteRune(r) // utf8.RuneError for invalid bytes
		}
	}
	buf.WriteByte('"')
}

// utf16Less orders strings by their UTF-16 code units, as RFC 8785 sorts
// member names, without converting them (invalid UTF-8 counts as U+FFFD).
func utf16Less(a, b string) bool {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			a1, a2 := utf16.EncodeRune(ra)
			b1, b2 := utf16.EncodeRune(rb)
			if a1 == utf8.RuneError { // not a surrogate pair: one unit
				a1, a2 = ra, -1
			}
			if b1 == utf8.RuneError {
				b1, b2 = rb, -1
			}
			if a1 != b1 {
				return a1 < b1
			}
			return a2 < b2
		}
		a, b = a[na:], b[nb:]
	}
	return a == "" && b != ""
}

package telemetry

import (
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"
)

// scanLine is the fast decoder of the line shape agents send: one object
// whose names are exactly src, relation, dst, agent_id, observed_at and
// props, each at most once, with src and dst an object or a string,
// relation, agent_id and observed_at strings without escapes (observed_at
// also a number), and props a
// flat object of plain strings, numbers, booleans and nulls. It fills l as
// json.Unmarshal would, without allocating per field, and returns false for
// every line outside that shape (other or repeated names, names in another
// case, escapes, nesting in props, null, invalid UTF-8, anything not JSON),
// which parseLine then decodes with encoding/json, so the edges, drops and
// errors are those of the one decoder (FuzzScanLineAgreesWithJSON). src and
// dst are only delimited here: their text is the endpoint memo's key, and
// an endpoint text the memo does not know is checked to be JSON before it is
// decoded (see parseLine).
//
// The texts an edge keeps (relation, agent id, props keys) come from
// texts, which hands out one copy of each text it has seen (nil: a copy
// each time), so the edge holds neither a copy per line nor its line.
func scanLine(raw []byte, l *line, texts *textSet) bool {
	s := scanner{b: raw, texts: texts}
	if s.ws(); !s.byte('{') {
		return false
	}
	var seen uint8
	if s.ws(); s.peek() != '}' {
		for {
			name, ok := s.plainString()
			if !ok || !s.ws() || !s.byte(':') {
				return false
			}
			s.ws()
			bit, ok := fieldBit(name)
			if !ok || seen&bit != 0 {
				return false
			}
			seen |= bit
			switch bit {
			case bitSrc:
				l.Src, ok = s.endpoint()
			case bitDst:
				l.Dst, ok = s.endpoint()
			case bitRelation:
				l.Relation, ok = s.kept()
			case bitAgentID:
				l.AgentID, ok = s.kept()
			case bitObservedAt:
				// only parsed: the line's bytes
				if c := s.peek(); c == '-' || c >= '0' && c <= '9' {
					var text []byte
					text, ok = s.numberText()
					l.ObservedAt = observedAt{text: lineString(text), number: true}
				} else {
					l.ObservedAt.text, ok = s.text()
				}
			default:
				l.Props, ok = s.flatObject()
			}
			if !ok {
				return false
			}
			s.ws()
			if s.peek() != ',' {
				break
			}
			s.i++
			s.ws()
		}
	}
	if !s.byte('}') {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

const (
	bitSrc uint8 = 1 << iota
	bitRelation
	bitDst
	bitAgentID
	bitObservedAt
	bitProps
)

func fieldBit(name []byte) (uint8, bool) {
	switch string(name) {
	case "src":
		return bitSrc, true
	case "relation":
		return bitRelation, true
	case "dst":
		return bitDst, true
	case "agent_id":
		return bitAgentID, true
	case "observed_at":
		return bitObservedAt, true
	case "props":
		return bitProps, true
	}
	return 0, false
}

// scanner reads JSON tokens of b from i on.
type scanner struct {
	b     []byte
	i     int
	texts *textSet
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// ws skips white space; it always returns true.
func (s *scanner) ws() bool {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return true
		}
	}
	return true
}

func (s *scanner) byte(c byte) bool {
	if s.peek() != c {
		return false
	}
	s.i++
	return true
}

// plainString reads a string with no escape, no control character and
// valid UTF-8, and returns its content.
func (s *scanner) plainString() ([]byte, bool) {
	if !s.byte('"') {
		return nil, false
	}
	start := s.i
	ascii := true
	for ; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			v := s.b[start:s.i]
			s.i++
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// text reads a plain string (plainString) as a string that shares the
// line's bytes, for a text that is not kept past the line's parse: a line
// is its record's own (engine.Record.Raw), which no one writes.
func (s *scanner) text() (string, bool) {
	v, ok := s.plainString()
	return lineString(v), ok
}

// kept reads a plain string that the edge keeps: from s.texts.
func (s *scanner) kept() (string, bool) {
	v, ok := s.plainString()
	return s.texts.text(v), ok
}

// lineString is b as a string sharing its bytes (see text).
func lineString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// endpoint delimits an object or a string; it does not check its
// content, beyond finding where it ends.
func (s *scanner) endpoint() ([]byte, bool) {
	start := s.i
	switch s.peek() {
	case '"':
		if !s.skipString() {
			return nil, false
		}
	case '{':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if !s.skipString() {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
			}
			s.i++
			if depth == 0 {
				return s.b[start:s.i], true
			}
		}
		return nil, false
	default:
		return nil, false
	}
	return s.b[start:s.i], true
}

// skipString moves past a string, escapes included.
func (s *scanner) skipString() bool {
	for s.i++; s.i < len(s.b); s.i++ {
		switch s.b[s.i] {
		case '\\':
			s.i++
		case '"':
			s.i++
			return true
		}
	}
	return false
}

// flatObject reads an object whose values are plain strings, numbers,
// true, false or null, with each name once, as encoding/json decodes it
// into map[string]any.
func (s *scanner) flatObject() (map[string]any, bool) {
	if !s.byte('{') {
		return nil, false
	}
	m := map[string]any{}
	if s.ws(); s.byte('}') {
		return m, true
	}
	for {
		name, ok := s.plainString()
		if !ok || !s.ws() || !s.byte(':') {
			return nil, false
		}
		if _, dup := m[lineString(name)]; dup {
			return nil, false
		}
		key := s.texts.text(name)
		s.ws()
		var v any
		switch c := s.peek(); {
		case c == '"':
			var t []byte
			t, ok = s.plainString()
			v = string(t)
		case c == '-' || c >= '0' && c <= '9':
			v, ok = s.number()
		default:
			v, ok = s.literal()
		}
		if !ok {
			return nil, false
		}
		m[key] = v
		s.ws()
		if s.byte('}') {
			return m, true
		}
		if !s.byte(',') {
			return nil, false
		}
		s.ws()
	}
}

// number reads a JSON number as a float64.
func (s *scanner) number() (any, bool) {
	text, ok := s.numberText()
	if !ok {
		return nil, false
	}
	if f, ok := smallInteger(text); ok {
		return f, true
	}
	f, err := strconv.ParseFloat(lineString(text), 64)
	return f, err == nil
}

// numberText delimits a JSON number and returns its text.
func (s *scanner) numberText() ([]byte, bool) {
	start := s.i
	s.byte('-')
	switch c := s.peek(); {
	case c == '0':
		s.i++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		return nil, false
	}
	if s.byte('.') && !s.digits() {
		return nil, false
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.i++
		if c := s.peek(); c == '+' || c == '-' {
			s.i++
		}
		if !s.digits() {
			return nil, false
		}
	}
	return s.b[start:s.i], true
}

// smallInteger is the value of a JSON number that is an integer of at most
// 15 digits, which a float64 holds exactly: strconv.ParseFloat's answer,
// without its work.
func smallInteger(text []byte) (float64, bool) {
	neg := len(text) > 0 && text[0] == '-'
	digits := text
	if neg {
		digits = text[1:]
	}
	if len(digits) == 0 || len(digits) > 15 {
		return 0, false
	}
	n := int64(0)
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		return -float64(n), true
	}
	return float64(n), true
}

// digits skips one or more digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

func (s *scanner) literal() (any, bool) {
	for _, l := range [...]struct {
		text string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if len(s.b)-s.i >= len(l.text) && string(s.b[s.i:s.i+len(l.text)]) == l.text {
			s.i += len(l.text)
			return l.v, true
		}
	}
	return nil, false
}

// parseTime is time.Parse(time.RFC3339Nano, v) for the UTC form agents
// send (2026-01-02T15:04:05.999999Z); ok is false for every other text,
// which the caller gives to time.Parse.
func parseTime(v string) (t time.Time, ok bool) {
	if len(v) < 20 || v[4] != '-' || v[7] != '-' || v[10] != 'T' || v[13] != ':' || v[16] != ':' || v[len(v)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(s string) int {
		n := 0
		for i := range len(s) {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(v[0:4]), num(v[5:7]), num(v[8:10])
	hour, minute, sec := num(v[11:13]), num(v[14:16]), num(v[17:19])
	nsec := 0
	if frac := v[19 : len(v)-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		if nsec = num(frac[1:]); nsec < 0 {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			nsec *= 10
		}
	}
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	t = time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t, t.Day() == day // a day past the month's end is refused by time.Parse
}

// textSet hands out one string for each text it is given, so the texts
// that lines repeat (agent ids, relations, props keys) are copied once. It
// is shared by the workers and bounded: holding textSetMax texts, it
// starts again empty.
type textSet struct {
	mu sync.Mutex
	m  map[string]string
}

// textSetMax bounds a textSet.
const textSetMax = 1 << 16

// text is b as a string: the one textSet holds for it, or a copy of b
// when t is nil.
func (t *textSet) text(b []byte) string {
	if t == nil {
		return string(b)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if v, ok := t.m[string(b)]; ok {
		return v
	}
	if t.m == nil || len(t.m) >= textSetMax {
		t.m = make(map[string]string)
	}
	v := string(b)
	t.m[v] = v
	return v
}

package stix

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/internal/jsonguard"
)

// record is one STIX object as the reader found it in the feed.
type record struct {
	// index is the record's position among the records of the feed, from 0.
	index int64
	// offset is the feed offset of the record's first byte.
	offset int64
	// size is the record's length in bytes.
	size int64
	// raw is the record's JSON text; nil when the reader dropped it.
	raw []byte
	// drop says why the reader dropped the record (too large, not an
	// object); nil for a record to map.
	drop *recordError
	// id is the record's id when the reader could see it without decoding
	// the record (for the log line of a dropped record).
	id string
	// line is the 1-based line number of an NDJSON line the reader
	// dropped because it is not valid JSON; 0 otherwise.
	line int64
}

// frame is one level of nesting the reader is inside.
type frame uint8

const (
	// frameArray is an array whose elements are records: a top-level array
	// or a bundle's "objects".
	frameArray frame = iota + 1
	// frameObject is a top-level object: a bundle, or a bare STIX object
	// whose members are collected until it is known which.
	frameObject
)

// topObject is what the reader knows about the top-level object it is in.
type topObject struct {
	start int64 // feed offset of '{'
	// bundle is set once an "objects" array was found: the object is a
	// bundle and its other members are skipped.
	bundle bool
	// typ and id are the values of "type" and "id" when seen.
	typ, id string
	// raw collects the members of a bare object, re-serialized.
	raw []byte
	// tooLarge is set when the members exceed the record limit.
	tooLarge bool
	// skipped is the first member skipped as larger than the record
	// limit, reported as a drop of its own if the object is a bundle.
	skipped *record
}

// decoderOptions are lenient where feeds are dirty and strictness buys
// nothing: duplicate member names (the last wins when mapped) and invalid
// UTF-8 (read as Windows-1252 when mapped: textenc.RepairString).
var decoderOptions = []jsontext.Options{
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
}

// topValue is what the reader knows about the top-level value it is in.
type topValue struct {
	open bool
	// start is the feed offset of the value's first byte.
	start int64
	// nl is the feed offset of the first newline at or after start, -1
	// while unknown (outside line mode).
	nl int64
	// newlines is the number of newlines in the feed before start (in
	// line mode).
	newlines int64
	// line is set when the value is read as an NDJSON line: it must end
	// on the line it starts on, or the line is dropped.
	line bool
}

// reader splits a feed into records token by token: STIX bundles (with
// "objects" anywhere among the members, any number of bundles in a row),
// bare arrays of objects, single bare objects and NDJSON, in any mix. It
// holds at most one record, of at most max bytes, at a time.
//
// Once a top-level value that lay on a single line has been read, the feed
// is read as NDJSON (line mode): every later top-level value must end on the
// line it is on, and a line that does not hold valid JSON is returned as a
// dropped record (engine.ReasonInvalidJSON) and skipped. A line holding only the
// '{' or '[' that opens a value starts a multi-line value and ends line
// mode. The first top-level value, and every one after a multi-line value,
// is read as a document: a syntax error in it stops the feed.
type reader struct {
	// guard squeezes white space and replaces values nested deeper than
	// the depth limit; offsets and sizes in records and errors are the
	// feed's, translated from the decoder's by the guard.
	guard *jsonguard.Guard
	depth int
	src   *source
	dec   *jsontext.Decoder
	delta int64 // feed offset = decoder offset + delta
	max   int64
	index int64
	stack []frame
	obj   *topObject
	val   topValue
	lines bool  // line mode
	err   error // sticky
	// scratch is the buffer values and lines are skipped through.
	scratch []byte
}

func newReader(r io.Reader, max int64) *reader {
	return newGuardedReader(r, max, engine.DefaultMaxDepth, 0)
}

// newGuardedReader reads r, whose first byte is at feed offset base,
// dropping records over max bytes or nested deeper than depth levels.
func newGuardedReader(r io.Reader, max int64, depth int, base int64) *reader {
	g := jsonguard.New(r, jsonguard.Options{MaxDepth: depth, Base: base})
	src := newSource(g)
	return &reader{guard: g, depth: depth, src: src, dec: jsontext.NewDecoder(src, decoderOptions...), max: max}
}

// offset is the feed offset just after the last token or value read.
func (r *reader) offset() int64 { return r.dec.InputOffset() + r.delta }

// next returns the next record, io.EOF at the clean end of the feed, or an
// *engine.OffsetError when the feed cannot be read further.
func (r *reader) next() (record, error) {
	if r.err != nil {
		return record{}, r.err
	}
	rec, err := r.advance()
	if bl := (*badLine)(nil); errors.As(err, &bl) {
		rec, err = r.skipLine(bl)
	}
	if err != nil && err != io.EOF {
		if oe := (*engine.OffsetError)(nil); errors.As(err, &oe) {
			oe.Offset = r.guard.FeedOffset(oe.Offset)
		}
		r.err = err
		return rec, err
	}
	if err == nil {
		r.feedRecord(&rec)
	}
	return rec, err
}

// feedRecord drops rec when the guard replaced a value nested too deeply
// in it, and turns its stream offsets into feed offsets.
func (r *reader) feedRecord(rec *record) {
	end := rec.offset + rec.size
	for _, ev := range r.guard.Take(end) {
		if ev.Kind == jsonguard.TooDeep && ev.Out >= rec.offset && (rec.drop == nil || rec.drop.reason != engine.ReasonTooLarge) {
			rec.raw = nil
			rec.drop = dropf(engine.ReasonTooDeep, "arrays and objects nested deeper than %d levels at byte offset %d", r.depth, ev.Feed)
		}
	}
	r.guard.Forget(rec.offset)
	start := r.guard.FeedOffset(rec.offset)
	rec.size = r.guard.FeedOffset(end) - start
	rec.offset = start
}

// deepMember returns a dropped record for a member of a bundle in which
// the guard replaced a value nested too deeply, if it did.
func (r *reader) deepMember(name string, start int64) (record, bool) {
	end := r.offset()
	for _, ev := range r.guard.Take(end) {
		if ev.Kind == jsonguard.TooDeep {
			rec := record{index: r.index, offset: start, size: end - start,
				drop: dropf(engine.ReasonTooDeep, "bundle property %q nested deeper than %d levels at byte offset %d", name, r.depth, ev.Feed)}
			r.index++
			return rec, true
		}
	}
	return record{}, false
}

func (r *reader) advance() (record, error) {
	for {
		if len(r.stack) == 0 {
			if r.val.open {
				r.endValue()
			}
			r.src.release() // between values, lines may end
			kind := r.peek()
			r.beginValue()
			switch kind {
			case '{':
				if _, err := r.readToken(); err != nil {
					return record{}, r.fail(err)
				}
				r.obj = &topObject{start: r.offset() - 1}
				r.stack = append(r.stack, frameObject)
			case '[':
				if _, err := r.readToken(); err != nil {
					return record{}, r.fail(err)
				}
				r.stack = append(r.stack, frameArray)
			case 0:
				_, err := r.dec.ReadToken()
				if err == io.EOF {
					return record{}, io.EOF
				}
				return record{}, r.fail(err)
			default:
				return r.nonObject()
			}
			continue
		}

		switch r.stack[len(r.stack)-1] {
		case frameArray:
			switch r.peek() {
			case ']':
				if _, err := r.readToken(); err != nil {
					return record{}, r.fail(err)
				}
				r.stack = r.stack[:len(r.stack)-1]
			case '{':
				return r.element()
			case 0:
				_, err := r.dec.ReadToken()
				return record{}, r.fail(err)
			default:
				return r.nonObject()
			}

		case frameObject:
			rec, ok, err := r.member()
			if err != nil || ok {
				return rec, err
			}
		}
	}
}

// element reads an object element of a record array.
func (r *reader) element() (record, error) {
	return r.value(func(v jsontext.Value, rec *record) { rec.raw = bytes.Clone(v) })
}

// nonObject reads a record that is not an object and drops it.
func (r *reader) nonObject() (record, error) {
	return r.value(func(v jsontext.Value, rec *record) {
		rec.drop = dropf(engine.ReasonNotObject, "record is a JSON %s, not an object", v.Kind().String())
	})
}

// value reads the next value as one record (skipping it as too large past
// the record limit) and lets fill say what the record carries.
func (r *reader) value(fill func(jsontext.Value, *record)) (record, error) {
	v, err := r.readValue(r.max)
	if errors.Is(err, errRecordTooLarge) {
		return r.skipTooLarge()
	}
	if err != nil {
		return record{}, r.fail(err)
	}
	end := r.offset()
	rec := record{index: r.index, offset: end - int64(len(v)), size: int64(len(v))}
	fill(v, &rec)
	r.index++
	return rec, nil
}

// member reads the next member (or the end) of the top-level object. It
// returns ok when it produced a record: the object itself, once it ended
// and was not a bundle.
func (r *reader) member() (record, bool, error) {
	obj := r.obj
	switch r.peek() {
	case '}':
		if _, err := r.readToken(); err != nil {
			return record{}, false, r.fail(err)
		}
		r.stack = r.stack[:len(r.stack)-1]
		r.obj = nil
		if obj.bundle || obj.typ == "bundle" {
			return record{}, false, nil
		}
		end := r.offset()
		rec := record{index: r.index, offset: obj.start, size: end - obj.start, id: obj.id}
		r.index++
		if obj.tooLarge {
			rec.drop = dropf(engine.ReasonTooLarge, "object of %d bytes is larger than the %d-byte limit", rec.size, r.max)
			return rec, true, nil
		}
		rec.raw = append(obj.raw, '}')
		if obj.raw == nil {
			rec.raw = []byte("{}")
		}
		return rec, true, nil
	case '"':
	case 0:
		_, err := r.dec.ReadToken()
		return record{}, false, r.fail(err)
	default:
		// Not reachable with a valid decoder: let it report the error.
		_, err := r.dec.ReadToken()
		return record{}, false, r.fail(err)
	}

	tok, err := r.readToken()
	if err != nil {
		return record{}, false, r.fail(err)
	}
	name := tok.String()
	// A bundle's "objects" array is streamed; so is a second one (a
	// duplicate key, which STIX does not allow but JSON parsers differ on:
	// its objects are read rather than ignored without a word).
	if name == "objects" && (obj.typ == "" || obj.typ == "bundle") && r.peek() == '[' {
		if _, err := r.readToken(); err != nil {
			return record{}, false, r.fail(err)
		}
		obj.bundle, obj.raw = true, nil
		r.stack = append(r.stack, frameArray)
		// The members read so far belong to the bundle, not a record.
		if big := obj.skipped; big != nil {
			obj.skipped = nil
			r.guard.Take(r.offset()) // dropped already
			big.index = r.index
			r.index++
			return *big, true, nil
		}
		rec, deep := r.deepMember("before objects", obj.start)
		return rec, deep, nil
	}
	valueStart := r.offset()

	budget := r.max
	collect := !obj.bundle && !obj.tooLarge
	if collect {
		budget = r.max - (r.offset() - obj.start)
		if budget <= 0 {
			collect, obj.tooLarge, obj.raw, budget = false, true, nil, r.max
		}
	}
	v, err := r.readValue(budget)
	if errors.Is(err, errRecordTooLarge) {
		start, size, _, err := r.skipValue()
		if err != nil {
			return record{}, false, err
		}
		if collect {
			obj.tooLarge, obj.raw = true, nil
		}
		big := record{offset: start, size: size,
			drop: dropf(engine.ReasonTooLarge, "bundle property %q of %d bytes is larger than the %d-byte limit", name, size, r.max)}
		if obj.bundle {
			big.index = r.index
			r.index++
			return big, true, nil
		}
		if obj.skipped == nil {
			obj.skipped = &big
		}
		return record{}, false, nil
	}
	if err != nil {
		return record{}, false, r.fail(err)
	}
	if obj.bundle {
		rec, deep := r.deepMember(name, valueStart)
		return rec, deep, nil
	}
	if (name == "type" || name == "id") && v.Kind() == '"' {
		u, _ := jsontext.AppendUnquote(nil, v)
		s := string(u)
		if name == "type" && obj.typ == "" {
			obj.typ = s
		} else if name == "id" && obj.id == "" {
			obj.id = s
		}
	}
	if collect {
		if obj.raw == nil {
			obj.raw = append(obj.raw, '{')
		} else {
			obj.raw = append(obj.raw, ',')
		}
		obj.raw, _ = jsontext.AppendQuote(obj.raw, name)
		obj.raw = append(obj.raw, ':')
		obj.raw = append(obj.raw, v...)
	}
	return record{}, false, nil
}

// peek returns the kind of the next token, going on past the end of a line
// where the value may cross it (see pastLineEnd). It returns 0 when the
// next read would fail.
func (r *reader) peek() jsontext.Kind {
	for {
		k := r.dec.PeekKind()
		if k != 0 || !r.src.refused || !r.pastLineEnd() {
			return k
		}
	}
}

// readToken reads one token with the source armed, so that a single
// oversized token (a huge member name) cannot be buffered whole.
func (r *reader) readToken() (jsontext.Token, error) {
	for {
		r.src.arm(r.offset(), r.max)
		t, err := r.dec.ReadToken()
		r.src.disarm()
		if errors.Is(err, errLineEnd) && r.pastLineEnd() {
			continue
		}
		if errors.Is(err, errRecordTooLarge) {
			err = fmt.Errorf("%w (%d bytes)", ErrTokenTooLarge, r.max)
		}
		return t, err
	}
}

// readValue reads one value with the source armed to refuse bytes beyond
// budget bytes after the current offset.
func (r *reader) readValue(budget int64) (jsontext.Value, error) {
	for {
		r.src.arm(r.offset(), budget)
		v, err := r.dec.ReadValue()
		r.src.disarm()
		if errors.Is(err, errLineEnd) && r.pastLineEnd() {
			continue
		}
		return v, err
	}
}

// skipTooLarge skips the record array element the decoder gave up on and
// returns it as a dropped record.
func (r *reader) skipTooLarge() (record, error) {
	start, size, head, err := r.skipValue()
	if err != nil {
		return record{}, err
	}
	rec := record{index: r.index, offset: start, size: size, id: sniffID(head),
		drop: dropf(engine.ReasonTooLarge, "record of %d bytes is larger than the %d-byte limit", size, r.max)}
	r.index++
	return rec, nil
}

// skipChunk is how much skipValue reads at a time.
const skipChunk = 32 << 10

// skipValue skips, without buffering it, the value the decoder stopped
// inside because it grew past the limit, then starts a fresh decoder on
// the rest of the feed in the same nesting. It returns the value's feed
// offset, its length and its first bytes.
func (r *reader) skipValue() (start, size int64, head []byte, err error) {
	from := r.offset()
	// The decoder's unread bytes are scanned where they are, not copied
	// back to the source: they may be most of a record limit.
	unread := r.dec.UnreadBuffer()
	if r.src.pos-int64(len(unread)) != from {
		return 0, 0, nil, r.fail(fmt.Errorf("resume after oversized value: source at %d, decoder at %d", r.src.pos-int64(len(unread)), from))
	}
	var sk skipper
	pos := from
	// feed scans b, the bytes at pos, and returns how many belong to the
	// value and whether it ended.
	feed := func(b []byte) (int, bool) {
		wasStarted := sk.started
		i, done := sk.scan(b)
		if sk.started {
			lo := 0
			if !wasStarted {
				lo = sk.startAt
				start = pos + int64(lo)
			}
			if room := 512 - len(head); room > 0 && lo < i {
				head = append(head, b[lo:min(i, lo+room)]...)
			}
		}
		pos += int64(i)
		return i, done
	}
	i, done := feed(unread)
	if done {
		r.src.pushBack(unread[i:])
	}
	buf := r.scratchBuffer()
	for !done {
		n, rerr := r.src.Read(buf)
		if n > 0 {
			var i int
			if i, done = feed(buf[:n]); done {
				r.src.pushBack(buf[i:n])
				break
			}
		}
		if rerr != nil {
			if errors.Is(rerr, errLineEnd) && r.pastLineEnd() {
				continue
			}
			kind := engine.ErrRead
			switch {
			case rerr == io.EOF:
				kind, rerr = engine.ErrSyntax, io.ErrUnexpectedEOF
			case errors.Is(rerr, errLineEnd):
				kind = engine.ErrSyntax
			}
			return 0, 0, nil, r.fail(&engine.OffsetError{Offset: pos, Records: r.index, Err: fmt.Errorf("%w: %w", kind, rerr)})
		}
	}
	size = pos - start

	// Resume: a prefix of synthetic bytes puts the new decoder inside the
	// same nesting, just after a placeholder value.
	var prefix []byte
	for _, f := range r.stack {
		if f == frameObject {
			prefix = append(prefix, `{"":`...)
		} else {
			prefix = append(prefix, '[')
		}
	}
	prefix = append(prefix, '0')
	r.src.synthetic = prefix
	r.delta = r.src.pos - int64(len(prefix))
	r.dec.Reset(r.src, decoderOptions...)
	tokens := 1
	for _, f := range r.stack {
		if f == frameObject {
			tokens += 2
		} else {
			tokens++
		}
	}
	for range tokens {
		if _, err := r.dec.ReadToken(); err != nil {
			return 0, 0, nil, r.fail(err)
		}
	}
	return start, size, head, nil
}

// fail turns a decoder error into the *engine.OffsetError that stops the feed, or,
// for a syntax error in an NDJSON line, into the *badLine that makes next
// skip the line.
func (r *reader) fail(err error) error {
	var bl *badLine
	if errors.As(err, &bl) {
		return err
	}
	oe := (*engine.OffsetError)(nil)
	if !errors.As(err, &oe) {
		off := r.offset()
		var se *jsontext.SyntacticError
		switch {
		case errors.As(err, &se):
			off = se.ByteOffset + r.delta
			err = fmt.Errorf("%w: %w", engine.ErrSyntax, err)
		case errors.Is(err, errLineEnd):
			off = r.src.pos
			err = fmt.Errorf("%w: %w", engine.ErrSyntax, errLineEnd)
		case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, ErrTokenTooLarge):
			err = fmt.Errorf("%w: %w", engine.ErrSyntax, err)
		default:
			err = fmt.Errorf("%w: %w", engine.ErrRead, err)
		}
		oe = &engine.OffsetError{Offset: off, Records: r.index, Err: err}
	}
	if !r.val.open || !r.val.line || !errors.Is(oe, engine.ErrSyntax) {
		return oe
	}
	reason := engine.ReasonInvalidJSON
	if errors.Is(oe, ErrTokenTooLarge) {
		reason = engine.ReasonTooLarge
	}
	return &badLine{offset: oe.Offset, reason: reason, err: oe.Err}
}

// skipper finds the end of one JSON value in a byte stream without
// validating it: it skips white space and a ',' or ':' before the value,
// then tracks nesting and strings.
type skipper struct {
	started   bool // the value's first byte was seen
	startAt   int  // index of that byte in the chunk it was seen in
	scalar    bool // the value is a number or literal
	inString  bool
	escaped   bool
	depth     int
	delimSeen bool
}

// scan consumes b and returns how many bytes belong to the value (and what
// precedes it) and whether the value ended within b.
func (s *skipper) scan(b []byte) (int, bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !s.started {
			switch c {
			case ' ', '\t', '\r', '\n':
				continue
			case ',', ':':
				if !s.delimSeen {
					s.delimSeen = true
					continue
				}
			}
			s.started, s.startAt = true, i
			switch c {
			case '{', '[':
				s.depth = 1
			case '"':
				s.inString = true
			default:
				s.scalar = true
			}
			continue
		}
		switch {
		case s.inString:
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inString = false
				if s.depth == 0 {
					return i + 1, true
				}
			}
		case s.scalar:
			switch c {
			case ',', ']', '}', ' ', '\t', '\r', '\n':
				return i, true
			}
		default:
			switch c {
			case '"':
				s.inString = true
			case '{', '[':
				s.depth++
			case '}', ']':
				s.depth--
				if s.depth == 0 {
					return i + 1, true
				}
			}
		}
	}
	return len(b), false
}

var sniffIDPattern = regexp.MustCompile(`"id"\s*:\s*"([^"\\]{1,300})"`)

// sniffID finds the first "id" member in the first bytes of a record that
// is too large to decode, for the log line.
func sniffID(head []byte) string {
	if m := sniffIDPattern.FindSubmatch(head); m != nil {
		return string(m[1])
	}
	return ""
}

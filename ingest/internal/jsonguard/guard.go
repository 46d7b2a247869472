// Package jsonguard bounds what a JSON decoder reading a feed can be made to
// hold. A Guard sits between the feed and the decoder and passes the JSON
// text through, changed in three ways, each of which keeps valid JSON valid:
//
//   - White space between tokens is squeezed: of a run longer than
//     MaxSpace bytes, only the first MaxSpace bytes (and its first newline)
//     are passed on, so the decoder, which keeps the white space it skips
//     in its buffer, never holds more than a few KiB of it.
//   - A value nested deeper than MaxDepth levels (counted from the top of
//     the document) is replaced by the number 0 and skipped in constant
//     memory; a TooDeep event says where.
//   - A value the reader armed (Arm) that grows past its budget is cut
//     short: the Guard closes what is open (a string with '"', an object
//     with '}', a member waiting for its value with ':0}' and so on), skips
//     the rest of the value in constant memory and records a TooLarge
//     event. With MaxToken set, a single string or number longer than
//     MaxToken bytes is cut the same way anywhere in the document.
//
// Offsets: the decoder counts the bytes the Guard passes on (the stream);
// FeedOffset and NewlinesBefore translate stream offsets back to the feed.
// A reader takes the events (Take) after it has read a record and drops the
// record when one falls inside it.
package jsonguard

import (
	"io"
	"sort"
)

// Defaults of Options.
const (
	// DefaultMaxSpace is the longest run of white space passed on whole.
	DefaultMaxSpace = 1024
	// readChunk is how much of the feed a Guard reads at a time; it
	// bounds how far the Guard runs ahead of its reader.
	readChunk = 32 << 10
)

// Options configure a Guard.
type Options struct {
	// MaxDepth is the deepest nesting passed on; 0 means no limit.
	MaxDepth int
	// MaxToken, when positive, cuts any string or number longer than
	// this many bytes.
	MaxToken int64
	// MaxSpace is the longest run of white space passed on whole; 0 means
	// DefaultMaxSpace.
	MaxSpace int
	// Base is the feed offset of the first byte the Guard reads (the
	// length of a byte-order mark the caller skipped).
	Base int64
}

// Kind is the kind of an Event.
type Kind uint8

// Kinds of Event.
const (
	// TooDeep: a value nested deeper than MaxDepth was replaced by 0.
	TooDeep Kind = iota + 1
	// TooLarge: an armed value or a single token grew past its limit and
	// was cut short.
	TooLarge
)

// Event says where the Guard changed a value.
type Event struct {
	Kind Kind
	// Out is the stream offset of the value (for TooDeep, of the 0 that
	// replaced it; for an armed TooLarge, the value's first byte).
	Out int64
	// Feed is the feed offset of the byte where the change began.
	Feed int64
	// Size is, for TooLarge, how many bytes of the value had been read
	// when it was cut (the value is at least that long).
	Size int64
}

type lexState uint8

const (
	lexNone lexState = iota
	lexString
	lexNumber
	lexLiteral
)

type phase uint8

const (
	objStart phase = iota // after '{'
	objName               // after ',' in an object
	objColon              // after a member name
	objValue              // after ':'
	objAfter              // after a member value
	arrStart              // after '['
	arrValue              // after ',' in an array
	arrAfter              // after an element
)

type level struct {
	phase phase
	start int64 // stream offset of the '{' or '['
}

type skipKind uint8

const (
	skipNone   skipKind = iota
	skipValue           // the rest of a container (depth levels open)
	skipString          // the rest of a string
	skipNumber          // the rest of a number
)

type lineState uint8

const (
	lineEmpty  lineState = iota
	lineOpener           // the line holds only '{' or '[' so far
	lineOther
)

// mark says that from stream offset out on, feed = stream + delta and nl
// newlines of the feed were not passed on.
type mark struct {
	out, delta, nl int64
}

// Guard is an io.Reader over a JSON feed; see the package comment.
type Guard struct {
	r    io.Reader
	opts Options

	data  []byte // the chunk of the feed being read
	ip, n int    // data[ip:n] is not processed yet
	err   error

	buf  []byte // output not yet read
	bp   int
	out  int64 // stream offset just past buf
	last byte  // the last byte passed on

	lex     lexState
	esc     bool
	hex     int
	tok     int64
	tokOut  int64
	tokFeed int64
	lit     byte
	name    bool
	levels  []level

	space   int
	spaceNL bool

	skip      skipKind
	skipDepth int
	skipStr   bool
	skipEsc   bool

	armed     bool
	armBase   int
	armStart  int64
	armLimit  int64
	armFeed   int64
	lines     bool
	line      lineState
	feed      int64 // feed offset of in[ip]
	delta, nl int64
	dirty     bool // delta or nl changed since the last mark
	marks     []mark
	events    []Event
	growth    Growth
}

// New returns a Guard reading r.
func New(r io.Reader, opts Options) *Guard {
	if opts.MaxSpace <= 0 {
		opts.MaxSpace = DefaultMaxSpace
	}
	return &Guard{r: r, opts: opts, feed: opts.Base, delta: opts.Base, marks: []mark{{0, opts.Base, 0}}}
}

// SetLines turns line mode (NDJSON) on or off. In line mode a newline ends
// whatever is open, unless its line holds only the '{' or '[' that opens a
// multi-line value, which ends line mode.
func (g *Guard) SetLines(on bool) { g.lines, g.line = on, lineEmpty }

// Arm limits the container that starts at stream offset start, at nesting
// depth (0 at the top of the document), to budget bytes. It does nothing
// when that container has already ended in what the Guard passed on.
func (g *Guard) Arm(start int64, depth int, budget int64) {
	g.armed = false
	if depth < len(g.levels) && g.levels[depth].start == start {
		g.armed, g.armBase, g.armStart, g.armLimit = true, depth, start, start+budget
		g.armFeed = g.FeedOffset(start)
	}
}

// Disarm lifts the limit Arm set.
func (g *Guard) Disarm() { g.armed = false }

// Take returns, and forgets, the events at stream offsets before end.
func (g *Guard) Take(end int64) []Event {
	i := 0
	for i < len(g.events) && g.events[i].Out < end {
		i++
	}
	if i == 0 {
		return nil
	}
	evs := append([]Event(nil), g.events[:i]...)
	g.events = append(g.events[:0], g.events[i:]...)
	return evs
}

// Pending reports whether there are events at stream offsets from from to
// end (excluded).
func (g *Guard) Pending(from, end int64) bool {
	for _, ev := range g.events {
		if ev.Out >= from && ev.Out < end {
			return true
		}
	}
	return false
}

// Forget drops what the Guard keeps to translate stream offsets before
// out: the reader asks about none of them any more.
func (g *Guard) Forget(out int64) {
	i := g.markAt(out)
	if i > 0 {
		g.marks = append(g.marks[:0], g.marks[i:]...)
	}
}

func (g *Guard) markAt(out int64) int {
	i := sort.Search(len(g.marks), func(i int) bool { return g.marks[i].out > out }) - 1
	return max(i, 0)
}

// FeedOffset is the feed offset of the byte at stream offset out.
func (g *Guard) FeedOffset(out int64) int64 { return out + g.marks[g.markAt(out)].delta }

// NewlinesBefore is the number of feed newlines before stream offset out
// that the Guard did not pass on.
func (g *Guard) NewlinesBefore(out int64) int64 { return g.marks[g.markAt(out)].nl }

// Consumed is the number of feed bytes read, including Base.
func (g *Guard) Consumed() int64 { return g.feed }

// Read implements io.Reader.
func (g *Guard) Read(p []byte) (int, error) {
	g.growth.Note(len(p))
	for g.bp == len(g.buf) {
		g.buf, g.bp = g.buf[:0], 0
		if g.ip == g.n {
			if g.err != nil {
				return 0, g.err
			}
			if g.data == nil {
				g.data = make([]byte, readChunk)
			}
			n, err := g.r.Read(g.data)
			g.ip, g.n = 0, n
			g.err = err
			if n == 0 {
				continue
			}
		}
		g.process()
	}
	n := copy(p, g.buf[g.bp:])
	g.bp += n
	return n, nil
}

package stix

import (
	"bytes"
	"fmt"
	"io"

	"github.com/ransomeye/intel/ingest/engine"
)

// badLine is how the reader's steps report an NDJSON line that is not valid
// JSON: next skips the line and returns it as a dropped record.
type badLine struct {
	// offset is the feed offset at which reading the line failed.
	offset int64
	reason engine.Reason
	err    error
}

func (e *badLine) Error() string {
	return fmt.Sprintf("invalid NDJSON line at byte offset %d: %v", e.offset, e.err)
}

// beginValue notes the top-level value that starts at the decoder's
// position, if any, once peek has found its first byte: where it starts and
// whether it is read as an NDJSON line (with its line number), or else
// where its first line ends.
func (r *reader) beginValue() {
	u := r.dec.UnreadBuffer()
	i := 0
	for i < len(u) && isSpace(u[i]) {
		i++
	}
	if i == len(u) {
		return // the end of the feed, or a read error
	}
	r.val = topValue{open: true, start: r.offset() + int64(i), nl: -1, line: r.lines}
	if r.lines {
		// Since the source was last released it has served no newline
		// but the one that ends the value's line, if it got that far.
		r.val.newlines = r.src.newlines
		if r.src.blocked {
			r.val.newlines--
		}
		return
	}
	if j := bytes.IndexByte(u[i:], '\n'); j >= 0 {
		r.val.nl = r.val.start + int64(j)
	} else {
		r.src.watch()
	}
}

// endValue notes the end of the top-level value at the decoder's position.
// Outside line mode, a value that lay on a single line switches line mode
// on for the values after it.
func (r *reader) endValue() {
	r.val.open = false
	if r.lines {
		return
	}
	nl := r.val.nl
	if nl < 0 {
		nl = r.src.nl
	}
	r.src.watching = false
	if nl < 0 || nl >= r.offset() {
		r.enterLines()
	}
}

// enterLines switches line mode on. The decoder may hold bytes of later
// lines: they go back to the source, which serves them again line by line
// to a fresh decoder.
func (r *reader) enterLines() {
	r.src.pushBack(r.dec.UnreadBuffer())
	r.delta = r.src.pos
	r.dec.Reset(r.src, decoderOptions...)
	r.lines, r.src.lines = true, true
	r.guard.SetLines(true)
}

// pastLineEnd is called when the source refused to serve bytes past the end
// of a line. It releases the source, so that the refused read can be
// retried, and returns true where reading may go on onto the next line:
// between top-level values, and in a value whose line holds nothing but
// the '{' or '[' that opens it — a multi-line value, which ends line mode.
// It returns false for an NDJSON line whose value does not end on it.
func (r *reader) pastLineEnd() bool {
	if r.val.open && r.val.line {
		if r.offset() != r.val.start+1 || !blank(r.dec.UnreadBuffer()) {
			return false
		}
		r.val.line, r.val.nl = false, r.src.pos-1 // the newline the source stopped after
		r.lines, r.src.lines = false, false
		r.guard.SetLines(false)
	}
	r.src.release()
	return true
}

// skipLine skips the rest of the NDJSON line the current value is on,
// without buffering it, and returns the line as a dropped record. The
// source has served no byte past the end of the line: it was released last
// before the value started.
func (r *reader) skipLine(bl *badLine) (record, error) {
	buf := r.scratchBuffer()
	for !r.src.blocked {
		n, err := r.src.Read(buf)
		if n > 0 {
			continue
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return record{}, &engine.OffsetError{Offset: r.src.pos, Records: r.index, Err: fmt.Errorf("%w: %w", engine.ErrRead, err)}
		}
	}
	end := r.src.pos
	if r.src.blocked {
		end-- // the newline
	}
	line := r.val.newlines + 1 + r.guard.NewlinesBefore(r.val.start)
	rec := record{index: r.index, offset: r.val.start, size: end - r.val.start, line: line,
		drop: dropf(bl.reason, "line %d: %v at byte offset %d", line, bl.err, r.guard.FeedOffset(bl.offset))}
	if r.obj != nil {
		rec.id = r.obj.id
	}
	r.index++

	r.delta = r.src.pos
	r.dec.Reset(r.src, decoderOptions...)
	r.stack, r.obj, r.val = r.stack[:0], nil, topValue{}
	return rec, nil
}

// scratchBuffer is the buffer values and lines are skipped through.
func (r *reader) scratchBuffer() []byte {
	if r.scratch == nil {
		r.scratch = make([]byte, skipChunk)
	}
	return r.scratch
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// blank reports whether b is JSON white space only.
func blank(b []byte) bool {
	for _, c := range b {
		if !isSpace(c) {
			return false
		}
	}
	return true
}

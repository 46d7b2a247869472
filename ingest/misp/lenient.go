package misp

import (
	"io"

	"github.com/ransomeye/intel/ingest/internal/jsonguard"
)

// maxHeldSpace bounds the white space held after a comma while deciding
// whether it is a trailing one; a longer run lets the comma through as is.
const maxHeldSpace = 64 << 10

// countingReader counts the bytes read through it. Only the reading
// goroutine uses it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// commaReader tolerates trailing commas: a ',' followed, after optional
// white space, by ']' or '}' outside a string is replaced by a space. Byte
// offsets are unchanged, so later syntax errors still name the right byte.
// onFix is told the offset of every comma replaced.
type commaReader struct {
	r     io.Reader
	onFix func(offset int64)

	in       []byte // bytes read from r not yet scanned
	out      []byte // scanned bytes, returned from outPos on
	outPos   int
	offset   int64 // offset of in[0] in the input
	inString bool
	escape   bool
	held     bool  // a comma is held back
	heldAt   int64 // its offset
	space    []byte
	err      error
	growth   jsonguard.Growth
}

func newCommaReader(r io.Reader, onFix func(int64)) *commaReader {
	return &commaReader{r: r, onFix: onFix, in: make([]byte, 0, 32<<10)}
}

func (c *commaReader) Read(p []byte) (int, error) {
	c.growth.Note(len(p))
	if c.outPos == len(c.out) {
		c.out, c.outPos = c.out[:0], 0
	}
	for len(c.out) == 0 {
		if c.err != nil {
			if c.held { // input ended after a comma: let the decoder judge
				c.out = append(append(c.out, ','), c.space...)
				c.held, c.space = false, nil
				continue
			}
			return 0, c.err
		}
		n, err := c.r.Read(c.in[:cap(c.in)])
		c.scan(c.in[:n])
		if err != nil {
			c.err = err
		}
	}
	n := copy(p, c.out[c.outPos:])
	c.outPos += n
	return n, nil
}

func (c *commaReader) scan(b []byte) {
	start := 0 // b[start:i] is to be copied as is
	flush := func(i int) {
		c.out = append(c.out, b[start:i]...)
		start = i
	}
	for i := 0; i < len(b); i++ {
		ch := b[i]
		if c.held {
			switch ch {
			case ' ', '\t', '\r', '\n':
				c.space = append(c.space, ch)
				start = i + 1
				if len(c.space) > maxHeldSpace {
					c.out = append(append(c.out, ','), c.space...)
					c.held, c.space = false, nil
				}
				continue
			case ']', '}':
				c.out = append(append(c.out, ' '), c.space...)
				if c.onFix != nil {
					c.onFix(c.heldAt)
				}
			default:
				c.out = append(append(c.out, ','), c.space...)
			}
			c.held, c.space = false, c.space[:0]
			start = i
		}
		if !c.inString && ch != '"' && ch != ',' {
			continue // the common case: nothing to track
		}
		switch {
		case c.inString:
			switch {
			case c.escape:
				c.escape = false
			case ch == '\\':
				c.escape = true
			case ch == '"':
				c.inString = false
			}
		case ch == '"':
			c.inString = true
		case ch == ',':
			flush(i)
			c.held, c.heldAt = true, c.offset+int64(i)
			start = i + 1
		}
	}
	if !c.held {
		flush(len(b))
	}
	c.offset += int64(len(b))
}

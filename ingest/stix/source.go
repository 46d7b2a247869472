package stix

import (
	"bytes"
	"io"

	"github.com/ransomeye/intel/ingest/internal/jsonguard"
)

// source is the reader the JSON decoder reads the feed through. It knows the
// feed offset of every byte it hands out, serves synthetic bytes (a prefix
// that puts a fresh decoder back into the nesting the reader was in) and
// pushed-back bytes before the feed, and refuses to hand out bytes beyond a
// limit, which is how a record larger than the size limit is noticed before
// the decoder has buffered it whole. In line mode (NDJSON) it also hands out
// no byte past the end of the current line until the reader releases it,
// which is how a line whose value does not end on it is noticed.
type source struct {
	r io.Reader
	// synthetic bytes are served first and have no feed offset.
	synthetic []byte
	// pending bytes were read from r earlier and pushed back; they are
	// served before r.
	pending []byte
	// spare is pending's buffer when pending holds the rest of a read that
	// line mode cut short.
	spare []byte
	// pos is the feed offset of the next byte served (after synthetic).
	pos int64
	// newlines is the number of '\n' bytes in the feed before pos.
	newlines int64
	// limit, when >= 0, is the feed offset no byte at or after which is
	// served: Read returns errRecordTooLarge instead.
	limit int64
	// lines is line mode: a Read serves bytes up to and including the
	// next '\n' at most, and then blocked is set.
	lines bool
	// blocked means the last byte served is a '\n' served in line mode:
	// Read returns errLineEnd until release.
	blocked bool
	// refused is set when Read returned errLineEnd since the last release.
	refused bool
	// watching makes the source note in nl the feed offset of the first
	// '\n' it serves; nl is -1 until then.
	watching bool
	nl       int64
	// err is the sticky error of r.
	err error
	// growth returns the decoder's outgrown buffers to the system.
	growth jsonguard.Growth
}

func newSource(r io.Reader) *source { return &source{r: r, limit: -1} }

// arm makes the source refuse bytes at or after from+max.
func (s *source) arm(from, max int64) { s.limit = from + max }

// disarm lifts the limit.
func (s *source) disarm() { s.limit = -1 }

// watch starts noting the first newline served from now on.
func (s *source) watch() { s.watching, s.nl = true, -1 }

// release lets the source serve the next line.
func (s *source) release() { s.blocked, s.refused = false, false }

// pushBack makes b (the bytes just before the current position) be served
// again.
func (s *source) pushBack(b []byte) {
	if len(b) == 0 {
		return
	}
	p := make([]byte, 0, len(b)+len(s.pending))
	p = append(p, b...)
	s.pending = append(p, s.pending...)
	s.pos -= int64(len(b))
	if nl := bytes.Count(b, newline); nl > 0 {
		// The newline that blocked the source is to be served again.
		s.newlines -= int64(nl)
		s.blocked = false
	}
}

var newline = []byte{'\n'}

func (s *source) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	s.growth.Note(len(p))
	if len(s.synthetic) > 0 {
		n := copy(p, s.synthetic)
		s.synthetic = s.synthetic[n:]
		return n, nil
	}
	if s.blocked {
		s.refused = true
		return 0, errLineEnd
	}
	if s.limit >= 0 {
		allowed := s.limit - s.pos
		if allowed <= 0 {
			return 0, errRecordTooLarge
		}
		if int64(len(p)) > allowed {
			p = p[:allowed]
		}
	}
	if len(s.pending) > 0 {
		b := s.pending[:min(len(p), len(s.pending))]
		if s.lines {
			if i := bytes.IndexByte(b, '\n'); i >= 0 {
				b, s.blocked = b[:i+1], true
			}
		}
		n := copy(p, b)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		s.served(p[:n])
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil {
		s.err = err
		if n > 0 {
			err = nil
		}
	}
	if s.lines {
		if i := bytes.IndexByte(p[:n], '\n'); i >= 0 {
			s.pending = append(s.spare[:0], p[i+1:n]...)
			s.spare = s.pending[:0]
			n, s.blocked = i+1, true
		}
	}
	s.served(p[:n])
	return n, err
}

// served accounts for b, just handed out.
func (s *source) served(b []byte) {
	if s.watching {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			s.watching, s.nl = false, s.pos+int64(i)
		}
	}
	s.pos += int64(len(b))
	s.newlines += int64(bytes.Count(b, newline))
}

package stix

import "io"

// source is the reader the JSON decoder reads the feed through. It knows the
// feed offset of every byte it hands out, serves synthetic bytes (a prefix
// that puts a fresh decoder back into the nesting the reader was in) and
// pushed-back bytes before the feed, and refuses to hand out bytes beyond a
// limit, which is how a record larger than the size limit is noticed before
// the decoder has buffered it whole.
type source struct {
	r io.Reader
	// synthetic bytes are served first and have no feed offset.
	synthetic []byte
	// pending bytes were read from r earlier and pushed back; they are
	// served before r.
	pending []byte
	// pos is the feed offset of the next byte served (after synthetic).
	pos int64
	// limit, when >= 0, is the feed offset no byte at or after which is
	// served: Read returns errRecordTooLarge instead.
	limit int64
	// err is the sticky error of r.
	err error
}

func newSource(r io.Reader) *source { return &source{r: r, limit: -1} }

// arm makes the source refuse bytes at or after from+max.
func (s *source) arm(from, max int64) { s.limit = from + max }

// disarm lifts the limit.
func (s *source) disarm() { s.limit = -1 }

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
}

func (s *source) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(s.synthetic) > 0 {
		n := copy(p, s.synthetic)
		s.synthetic = s.synthetic[n:]
		return n, nil
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
		n := copy(p, s.pending)
		s.pending = s.pending[n:]
		if len(s.pending) == 0 {
			s.pending = nil
		}
		s.pos += int64(n)
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.pos += int64(n)
	if err != nil {
		s.err = err
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

package misp

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// maxSpoolMem is what a spool keeps in memory before it writes to a
// temporary file.
const maxSpoolMem = 4 << 20

// spool keeps, in feed order, the records of a frame read before the
// frame is known to be an event: a bare event whose keys are sorted
// ("Attribute", "Object", "EventReport" before "info", "timestamp" and
// "uuid", as PyMISP's to_json(sort_keys=True) and jq -S write it) gives
// its records before anything says it is an event. They are emitted at
// the frame's end, mapped as what the frame turned out to be (an event's
// records, in its version, or records outside any event), so one event
// maps to one graph whatever its key order. Up to maxSpoolMem bytes are
// kept in memory, the rest in an unlinked temporary file, so an event of
// any size is held in constant memory.
type spool struct {
	mem      []spooled
	memBytes int
	file     *os.File
	w        *bufio.Writer
	n        int
}

// spooled is one record kept: its kind, its stream offset and its bytes.
type spooled struct {
	kind   recordKind
	offset int64
	raw    []byte
}

// add keeps a record.
func (s *spool) add(kind recordKind, offset int64, raw []byte) error {
	s.n++
	if s.file == nil && s.memBytes+len(raw) <= maxSpoolMem {
		s.mem = append(s.mem, spooled{kind: kind, offset: offset, raw: raw})
		s.memBytes += len(raw)
		return nil
	}
	if s.file == nil {
		f, err := os.CreateTemp("", "intel-misp-spool-*")
		if err != nil {
			return fmt.Errorf("spool MISP records read before their event's uuid: %w", err)
		}
		// Unlinked at once where the system allows it: nothing is left
		// behind, whatever happens to the load.
		_ = os.Remove(f.Name())
		s.file, s.w = f, bufio.NewWriterSize(f, 1<<16)
	}
	var hdr [1 + 2*binary.MaxVarintLen64]byte
	hdr[0] = byte(kind)
	k := 1 + binary.PutVarint(hdr[1:], offset)
	k += binary.PutUvarint(hdr[k:], uint64(len(raw)))
	if _, err := s.w.Write(hdr[:k]); err != nil {
		return fmt.Errorf("spool MISP records read before their event's uuid: %w", err)
	}
	if _, err := s.w.Write(raw); err != nil {
		return fmt.Errorf("spool MISP records read before their event's uuid: %w", err)
	}
	return nil
}

// each calls fn with every record kept, in the order they were added, and
// releases the spool.
func (s *spool) each(fn func(spooled) error) error {
	defer s.close()
	for i, r := range s.mem {
		s.mem[i] = spooled{}
		if err := fn(r); err != nil {
			return err
		}
	}
	s.mem = nil
	if s.file == nil {
		return nil
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("read back spooled MISP records: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("read back spooled MISP records: %w", err)
	}
	r := bufio.NewReaderSize(s.file, 1<<16)
	for {
		kind, err := r.ReadByte()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read back spooled MISP records: %w", err)
		}
		offset, err := binary.ReadVarint(r)
		if err != nil {
			return fmt.Errorf("read back spooled MISP records: %w", err)
		}
		size, err := binary.ReadUvarint(r)
		if err != nil {
			return fmt.Errorf("read back spooled MISP records: %w", err)
		}
		raw := make([]byte, size)
		if _, err := io.ReadFull(r, raw); err != nil {
			return fmt.Errorf("read back spooled MISP records: %w", err)
		}
		if err := fn(spooled{kind: recordKind(kind), offset: offset, raw: raw}); err != nil {
			return err
		}
	}
}

// close releases the temporary file, if any.
func (s *spool) close() {
	if s.file != nil {
		name := s.file.Name()
		_ = s.file.Close()
		_ = os.Remove(name) // where it could not be unlinked while open
		s.file, s.w = nil, nil
	}
	s.mem, s.memBytes = nil, 0
}

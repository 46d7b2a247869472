package telemetry

import (
	"bufio"
	"context"
	"errors"
	"io"

	"github.com/ransomeye/intel/ingest/engine"
)

// lineMeta is what the line source knows of a line besides its bytes.
type lineMeta struct {
	// tooLarge is the size of a line over the limit, which the source
	// skipped without keeping it (the record's Raw is then nil); 0
	// otherwise.
	tooLarge int64
}

// lines is the engine Source of NDJSON: one record per line, newline
// included, with its 1-based line number and byte offset.
type lines struct {
	br     *bufio.Reader
	max    int64
	offset int64 // bytes read so far
}

func newLines(r io.Reader, max int64) *lines {
	return &lines{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Read emits the lines of the input in order.
func (s *lines) Read(_ context.Context, emit func(engine.Record[lineMeta]) error) error {
	var index int64
	for {
		start := s.offset
		raw, size, err := s.readLine()
		if size > 0 {
			rec := engine.Record[lineMeta]{Index: index, Offset: start, Line: index + 1, Raw: raw}
			if raw == nil {
				rec.Meta.tooLarge = size
			}
			index++
			if eerr := emit(rec); eerr != nil {
				return eerr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			oe := engine.ReadErrorAt(s.offset, err)
			oe.Line, oe.Records = index+1, index
			return oe
		}
	}
}

// Bytes is the number of bytes read so far.
func (s *lines) Bytes() int64 { return s.offset }

// readLine returns the next line, including its newline, and its size. A
// line over s.max bytes is consumed without being kept: its raw is nil.
func (s *lines) readLine() ([]byte, int64, error) {
	var raw []byte
	var size int64
	for {
		chunk, err := s.br.ReadSlice('\n')
		size += int64(len(chunk))
		s.offset += int64(len(chunk))
		if size <= s.max {
			raw = append(raw, chunk...)
		} else {
			raw = nil // over the limit: the rest is consumed, not kept
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return raw, size, err
		}
	}
}

// blank reports whether a line holds only white space.
func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

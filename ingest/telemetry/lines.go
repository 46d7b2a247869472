package telemetry

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/internal/textenc"
)

// lineMeta is what the line source knows of a line besides its bytes.
type lineMeta struct {
	// tooLarge is the size of a line over the limit, which the source
	// skipped without keeping it (the record's Raw is then nil); 0
	// otherwise.
	tooLarge int64
	// tooDeep is set for a line whose arrays and objects nest deeper than
	// the depth limit; the source did not keep it (Raw is nil).
	tooDeep bool
}

// lines is the engine Source of NDJSON: one record per line, newline
// included, with its 1-based line number and byte offset.
type lines struct {
	br       *bufio.Reader
	max      int64
	maxDepth int
	offset   int64 // bytes read so far
	nest     nesting
}

// newLines reads lines of at most max bytes whose arrays and objects nest
// at most maxDepth levels deep (0: no limit).
func newLines(r io.Reader, max int64, maxDepth int) *lines {
	return &lines{br: bufio.NewReaderSize(r, 64<<10), max: max, maxDepth: maxDepth}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// gzipMagic starts a gzip stream.
var gzipMagic = []byte{0x1f, 0x8b}

// ErrCompressed fails a telemetry load whose input is gzip-compressed
// (every line was an invalid-json drop): telemetry is read as NDJSON and
// its checkpoints go by the file's bytes and lines, so it is decompressed
// before intel reads it.
var ErrCompressed = errors.New("telemetry input is gzip-compressed: decompress it first (zcat FILE.gz > FILE, or zcat FILE.gz | intel ingest telemetry -); nothing was loaded")

// ErrUTF16 fails a telemetry load whose input is UTF-16 text (as Windows
// PowerShell 5's ">" and Out-File write it): every line was an
// invalid-json drop. Telemetry is read as UTF-8 NDJSON and its checkpoints
// go by the file's bytes, so it is converted before intel reads it.
var ErrUTF16 = errors.New("telemetry input is UTF-16 text (as Windows PowerShell 5's > and Out-File write): convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8 FILE > FILE.ndjson, or Out-File -Encoding utf8); nothing was loaded")

// Read emits the lines of the input in order.
func (s *lines) Read(_ context.Context, emit func(engine.Record[lineMeta]) error) error {
	// A UTF-8 byte order mark (Windows tools, PowerShell's Out-File) is
	// not part of the first line, which was otherwise dropped as
	// invalid-json; STIX and MISP inputs skip it too. (Here, on the
	// engine's reading goroutine with every other read, not in newLines,
	// which would wait for standard input before the load had started.)
	if b, err := s.br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		_, _ = s.br.Discard(len(utf8BOM))
		s.offset += int64(len(utf8BOM))
	}
	if b, err := s.br.Peek(len(gzipMagic)); err == nil && bytes.Equal(b, gzipMagic) {
		return ErrCompressed
	}
	switch textenc.DetectReader(s.br) {
	case textenc.UTF8:
	case textenc.UTF32:
		return textenc.ErrUTF32
	default:
		return ErrUTF16
	}
	var index int64
	for {
		start := s.offset
		raw, size, err := s.readLine()
		if size > 0 {
			rec := engine.Record[lineMeta]{Index: index, Offset: start, Line: index + 1, Raw: raw}
			switch {
			case s.nest.blank:
				rec.Raw = []byte{'\n'} // white space only, however long
			case s.nest.tooDeep:
				rec.Raw, rec.Meta.tooDeep = nil, true
			case raw == nil:
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
// s.nest says whether the line is blank or nested too deeply, which are
// found without keeping the line either.
func (s *lines) readLine() ([]byte, int64, error) {
	var raw []byte
	var size int64
	s.nest = nesting{blank: true, max: s.maxDepth}
	for {
		chunk, err := s.br.ReadSlice('\n')
		size += int64(len(chunk))
		s.offset += int64(len(chunk))
		if whole := size == int64(len(chunk)) && !errors.Is(err, bufio.ErrBufferFull); whole && (s.maxDepth <= 0 || len(chunk) <= s.maxDepth) {
			// A line of n bytes nests at most n levels deep: only
			// whether it is blank is to be found.
			s.nest.blank = blank(chunk)
		} else {
			s.nest.scan(chunk)
		}
		if size <= s.max && !s.nest.tooDeep {
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

// nesting follows the nesting of arrays and objects through a line.
type nesting struct {
	max      int
	depth    int
	inString bool
	escaped  bool
	blank    bool // only white space so far
	tooDeep  bool
}

func (n *nesting) scan(b []byte) {
	if n.tooDeep {
		return
	}
	for _, c := range b {
		switch {
		case n.inString:
			switch {
			case n.escaped:
				n.escaped = false
			case c == '\\':
				n.escaped = true
			case c == '"':
				n.inString = false
			}
			continue
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			continue
		}
		n.blank = false
		switch c {
		case '"':
			n.inString = true
		case '{', '[':
			n.depth++
			if n.max > 0 && n.depth > n.max {
				n.tooDeep = true
				return
			}
		case '}', ']':
			n.depth--
		}
	}
}

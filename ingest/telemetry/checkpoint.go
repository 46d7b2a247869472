package telemetry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"iter"
	"log/slog"
	"os"
	"strings"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/store"
)

// Checkpoints reads an input's last checkpoint (store.Store does).
type Checkpoints interface {
	TelemetryCheckpointLatest(ctx context.Context, input string) (store.TelemetryCheckpoint, bool, error)
}

// How a rerun of a file relates to what its input stored (FilePlan.Kind).
const (
	PlanNew      = "new"      // no checkpoint: all of it loads
	PlanResume   = "resume"   // the same content: what is not stored loads (nothing when it is complete)
	PlanAppended = "appended" // what was loaded, unchanged, and lines after it: only those load
	PlanShrunk   = "shrunk"   // a prefix of what was loaded: nothing loads
	PlanChanged  = "changed"  // differs from what was loaded from some line on: from there it loads
	PlanForced   = "forced"   // --force: all of it loads again
)

// FilePlan says what of a telemetry file to load: bytes [Offset, Size)
// (Size is the length hashed; lines appended after that are the next
// load's), with Input for store.Store.Checkpointed.
type FilePlan struct {
	Input        store.TelemetryInput
	Offset, Size int64
	Kind         string
	// Message says so, for the log; Warn when it is a warning (the
	// input shrank or changed).
	Message string
	Warn    bool
}

// PlanFile reads the telemetry file at path once (SHA-256 of the whole,
// FNV-64a of each line) and compares it with its input's last checkpoint
// (cps), line by line, to load only what is not stored:
//
//   - the same content: its checkpoint resumes (a complete one loads
//     nothing);
//   - the content loaded, unchanged, followed by more lines (a log
//     shipper appending): only the lines after it load;
//   - a prefix of the content loaded (the file was truncated): nothing
//     loads, and the plan warns that the input shrank;
//   - content that differs from what was loaded from some line on (the
//     file rewritten): it loads from that line (from the start when the
//     first line differs), and the plan says so: the leading lines it
//     shares with what was loaded are those lines, stored already.
//
// When the last load was cut short, the edges it stored from lines the
// file still has are counted as stored. force loads the whole file again
// (intel ingest feeds --force). A checkpoint of an older intel, without
// line hashes, is only recognised for the same content.
func PlanFile(ctx context.Context, cps Checkpoints, path string, force bool) (FilePlan, error) {
	name, err := FileInputName(path)
	if err != nil {
		return FilePlan{}, err
	}
	abs := strings.TrimPrefix(name, "file:")
	var last store.TelemetryCheckpoint
	ok := false
	if !force {
		if last, ok, err = cps.TelemetryCheckpointLatest(ctx, name); err != nil {
			return FilePlan{}, err
		}
	}
	h, err := hashLines(abs, last.LineHashes)
	if err != nil {
		return FilePlan{}, fmt.Errorf("hash telemetry %s: %w", path, err)
	}
	sum, lines, size := h.sum, h.lines, h.size
	p := FilePlan{Size: size, Input: store.TelemetryInput{Name: name, ContentHash: sum, Planned: true, Bytes: size, LineHashes: lines}}
	if force {
		p.Input.Restart, p.Kind = true, PlanForced
		p.Message = "loading the whole telemetry file again (--force)"
		return p, nil
	}
	switch {
	case !ok:
		// Its checkpoint is made (or an older intel's, of the same
		// content under Input.Formerly, taken over) as the load starts.
		p.Kind, p.Input.Planned = PlanNew, false
		return p, nil
	case last.ContentHash == sum:
		// This content's checkpoint resumes as it is (one of an older
		// intel gets the line hashes).
		p.Kind, p.Offset, p.Input.Planned = PlanResume, last.BaseOffset, false
		if last.Complete {
			p.Message = "telemetry file already loaded: nothing new to store"
		}
		return p, nil
	case last.Bytes < 0:
		p.Kind, p.Warn = PlanChanged, true
		p.Message = "telemetry file changed since its last load (an older intel's checkpoint, which cannot tell what changed): loading all of it"
		return p, nil
	}
	nOld, nNew := len(last.LineHashes)/8, len(lines)/8
	common, at := h.common, h.at // the leading lines the two share, and the byte after them
	switch {
	case last.Complete && common == nOld:
		p.Kind, p.Offset = PlanAppended, at
		p.Message = fmt.Sprintf("telemetry file appended to: its first %d bytes (%d lines) are loaded already; loading only the %d bytes after them", at, common, size-at)
	case common == nNew && (last.Complete || at <= last.BaseOffset):
		p.Kind, p.Offset, p.Input.Done, p.Warn = PlanShrunk, size, true, true
		p.Message = fmt.Sprintf("telemetry input shrank: the file (%d bytes, %d lines) is a prefix of the %d bytes loaded before; its rows are stored already and nothing is stored again", size, nNew, last.Bytes)
	case last.Complete || at <= last.BaseOffset:
		p.Kind, p.Offset, p.Warn = PlanChanged, at, true
		p.Message = fmt.Sprintf("telemetry file rewritten: it differs from what was loaded from line %d (byte %d) on; loading it from there as new content", common+1, at)
	case common == nOld: // a load cut short, its content since appended to: resume it
		p.Kind, p.Offset, p.Input.Skip, p.Input.SeenSkip = PlanResume, last.BaseOffset, last.Edges, last.SeenEdges
		p.Message = "telemetry file appended to since a load of it was cut short: resuming that load"
	default: // cut short past lines that have changed since: count what of the common lines it stored
		n, err := countEdges(ctx, abs, last.BaseOffset, at)
		if err != nil {
			return FilePlan{}, err
		}
		p.Kind, p.Offset, p.Input.Skip, p.Input.SeenSkip, p.Warn = PlanChanged, last.BaseOffset, min(n, last.Edges), min(n, last.SeenEdges), true
		p.Message = fmt.Sprintf("telemetry file changed from line %d (byte %d) on since a load of it was cut short: loading what is not stored", common+1, at)
		if common == nNew {
			p.Kind = PlanShrunk
			p.Message = "telemetry input shrank since a load of it was cut short: loading only what of it is not stored"
		}
	}
	p.Input.BaseOffset = p.Offset
	return p, nil
}

// hashedLines is a telemetry file read once by hashLines.
type hashedLines struct {
	sum   string // hex SHA-256 of the content
	lines []byte // FNV-64a of each line, 8 bytes each
	size  int64  // the length read
	// common is how many leading lines have the hashes of the
	// checkpoint's, at the byte after them.
	common int
	at     int64
}

// hashLines reads the file at path once: the SHA-256 of its content and
// the FNV-64a of each line (newline included; a last line without one
// too), and how many leading lines it shares with old (a checkpoint's
// line hashes; old's last line is shared also by the line that is it with
// a line end added). It holds 8 bytes a line: the hashes' slice is sized from
// the first block's lines per byte, and no offset per line is kept.
func hashLines(path string, old []byte) (hashedLines, error) {
	var r hashedLines
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close() //nolint:errcheck // read-only
	var fileSize int64
	if st, err := f.Stat(); err == nil {
		fileSize = st.Size()
	}
	h := sha256.New()
	lh := fnv.New64a()
	buf := make([]byte, 256<<10)
	open, matching := false, true
	// The line's hash without its newline, and without the carriage
	// return before it (beforeCR, when the line so far ends in one): the
	// checkpoint's last line may be this line as it was before its
	// writer wrote the line's end (unterminated then, complete JSON, and
	// loaded).
	var bare, beforeCR uint64
	endsCR := false
	hashPart := func(b []byte) {
		if len(b) == 0 {
			return
		}
		if b[len(b)-1] == '\r' {
			lh.Write(b[:len(b)-1]) //nolint:errcheck // never fails
			beforeCR = lh.Sum64()
			lh.Write(b[len(b)-1:]) //nolint:errcheck // never fails
			endsCR = true
			return
		}
		lh.Write(b) //nolint:errcheck // never fails
		endsCR = false
	}
	end := func(terminated bool) {
		r.lines = binary.BigEndian.AppendUint64(r.lines, lh.Sum64())
		k := len(r.lines) - 8
		switch {
		case matching && k+8 <= len(old) && bytes.Equal(old[k:k+8], r.lines[k:]):
			r.common, r.at = r.common+1, r.size
		case matching && terminated && k+8 == len(old) &&
			(binary.BigEndian.Uint64(old[k:]) == bare || endsCR && binary.BigEndian.Uint64(old[k:]) == beforeCR):
			// The last line loaded had no line end then and has one now
			// (the file was read while its writer had written the line
			// but not yet its "\n", or "\r\n"): the same line, loaded
			// already. Before, it differed, and the rerun loaded it again
			// as a rewritten line: that edge was stored twice.
			r.common, r.at = r.common+1, r.size
		default:
			matching = false
		}
	}
	for {
		n, rerr := f.Read(buf)
		b := buf[:n]
		h.Write(b) //nolint:errcheck // never fails
		if r.lines == nil && n > 0 && fileSize > 0 {
			// Room for the file's lines at the first block's length a
			// line, and a tenth more: one allocation, not doublings. A
			// line is taken as 64 bytes at least (an edge line is longer),
			// so a file whose first lines are short allocates at most an
			// eighth of its size here, and grows past it only by appends.
			perLine := max(64, int64(n)/max(1, int64(bytes.Count(b, []byte{'\n'}))))
			r.lines = make([]byte, 0, 8*(fileSize/perLine+fileSize/perLine/10+1))
		}
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				hashPart(b)
				r.size += int64(len(b))
				open = true
				break
			}
			hashPart(b[:i])
			bare = lh.Sum64()
			lh.Write(b[i : i+1]) //nolint:errcheck // never fails
			r.size += int64(i + 1)
			end(true)
			lh.Reset()
			open, endsCR = false, false
			b = b[i+1:]
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return hashedLines{}, rerr
		}
	}
	if open {
		end(false)
	}
	r.sum = hex.EncodeToString(h.Sum(nil))
	return r, nil
}

// countEdges counts the edges the lines in bytes [from, to) of the file
// at path give the writer (the sequence a checkpoint counts).
func countEdges(ctx context.Context, path string, from, to int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("open telemetry: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only
	var c edgeCounter
	if _, err := Load(ctx, io.NewSectionReader(f, from, to-from), &c, engine.Options{Logger: slog.New(slog.DiscardHandler)}); err != nil {
		return 0, err
	}
	return c.n, nil
}

// edgeCounter is a telemetry writer that only counts the edges.
type edgeCounter struct{ n int64 }

func (c *edgeCounter) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	for _, err := range edges {
		if errors.Is(err, store.ErrFlush) {
			continue
		}
		if err != nil {
			return store.TelemetryStats{}, err
		}
		c.n++
	}
	return store.TelemetryStats{}, nil
}

// Open opens the part of the file the plan loads, bytes [Offset, Size).
// A file that ends before Size (truncated while it is read) makes the
// reader fail with io.ErrUnexpectedEOF at the byte where it ended, so the
// load fails and its checkpoint does not take the lines it did not read
// for stored.
func (p FilePlan) Open(path string) (io.Reader, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("open telemetry: %w", err)
	}
	return &plannedReader{r: io.NewSectionReader(f, p.Offset, p.Size-p.Offset), at: p.Offset, size: p.Size}, f.Close, nil
}

// plannedReader reads a file's bytes up to size and fails when the file
// ends before.
type plannedReader struct {
	r        io.Reader
	at, size int64
}

func (r *plannedReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.at += int64(n)
	if err == io.EOF && r.at < r.size {
		return n, fmt.Errorf("telemetry file ended at byte %d, before the %d bytes it held when the load began (truncated while read?): %w",
			r.at, r.size, io.ErrUnexpectedEOF)
	}
	return n, err //nolint:wrapcheck // io.EOF must stay as it is
}

// Log logs the plan's message, at WARN when it is a warning.
func (p FilePlan) Log(ctx context.Context, log *slog.Logger, path string) {
	if p.Message == "" {
		return
	}
	level := slog.LevelInfo
	if p.Warn {
		level = slog.LevelWarn
	}
	log.Log(ctx, level, p.Message, "path", path, "input", p.Input.Name)
}

// Rerun is the plan for a load's report (engine.Report.Rerun): nil for a
// new input.
func (p FilePlan) Rerun() *engine.Rerun {
	if p.Kind == PlanNew {
		return nil
	}
	return &engine.Rerun{Kind: p.Kind, SkippedBytes: p.Offset, Message: p.Message}
}

package telemetry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/store"
)

// Format is the format name in the reports of telemetry loads.
const Format = "telemetry"

// DefaultMaxLineBytes is the longest line read when
// Options.MaxRecordBytes is zero; longer ones are dropped.
const DefaultMaxLineBytes = 1 << 20

// The reasons Load drops a line for, besides engine.ReasonTooLarge,
// engine.ReasonInvalidJSON, engine.ReasonNotObject,
// engine.ReasonInvalidProperty and those of
// graph.TelemetryEdge.InvalidReason that AppendTelemetry reports.
const (
	ReasonBadSrc            engine.Reason = "bad-src-endpoint"
	ReasonBadDst            engine.Reason = "bad-dst-endpoint"
	ReasonMissingRelation                 = graph.ReasonMissingRelation
	ReasonMissingAgentID                  = graph.ReasonMissingAgentID
	ReasonMissingObservedAt               = graph.ReasonMissingObservedAt
	// ReasonBadObservedAt: observed_at is not RFC 3339 with a zone, nor a
	// number of Unix epoch seconds or milliseconds from 2001 to 2286
	// (epochTime).
	ReasonBadObservedAt engine.Reason = "bad-observed-at"
	// ReasonNULPadding is a part dropped, not a line: the NUL bytes a
	// line begins with, skipped. A file its writer had extended when the
	// machine crashed holds zeros where the lines it had not written
	// yet were to go (ext4, XFS, NTFS), and the writer's next line after
	// the restart follows them on the same line: before, that line was
	// dropped invalid-json with them.
	ReasonNULPadding engine.Reason = "nul-padding"
)

// Reasons returns every reason a telemetry Report counts drops under:
// the engine's that apply to lines, Load's own and those of
// graph.TelemetryEdge.InvalidReason.
func Reasons() []engine.Reason {
	return []engine.Reason{
		engine.ReasonTooLarge, engine.ReasonTooDeep, engine.ReasonInvalidJSON, engine.ReasonNotObject, engine.ReasonInvalidProperty,
		ReasonBadSrc, ReasonBadDst, ReasonMissingRelation, ReasonMissingAgentID, ReasonMissingObservedAt,
		ReasonBadObservedAt, graph.ReasonInvalidSrc, graph.ReasonInvalidDst, graph.ReasonInvalidImplied, graph.ReasonBeforeRetention,
		store.ReasonInvalidText, store.ReasonInvalidProps, store.ReasonInvalidRecord, store.ReasonRejected,
	}
}

// Load reads NDJSON telemetry from r and writes its edges, in input order,
// to w (store.Store, or a dry-run writer). opts are the engine's: Feed
// names the stream in logs and in the nodes' sources, Workers parse lines
// in parallel, MaxRecordBytes is the longest line (DefaultMaxLineBytes when
// zero), and Progress receives the bytes and lines read; BatchSize is not
// used (AppendTelemetry chunks the edges itself). A read error stops the
// load with an *engine.OffsetError, after the edges before it are written.
func Load(ctx context.Context, r io.Reader, w engine.TelemetryWriter, opts engine.Options) (*engine.Report, error) {
	start := time.Now()
	if opts.MaxRecordBytes <= 0 {
		opts.MaxRecordBytes = DefaultMaxLineBytes
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = engine.DefaultMaxDepth
	}
	rep := engine.NewReport(opts.Feed, Format)
	err := engine.RunTelemetry(ctx, newLines(r, opts.MaxRecordBytes, opts.MaxDepth), mapper(opts), w, opts, rep)
	rep.Duration = time.Since(start)
	if err != nil {
		rep.Error = err.Error()
	}
	return rep, err
}

// mapper returns the engine Mapper of telemetry lines.
func mapper(opts engine.Options) engine.Mapper[lineMeta] {
	memo := newEndpointMemo()
	return func(rec engine.Record[lineMeta]) engine.Result {
		if rec.Meta.tooLarge > 0 {
			return drop(engine.ReasonTooLarge,
				fmt.Errorf("line of %d bytes is larger than the %d-byte limit", rec.Meta.tooLarge, opts.MaxRecordBytes))
		}
		if rec.Meta.tooDeep {
			return drop(engine.ReasonTooDeep, fmt.Errorf("arrays and objects nested deeper than %d levels", opts.MaxDepth))
		}
		if blank(rec.Raw) {
			return engine.Result{Read: 1}
		}
		raw, padding := rec.Raw, 0
		if raw[0] == 0 {
			raw = bytes.TrimLeft(raw, "\x00")
			if padding = len(rec.Raw) - len(raw); blank(raw) {
				return drop(engine.ReasonInvalidJSON, fmt.Errorf("a line of %d NUL bytes and no record (a file zero-filled by a crash?)", padding))
			}
		}
		e, reason, detail := parseLine(raw, opts.Feed, memo)
		if reason != "" {
			return drop(reason, detail)
		}
		res := engine.Result{Read: 1, Mapped: 1, Edges: []graph.TelemetryEdge{e}, EdgesChecked: true}
		if padding > 0 {
			res.PartDrops = []engine.Drop{{Reason: ReasonNULPadding,
				Detail: fmt.Sprintf("%d NUL bytes before the line's record skipped (a file zero-filled by a crash?)", padding)}}
		}
		return res
	}
}

// maxDetail bounds the details of a drop in the log.
const maxDetail = 200

// drop is the Result of a line dropped under reason, with the details for
// the log line.
func drop(reason engine.Reason, detail error) engine.Result {
	d := engine.Drop{Reason: reason}
	if detail != nil {
		d.Detail = detail.Error()
		if len(d.Detail) > maxDetail {
			d.Detail = d.Detail[:maxDetail] + "…"
		}
	}
	return engine.Result{Read: 1, Drops: []engine.Drop{d}}
}

// FileInput returns the checkpoint identity of a telemetry file for
// store.Store.Checkpointed: "file:" and its absolute path with symbolic
// links resolved, and the SHA-256 of its content (read once, in full). A load of the file cut short (a
// SIGKILL, a server restart) and run again then skips the edges already
// stored, so the file's rows are written exactly once; a file whose content
// changed is a new input (PlanFile compares it with what was loaded, line
// by line, and is what intel uses). Standard input has no such identity: a load from
// it that is cut short and run again writes again what was stored before
// the cut.
func FileInput(path string) (store.TelemetryInput, error) {
	name, err := FileInputName(path)
	if err != nil {
		return store.TelemetryInput{}, err
	}
	abs := strings.TrimPrefix(name, "file:")
	f, err := os.Open(abs)
	if err != nil {
		return store.TelemetryInput{}, fmt.Errorf("open telemetry: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return store.TelemetryInput{}, fmt.Errorf("hash telemetry %s: %w", path, err)
	}
	return store.TelemetryInput{Name: name, ContentHash: hex.EncodeToString(h.Sum(nil))}, nil
}

// FileInputName is the checkpoint name of the telemetry file at path:
// "file:" and its absolute path with symbolic links resolved. A feed list's
// telemetry file goes by the same name, so a file loaded alone and in a
// feed list (or in two feeds) is one input, stored once.
func FileInputName(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("telemetry input %s: %w", path, err)
	}
	// The file, not the name it was reached by: loaded through a symbolic
	// link and then by its own path, it is one input, stored once.
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	return "file:" + abs, nil
}

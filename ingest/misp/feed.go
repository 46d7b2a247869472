package misp

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// ManifestFile is the name of a feed directory's manifest.
const ManifestFile = "manifest.json"

// Limits of a feed manifest. A real feed's manifest lists a few thousand
// events in a few MB (CIRCL's OSINT feed: about 2,000 in 1.5 MB); beyond
// these ReadManifest fails with ErrManifestTooLarge rather than hold an
// unbounded map.
const (
	// MaxManifestBytes is the largest manifest.json read: 64 MiB.
	MaxManifestBytes = 64 << 20
	// MaxManifestEntries is the most events a manifest may list.
	MaxManifestEntries = 250_000
)

// maxFileWarnings is how many missing or refused event files LoadDir logs
// one by one, and how many of their errors it returns; the rest are
// counted in one line.
const maxFileWarnings = 10

// ManifestEntry is what a feed manifest says about one event.
type ManifestEntry struct {
	Info        string    `json:"info"`
	Date        string    `json:"date"`
	Timestamp   time.Time `json:"timestamp"`
	Orgc        string    `json:"orgc,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	ThreatLevel string    `json:"threat_level,omitempty"`
	Analysis    string    `json:"analysis,omitempty"`
}

// Manifest maps event uuids (lower case) to their manifest entries.
type Manifest map[string]ManifestEntry

// UUIDs returns the event uuids in order.
func (m Manifest) UUIDs() []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Changed returns, in order, the uuids of the events that are not in known
// or whose manifest timestamp differs from the one known: the events a feed
// manager reloads. known maps event uuids to the timestamps recorded when
// they were last loaded.
func (m Manifest) Changed(known map[string]time.Time) []string {
	var out []string
	for _, id := range m.UUIDs() {
		if t, ok := known[id]; !ok || !t.Equal(m[id].Timestamp) {
			out = append(out, id)
		}
	}
	return out
}

// EventPath is the file of an event in a feed directory: <dir>/<uuid>.json.
func EventPath(dir, eventUUID string) string {
	return filepath.Join(dir, strings.ToLower(eventUUID)+".json")
}

type rawManifestEntry struct {
	Info          text         `json:"info"`
	Date          text         `json:"date"`
	Timestamp     text         `json:"timestamp"`
	ThreatLevelID text         `json:"threat_level_id"`
	Analysis      text         `json:"analysis"`
	Orgc          *rawOrg      `json:"Orgc"`
	Tags          list[rawTag] `json:"Tag"`
}

// OpenDir opens a feed directory for reading its files through OpenFile.
func OpenDir(dir string) (*os.Root, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open feed directory: %w", err)
	}
	return root, nil
}

// OpenFile opens name in a feed directory for reading, only when it is a
// regular file inside the directory: a symbolic link that leads outside
// it (to /etc/passwd, /dev/zero, another feed) or to anything but a
// regular file (a FIFO, a device, a directory) gives an error wrapping
// ErrUnsafeFile, without reading it. The file is opened non-blocking, so
// a FIFO never waits for a writer. A missing file gives an error wrapping
// fs.ErrNotExist.
func OpenFile(root *os.Root, name string) (*os.File, error) {
	f, err := root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			// os.Root refuses links that escape the directory (and
			// loops) with an unexported error.
			why := err.Error()
			if strings.Contains(why, "escapes") {
				why = "a symbolic link leading outside it"
			}
			return nil, fmt.Errorf("open %s: %w: %s", name, ErrUnsafeFile, why)
		}
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	if !info.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("open %s: %w: a %s", name, ErrUnsafeFile, fileKind(info.Mode()))
	}
	return f, nil
}

// fileKind names a file mode's type for an error.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "non-regular file"
	}
}

// ReadManifest reads <dir>/manifest.json entry by entry. It returns an
// error wrapping ErrNoManifest when the file does not exist,
// ErrUnsafeFile when it is not a regular file inside dir (see OpenFile),
// ErrManifestTooLarge beyond MaxManifestBytes or MaxManifestEntries, and
// ErrBadManifest when it is not an object of event uuids. A UTF-8 byte
// order mark is skipped.
func ReadManifest(dir string) (Manifest, error) {
	root, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close() //nolint:errcheck // read-only
	m := Manifest{}
	err = scanManifest(root, dir, MaxManifestEntries, func(id string, e ManifestEntry) { m[id] = e })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// ReadManifestTimes reads <dir>/manifest.json as ReadManifest does and
// keeps only each event's timestamp, for a feed manager's bookkeeping of
// a large feed.
func ReadManifestTimes(dir string) (map[string]time.Time, error) {
	root, err := OpenDir(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close() //nolint:errcheck // read-only
	m := map[string]time.Time{}
	err = scanManifest(root, dir, MaxManifestEntries, func(id string, e ManifestEntry) { m[id] = e.Timestamp })
	if err != nil {
		return nil, err
	}
	return m, nil
}

// manifestIDs reads the manifest of the directory open at root and returns
// its event uuids in order.
func manifestIDs(root *os.Root, dir string) ([]string, error) {
	set := map[string]struct{}{}
	if err := scanManifest(root, dir, MaxManifestEntries, func(id string, _ ManifestEntry) { set[id] = struct{}{} }); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// scanManifest reads the manifest of the directory open at root entry by
// entry, handing each to fn, so that a caller keeps only what it needs.
// It fails with ErrManifestTooLarge beyond maxEntries entries.
func scanManifest(root *os.Root, dir string, maxEntries int, fn func(id string, e ManifestEntry)) error {
	path := filepath.Join(dir, ManifestFile)
	f, err := OpenFile(root, ManifestFile)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read manifest of %s: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return fmt.Errorf("read manifest of %s: %w", dir, err)
	}
	defer f.Close() //nolint:errcheck // read-only
	if info, err := f.Stat(); err == nil && info.Size() > MaxManifestBytes {
		return fmt.Errorf("read manifest %s: %w: %d bytes, limit %d", path, ErrManifestTooLarge, info.Size(), MaxManifestBytes)
	}
	// The file may grow while it is read: read one byte past the limit
	// to tell.
	lr := &io.LimitedReader{R: f, N: MaxManifestBytes + 1}
	dec := jsontext.NewDecoder(bomAsSpace(lr), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	bad := func(err error) error {
		if lr.N <= 0 {
			return fmt.Errorf("read manifest %s: %w: more than %d bytes", path, ErrManifestTooLarge, MaxManifestBytes)
		}
		return fmt.Errorf("read manifest %s: %w: %w", path, ErrBadManifest, err)
	}
	if tok, err := dec.ReadToken(); err != nil {
		return bad(syntaxError(err, dec))
	} else if tok.Kind() != '{' {
		return bad(fmt.Errorf("want an object, got %v", tok.Kind()))
	}
	entries := 0
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return bad(syntaxError(err, dec))
		}
		id := strings.ToLower(strings.TrimSpace(tok.String()))
		if _, err := uuid.Parse(id); err != nil {
			return bad(fmt.Errorf("key %q is not an event uuid", truncate(id, 80)))
		}
		raw, err := dec.ReadValue()
		if err != nil {
			return bad(syntaxError(err, dec))
		}
		var e rawManifestEntry
		if err := unmarshal(raw, &e); err != nil {
			return bad(fmt.Errorf("entry %s: %w", id, err))
		}
		entry := ManifestEntry{
			Info: e.Info.String(), Date: e.Date.String(), Timestamp: parseTime(e.Timestamp.String()),
			ThreatLevel: nameOr(threatLevels, e.ThreatLevelID.String()), Analysis: nameOr(analysisLevels, e.Analysis.String()),
		}
		if e.ThreatLevelID == "" {
			entry.ThreatLevel = ""
		}
		if e.Analysis == "" {
			entry.Analysis = ""
		}
		if e.Orgc != nil {
			entry.Orgc = e.Orgc.Name.String()
		}
		for _, t := range e.Tags {
			if n := strings.TrimSpace(t.Name.String()); n != "" {
				entry.Tags = append(entry.Tags, n)
			}
		}
		fn(id, entry)
		if entries++; entries > maxEntries {
			return fmt.Errorf("read manifest %s: %w: more than %d events", path, ErrManifestTooLarge, maxEntries)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return bad(syntaxError(err, dec))
	}
	return nil
}

// LoadDir loads a MISP feed directory: the events listed in manifest.json,
// each from <uuid>.json (else <uuid>.json.gz, decompressed), or only those in opts.Only (a feed manager passes
// Manifest.Changed). Without a manifest, every <uuid>.json is loaded.
// hashes.csv is not read: it indexes attribute values for MISP's own
// look-ups and adds nothing the event files lack.
//
// Nothing outside dir is read: files are opened with OpenFile, so a
// manifest or event file that is a symbolic link leading out of the
// directory, or not a regular file (a FIFO, a device), is refused unread.
//
// Each event file is a unit: a missing file is counted under
// ReasonMissingEventFile, a refused one under ReasonUnsafeEventFile, a file
// with a syntax error keeps what precedes the error, and either way the
// other events load; their errors are returned joined, each naming its
// file, and reported through opts.OnEvent. Only the first few missing or
// refused files are logged and returned one by one; the rest are counted in
// one line each. A sink failure stops the load. Manifest events not asked
// for count as Skipped.
func LoadDir(ctx context.Context, dir string, sink graph.Sink, opts Options) (*engine.Report, error) {
	opts = opts.withDefaults(filepath.Base(filepath.Clean(dir)))
	report := engine.NewReport(opts.Feed, Format)
	start := time.Now()
	defer func() { report.Duration = time.Since(start) }()

	root, err := OpenDir(dir)
	if err != nil {
		report.Error = err.Error()
		return report, err
	}
	defer root.Close() //nolint:errcheck // read-only
	ids, err := manifestIDs(root, dir)
	// files names the event files as the directory spells them (a
	// <UUID>.json in upper case), with a manifest or without one; an
	// event of the manifest the directory has no file of is read from
	// <uuid>.json, and reported missing.
	var files map[string]string
	switch {
	case errors.Is(err, ErrNoManifest):
		if ids, files, err = eventFiles(dir); err != nil {
			report.Error = err.Error()
			return report, err
		}
	case err != nil:
		report.Error = err.Error()
		return report, err
	default:
		if files, err = EventFileNames(dir); err != nil {
			report.Error = err.Error()
			return report, err
		}
	}
	if opts.Only != nil {
		want := make(map[string]bool, len(opts.Only))
		only := make([]string, 0, len(opts.Only))
		for _, id := range opts.Only {
			id = strings.ToLower(strings.TrimSpace(id))
			if !want[id] {
				want[id] = true
				only = append(only, id)
			}
		}
		for _, id := range ids {
			if !want[id] {
				report.Skipped++
			}
		}
		sort.Strings(only)
		ids = only
	}

	mp := newMapper(opts)
	fe := fileErrors{log: mp.log}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			fe.stop(err)
			break
		}
		name := strings.ToLower(id) + ".json"
		if f, ok := files[id]; ok {
			name = f
		}
		if err := mp.loadEventFile(ctx, root, dir, name, id, sink, report, &fe); err != nil {
			if !fileError(err) || ctx.Err() != nil {
				fe.stop(err)
				break
			}
		}
	}
	err = fe.err()
	if err != nil {
		report.Error = err.Error()
	}
	return report, err
}

// fileErrors gathers the errors of a feed directory's event files: the
// first maxFileWarnings are logged (missing and refused files; the others
// log their own) and kept, the rest only counted.
type fileErrors struct {
	log   *slog.Logger
	errs  []error
	more  int
	byWhy map[engine.Reason]int
	fatal error
}

// add records the error of one event file; reason is its drop reason, or
// "" when the file was read (its records logged their own problems).
func (fe *fileErrors) add(file string, reason engine.Reason, err error, attrs ...any) {
	if reason != "" {
		if fe.byWhy == nil {
			fe.byWhy = map[engine.Reason]int{}
		}
		fe.byWhy[reason]++
		if n := fe.byWhy[reason]; n <= maxFileWarnings {
			msg := "MISP event file missing"
			if reason == ReasonUnsafeEventFile {
				msg = "MISP event file refused unread"
			}
			fe.log.Warn(msg, append(attrs, "file", file, "reason", reason, "error", err.Error())...)
		}
	}
	if len(fe.errs) < maxFileWarnings {
		fe.errs = append(fe.errs, fmt.Errorf("load event %s: %w", filepath.Base(file), err))
		return
	}
	fe.more++
}

// stop records the error that stopped the load.
func (fe *fileErrors) stop(err error) { fe.fatal = err }

// err is the load's error: the kept file errors, a count of the others,
// and the error that stopped the load. It logs the counts of the files
// not logged one by one.
func (fe *fileErrors) err() error {
	reasons := make([]string, 0, len(fe.byWhy))
	for r := range fe.byWhy {
		reasons = append(reasons, string(r))
	}
	sort.Strings(reasons)
	for _, r := range reasons {
		if n := fe.byWhy[engine.Reason(r)]; n > maxFileWarnings {
			fe.log.Warn("more MISP event files not loaded, not logged one by one", "reason", r, "more", n-maxFileWarnings, "total", n)
		}
	}
	errs := fe.errs
	if fe.more > 0 {
		errs = append(errs, fmt.Errorf("… and %d more event files failed", fe.more))
	}
	if fe.fatal != nil {
		errs = append(errs, fe.fatal)
	}
	return errors.Join(errs...)
}

// loadEventFile loads one event file of a feed directory with the loader
// of the whole directory.
func (m *mapper) loadEventFile(ctx context.Context, root *os.Root, dir, name, id string, sink graph.Sink, report *engine.Report, fe *fileErrors) error {
	f, name, err := OpenEventFile(root, name)
	path := filepath.Join(dir, name)
	if err != nil {
		reason := ReasonMissingEventFile
		if errors.Is(err, ErrUnsafeFile) {
			reason = ReasonUnsafeEventFile
		}
		report.Drop(reason)
		fe.add(path, reason, err, "event", id)
		if m.opts.OnEvent != nil {
			m.opts.OnEvent(EventResult{UUID: id, File: path, Err: err})
		}
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer f.Close() //nolint:errcheck // read-only
	before := m.events
	m.fileID = strings.ToLower(id)
	// The file's events are reported once its records are written: an
	// event is read to its end (and reported by endEvent) while its last
	// records are only queued, and a write that then fails, or a load
	// stopped before the last batch, would leave it recorded as loaded by
	// a feed manager and skipped by the next run, unwritten.
	onEvent := m.opts.OnEvent
	var held []EventResult
	if onEvent != nil {
		m.opts.OnEvent = func(e EventResult) { held = append(held, e) }
	}
	watch := &writeWatch{Sink: sink}
	var r io.Reader = f
	if gz, gzErr := gunzipped(f, name); gzErr != nil {
		err = gzErr
	} else {
		if gz != nil {
			defer gz.Close() //nolint:errcheck // read-only
			r = gz
		}
		err = m.load(ctx, r, path, watch, report)
	}
	m.opts.OnEvent = onEvent
	m.fileID = ""
	written := err == nil || (fileError(err) && ctx.Err() == nil && !watch.failed.Load())
	for _, e := range held {
		if !written && e.Err == nil {
			e.Err = fmt.Errorf("not written whole: %w", err)
		}
		onEvent(e)
	}
	if err == nil && m.events == before && ctx.Err() == nil {
		// Valid JSON without an event (a STIX bundle, {}, a list of
		// numbers) is no event file: it fails as an empty file does,
		// rather than leave the load "ok" with an event missing unsaid.
		err = fmt.Errorf("%w: %s holds no MISP event", ErrNotMISP, name)
	}
	if err != nil && m.events == before && m.opts.OnEvent != nil {
		m.opts.OnEvent(EventResult{UUID: id, File: path, Err: err})
	}
	if err != nil && fileError(err) && ctx.Err() == nil {
		fe.add(path, "", err)
	}
	return err
}

// OpenEventFile opens an event file of a feed directory through OpenFile:
// name (<uuid>.json), or, when there is no such file, name with ".gz"
// added (<uuid>.json.gz: a feed whose events are stored compressed). It
// returns the name of the file opened (name when neither exists).
func OpenEventFile(root *os.Root, name string) (*os.File, string, error) {
	f, err := OpenFile(root, name)
	if errors.Is(err, fs.ErrNotExist) && !strings.HasSuffix(strings.ToLower(name), ".gz") {
		if gf, gerr := OpenFile(root, name+".gz"); !errors.Is(gerr, fs.ErrNotExist) {
			return gf, name + ".gz", gerr
		}
	}
	return f, name, err
}

// gunzipped returns a reader of f decompressed when f starts with the gzip
// magic (a <uuid>.json.gz, or a <uuid>.json stored compressed), else nil
// with f unread. A file that starts as gzip and is not gives a
// *fs.PathError naming it, so the other events still load.
func gunzipped(f *os.File, name string) (*gzip.Reader, error) {
	var magic [2]byte
	n, err := io.ReadFull(f, magic[:])
	if _, serr := f.Seek(0, io.SeekStart); serr != nil {
		return nil, &fs.PathError{Op: "read", Path: name, Err: serr}
	}
	if err != nil || n < 2 || magic != [2]byte{0x1f, 0x8b} {
		return nil, nil //nolint:nilnil // not compressed: read as it is
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, &fs.PathError{Op: "gunzip", Path: name, Err: fmt.Errorf("starts as gzip but is not: %w", err)}
	}
	return gz, nil
}

// writeWatch is a sink that remembers whether a write failed.
type writeWatch struct {
	graph.Sink
	failed atomic.Bool
}

func (w *writeWatch) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	ws, err := w.Sink.Write(ctx, b)
	if err != nil {
		w.failed.Store(true)
	}
	return ws, err
}

// fileError reports whether err is particular to one event file (missing,
// unreadable, not JSON or not MISP), so that the other files still load;
// a sink failure is not.
func fileError(err error) bool {
	var oe *engine.OffsetError
	var pe *fs.PathError
	return errors.As(err, &oe) || errors.As(err, &pe) || errors.Is(err, ErrNotMISP)
}

// eventFileRank orders the files of one event uuid (key, lower case) in a
// directory without a manifest: the one read is the lowest.
func eventFileRank(key, name string) int {
	switch {
	case name == key+".json":
		return 0
	case !strings.HasSuffix(name, ".gz"):
		return 1
	case name == key+".json.gz":
		return 2
	}
	return 3
}

// eventFiles lists, in order, the event uuids of the <uuid>.json files of
// a directory without a manifest, and the name of each one's file as the
// directory spells it (EventFileNames).
func eventFiles(dir string) ([]string, map[string]string, error) {
	files, err := EventFileNames(dir)
	if err != nil {
		return nil, nil, err
	}
	if len(files) == 0 {
		return nil, nil, fmt.Errorf("load feed directory %s: %w and no <uuid>.json (or <uuid>.json.gz) files", dir, ErrNoManifest)
	}
	m := make(Manifest, len(files))
	for id := range files {
		m[id] = ManifestEntry{}
	}
	return m.UUIDs(), files, nil
}

// EventFileNames maps the uuid (lower case) of each <uuid>.json and
// <uuid>.json.gz file of a feed directory to the file's name as the
// directory spells it: a file named in upper case (<UUID>.json, as a
// manifest written with upper-case uuids names it) is read, not reported
// missing. When two names differ only in case, <uuid>.json in lower case
// is read, then any <uuid>.json, then the compressed file.
func EventFileNames(dir string) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list feed directory: %w", err)
	}
	files := map[string]string{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		gz := false
		if !ok {
			id, gz = strings.CutSuffix(e.Name(), ".json.gz")
		}
		if (!ok && !gz) || e.IsDir() {
			continue
		}
		if _, err := uuid.Parse(id); err == nil {
			key := strings.ToLower(id)
			if prev, seen := files[key]; !seen || eventFileRank(key, e.Name()) < eventFileRank(key, prev) {
				files[key] = e.Name()
			}
		}
		if len(files) > MaxManifestEntries {
			return nil, fmt.Errorf("load feed directory %s: %w: more than %d event files", dir, ErrManifestTooLarge, MaxManifestEntries)
		}
	}
	return files, nil
}

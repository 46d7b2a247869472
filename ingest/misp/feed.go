package misp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// ManifestFile is the name of a feed directory's manifest.
const ManifestFile = "manifest.json"

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

// ReadManifest reads <dir>/manifest.json entry by entry. It returns an
// error wrapping ErrNoManifest when the file does not exist and
// ErrBadManifest when it is not an object of event uuids.
func ReadManifest(dir string) (Manifest, error) {
	path := filepath.Join(dir, ManifestFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read manifest of %s: %w", dir, ErrNoManifest)
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only
	dec := jsontext.NewDecoder(f, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	bad := func(err error) error { return fmt.Errorf("read manifest %s: %w: %w", path, ErrBadManifest, err) }
	if tok, err := dec.ReadToken(); err != nil {
		return nil, bad(syntaxError(err, dec))
	} else if tok.Kind() != '{' {
		return nil, bad(fmt.Errorf("want an object, got %v", tok.Kind()))
	}
	m := Manifest{}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, bad(syntaxError(err, dec))
		}
		id := strings.ToLower(strings.TrimSpace(tok.String()))
		if _, err := uuid.Parse(id); err != nil {
			return nil, bad(fmt.Errorf("key %q is not an event uuid", truncate(id, 80)))
		}
		raw, err := dec.ReadValue()
		if err != nil {
			return nil, bad(syntaxError(err, dec))
		}
		var e rawManifestEntry
		if err := unmarshal(raw, &e); err != nil {
			return nil, bad(fmt.Errorf("entry %s: %w", id, err))
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
		m[id] = entry
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, bad(syntaxError(err, dec))
	}
	return m, nil
}

// LoadDir loads a MISP feed directory: the events listed in manifest.json,
// each from <uuid>.json, or only those in opts.Only (a feed manager passes
// Manifest.Changed). Without a manifest, every <uuid>.json is loaded.
// hashes.csv is not read: it indexes attribute values for MISP's own
// look-ups and adds nothing the event files lack.
//
// Each event file is a unit: a missing file is counted under
// ReasonMissingEventFile, a file with a syntax error keeps what precedes the
// error, and either way the other events load; their errors are returned
// joined, each naming its file, and reported through opts.OnEvent. A sink
// failure stops the load. Manifest events not asked for count as Skipped.
func LoadDir(ctx context.Context, dir string, sink graph.Sink, opts Options) (*engine.Report, error) {
	opts = opts.withDefaults(filepath.Base(filepath.Clean(dir)))
	report := engine.NewReport(opts.Feed, Format)
	start := time.Now()
	defer func() { report.Duration = time.Since(start) }()

	m, err := ReadManifest(dir)
	switch {
	case errors.Is(err, ErrNoManifest):
		if m, err = eventFiles(dir); err != nil {
			return report, err
		}
	case err != nil:
		report.Error = err.Error()
		return report, err
	}
	ids := m.UUIDs()
	if opts.Only != nil {
		want := map[string]bool{}
		ids = ids[:0:0]
		for _, id := range opts.Only {
			id = strings.ToLower(strings.TrimSpace(id))
			if !want[id] {
				want[id] = true
				ids = append(ids, id)
			}
		}
		for id := range m {
			if !want[id] {
				report.Skipped++
			}
		}
		sort.Strings(ids)
	}

	mp := newMapper(opts)
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		path := EventPath(dir, id)
		if err := mp.loadEventFile(ctx, path, id, sink, report); err != nil {
			if !fileError(err) || ctx.Err() != nil {
				errs = append(errs, err)
				break
			}
			errs = append(errs, fmt.Errorf("load event %s: %w", filepath.Base(path), err))
		}
	}
	err = errors.Join(errs...)
	if err != nil {
		report.Error = err.Error()
	}
	return report, err
}

// loadEventFile loads one event file of a feed directory with the loader
// of the whole directory.
func (m *mapper) loadEventFile(ctx context.Context, path, id string, sink graph.Sink, report *engine.Report) error {
	f, err := os.Open(path)
	if err != nil {
		report.Drop(ReasonMissingEventFile)
		m.log.Warn("MISP event file missing", "event", id, "file", path, "reason", ReasonMissingEventFile, "error", err.Error())
		if m.opts.OnEvent != nil {
			m.opts.OnEvent(EventResult{UUID: id, File: path, Err: err})
		}
		return err
	}
	defer f.Close() //nolint:errcheck // read-only
	before := m.events
	err = m.load(ctx, f, path, sink, report)
	if err != nil && m.events == before && m.opts.OnEvent != nil {
		m.opts.OnEvent(EventResult{UUID: id, File: path, Err: err})
	}
	return err
}

// fileError reports whether err is particular to one event file (missing,
// unreadable, not JSON or not MISP), so that the other files still load;
// a sink failure is not.
func fileError(err error) bool {
	var oe *engine.OffsetError
	var pe *fs.PathError
	return errors.As(err, &oe) || errors.As(err, &pe) || errors.Is(err, ErrNotMISP)
}

// eventFiles lists <uuid>.json files of a directory without a manifest.
func eventFiles(dir string) (Manifest, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list feed directory: %w", err)
	}
	m := Manifest{}
	for _, e := range entries {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || e.IsDir() {
			continue
		}
		if _, err := uuid.Parse(id); err == nil {
			m[strings.ToLower(id)] = ManifestEntry{}
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("load feed directory %s: %w and no <uuid>.json files", dir, ErrNoManifest)
	}
	return m, nil
}

package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"gopkg.in/yaml.v3"
)

// Formats a feed can have.
const (
	FormatSTIX = "stix"
	FormatMISP = "misp"
	// FormatTelemetry is endpoint telemetry as NDJSON edges (package
	// ingest/telemetry). It is never detected: a feed says so.
	FormatTelemetry = "telemetry"
)

// Feed is one feed to load.
type Feed struct {
	// Name identifies the feed in the bookkeeping, reports and node
	// sources. Default: the file or directory name without extension.
	Name string `json:"name" yaml:"name"`
	// Path is a file (STIX bundle, JSON array or NDJSON; MISP event or
	// search output), a MISP feed directory, a directory of files (in a
	// feed list, one feed per file, as intel ingest stix DIR: see
	// expandFileDirs), or "-" for standard input. Relative paths in a
	// config file are relative to the file.
	Path string `json:"path" yaml:"path"`
	// Format is stix, misp or telemetry; empty means detect stix or misp
	// (a directory with a manifest.json is a MISP feed, another one a
	// directory of files; a file is told by the member names of its top
	// object, in any order, within its first MiB: see sniff).
	// Telemetry is never detected.
	Format string `json:"format,omitempty" yaml:"format,omitempty"`
}

// Config is a feed list file.
type Config struct {
	// Concurrency is how many feeds load at once, 1 to MaxConcurrency
	// (nil: the default, 2; the --concurrency flag overrides it).
	Concurrency *int   `json:"concurrency,omitempty" yaml:"concurrency,omitempty"`
	Feeds       []Feed `json:"feeds" yaml:"feeds"`
}

// MaxConcurrency is the most feeds a load takes at once (the file's
// concurrency and the --concurrency flag alike).
const MaxConcurrency = 1024

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$`)

// LoadConfig reads a feed list in YAML or JSON (JSON is YAML), checks it,
// and resolves relative paths against the file's directory.
//
//	concurrency: 3
//	feeds:
//	  - name: unit42-hellokitty
//	    path: feeds/hellokitty-ransomware.json
//	    format: stix
//	  - name: circl-osint
//	    path: /srv/misp/circl          # a MISP feed directory
//	  - name: unit42
//	    path: feeds/unit42             # a directory of STIX files: a feed each (unit42/<file>)
//	  - name: edr-2026-11-27
//	    path: edr-2026-11-27.ndjson
//	    format: telemetry              # NDJSON edges, never detected
func LoadConfig(path string) (Config, error) {
	raw, err := readConfig(path)
	if err != nil {
		return Config{}, fmt.Errorf("read feed config: %w", err)
	}
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, fmt.Errorf("parse feed config %s: %w", path, err)
	}
	base := filepath.Dir(path)
	for i := range cfg.Feeds {
		if p := cfg.Feeds[i].Path; p != "" && p != "-" && !filepath.IsAbs(p) {
			cfg.Feeds[i].Path = filepath.Join(base, p)
		}
	}
	if cfg.Feeds, err = expandFileDirs(cfg.Feeds); err != nil {
		return Config{}, fmt.Errorf("feed config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("feed config %s: %w", path, err)
	}
	return cfg, nil
}

// Validate fills default names and checks that names are unique, paths
// given and formats known.
func (c *Config) Validate() error {
	if len(c.Feeds) == 0 {
		return errors.New("no feeds listed (want a top-level \"feeds:\" list of name/path/format)")
	}
	if c.Concurrency != nil && (*c.Concurrency < 1 || *c.Concurrency > MaxConcurrency) {
		return fmt.Errorf("concurrency %d: want 1 to %d feeds loaded at once (leave it out for the default, 2)", *c.Concurrency, MaxConcurrency)
	}
	seen := map[string]int{}
	stdin := -1
	for i := range c.Feeds {
		f := &c.Feeds[i]
		if err := f.normalize(); err != nil {
			return fmt.Errorf("feed %d: %w", i+1, err)
		}
		// Standard input is one stream: two feeds reading it side by side
		// each got some of its blocks, lines torn between them (dropped as
		// invalid-json), and both said ok.
		if f.Path == "-" {
			if stdin >= 0 {
				return fmt.Errorf("feeds %d and %d both read standard input (-): it can be read by one feed only", stdin+1, i+1)
			}
			stdin = i
		}
		if j, dup := seen[f.Name]; dup {
			return fmt.Errorf("feeds %d and %d are both named %q", j+1, i+1, f.Name)
		}
		seen[f.Name] = i
	}
	return nil
}

// expandFileDirs replaces each feed that is a directory of files, as
// intel ingest stix DIR takes one, by the feeds of its files (FileFeeds,
// named below the feed's name): a feed whose format is stix, or one with
// no format whose directory has no manifest.json (a MISP feed directory
// has one and stays one feed). Each file's format is the feed's (none:
// told by its content). A path that is no directory is left as it is.
func expandFileDirs(feeds []Feed) ([]Feed, error) {
	var out []Feed
	for i, f := range feeds {
		if !isFileDir(f) {
			out = append(out, f)
			continue
		}
		files, err := FileFeeds(f.Path, f.Name)
		if err != nil {
			return nil, fmt.Errorf("feed %d: %w", i+1, err)
		}
		for j := range files {
			files[j].Format = f.Format
		}
		out = append(out, files...)
	}
	return out, nil
}

// isFileDir reports whether feed f is a directory of files (see
// expandFileDirs).
func isFileDir(f Feed) bool {
	if f.Path == "" || f.Path == "-" || (f.Format != "" && strings.ToLower(strings.TrimSpace(f.Format)) != FormatSTIX) {
		return false
	}
	if st, err := os.Stat(f.Path); err != nil || !st.IsDir() {
		return false
	}
	if f.Format != "" {
		return true
	}
	_, err := os.Stat(filepath.Join(f.Path, "manifest.json"))
	return errors.Is(err, fs.ErrNotExist)
}

// MaxConfigBytes bounds a feed list: a list of a million feeds is less.
const MaxConfigBytes = 64 << 20

// readConfig reads the feed list at path, a regular file or a pipe
// (<(make-feed-list)) of at most MaxConfigBytes. A device (/dev/zero) or a
// larger input is refused: it was read until memory ran out, deaf to SIGINT
// and SIGTERM. A FIFO without a writer is opened without blocking (and reads
// as empty): the open waited for a writer forever.
//
// A STIX or MISP feed given as the list is refused saying so (notFeedList).
func readConfig(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close() //nolint:errcheck // read-only
	st, err := f.Stat()
	if err == nil && st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a feed list: load a directory of feeds with `intel ingest stix %s` (or `intel ingest misp %s`, a MISP feed directory), or name it as a path in a feed list", path, path, path)
	}
	if err != nil || !st.Mode().IsRegular() && st.Mode()&fs.ModeNamedPipe == 0 {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	// A feed given as the list says what it is from its head, before the
	// rest is read (48 MB of bundle took 1.5 s).
	head, err := io.ReadAll(io.LimitReader(f, sniffLimit))
	if err != nil {
		return nil, err
	}
	if err := notFeedList(path, head); err != nil {
		return nil, err
	}
	tooLarge := fmt.Errorf("%s is larger than %d MiB: not a feed list", path, MaxConfigBytes>>20)
	if st.Mode().IsRegular() && st.Size() > MaxConfigBytes {
		return nil, tooLarge // without reading 64 MiB first
	}
	rest, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1-int64(len(head))))
	raw := append(head, rest...)
	if err == nil && len(raw) > MaxConfigBytes {
		err = tooLarge
	}
	return raw, err
}

// notFeedList says that the file given as a feed list is a feed itself (a
// STIX bundle or MISP event: a member only those have, in its head), and
// how to load it. Parsed as a feed list it failed after reading the whole
// file as YAML, naming the feed's members as unknown fields.
func notFeedList(path string, head []byte) error {
	format, _, byKey := sniffKeys(head)
	if !byKey {
		return nil
	}
	return fmt.Errorf("%s is a %s feed, not a feed list (a top-level \"feeds:\" list of name/path/format): load it with `intel ingest %s %s`, or name it as a path in a feed list",
		path, strings.ToUpper(format), format, path)
}

// pathName is the last element of path, the name a feed or a directory's
// feeds take from it: for "." or ".." (`intel ingest misp .` in a feed
// directory) that of the directory they are, as its own path gives it.
func pathName(path string) string {
	base := filepath.Base(filepath.Clean(path))
	if base == "." || base == ".." {
		if abs, err := filepath.Abs(path); err == nil {
			base = filepath.Base(abs)
		}
	}
	return base
}

// normalize checks the feed and fills its default name.
func (f *Feed) normalize() error {
	if f.Path == "" {
		return errors.New("path is required")
	}
	f.Format = strings.ToLower(strings.TrimSpace(f.Format))
	switch f.Format {
	case "", FormatSTIX, FormatMISP, FormatTelemetry:
	default:
		return fmt.Errorf("format %q: want stix, misp or telemetry", f.Format)
	}
	derived := f.Name == ""
	if derived {
		if f.Path == "-" {
			f.Name = "stdin"
		} else {
			base := pathName(f.Path)
			f.Name = strings.TrimSuffix(base, filepath.Ext(base))
		}
	}
	if !validName.MatchString(f.Name) && derived {
		return fmt.Errorf("name %q, taken from the file name: a feed name uses letters, digits and . _ : / @ + -; "+
			"name the feed (--feed NAME, or name: in a feed list) or rename the file", f.Name)
	}
	if !validName.MatchString(f.Name) {
		return fmt.Errorf("name %q: use letters, digits and . _ : / @ + -", f.Name)
	}
	return nil
}

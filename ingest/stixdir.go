package ingest

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// stixFileExts are the file name endings FileFeeds takes as STIX files,
// each also gzip-compressed (with .gz after it): JSON, NDJSON, and .stix2
// and .stix, as MVT's indicator files (pegasus.stix2) are named.
var stixFileExts = []string{".json", ".ndjson", ".jsonl", ".stix2", ".stix"}

// FileFeeds lists the STIX feeds of a directory tree: one feed per regular
// file ending in .json, .ndjson, .jsonl, .stix2 or .stix, or one of these
// and .gz (any case), in lexical order, each loaded and recorded on its
// own (a compressed file is decompressed as it is read). A feed's name is
// prefix (default: the directory's name) joined with the file's path below
// dir, without its last extension ("unit42/hellokitty-ransomware",
// "dumps/2024-01-01.json" for 2024-01-01.json.gz, as the file given alone
// is named), so reloading the directory
// skips the files that did not change. Symbolic links, devices, FIFOs and
// hidden entries (".name") are skipped: nothing outside the tree is read.
// A subdirectory that cannot be read (permissions) is listed as a feed of
// its own, which then fails with the reason: the rest of the tree loads and
// the load does not end ok. A tree with no such file is an error.
func FileFeeds(dir, prefix string) ([]Feed, error) {
	return fileFeeds(os.DirFS(dir), dir, prefix)
}

// fileFeeds is FileFeeds over fsys, the tree of dir.
func fileFeeds(fsys fs.FS, dir, prefix string) ([]Feed, error) {
	if prefix == "" {
		prefix = pathName(dir)
	}
	var feeds []Feed
	unreadable := 0
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == "." || d == nil || !d.IsDir() {
				return err
			}
			// A subdirectory it may not read: a feed that fails, so that
			// the load says so and the rest of the tree still loads.
			feeds = append(feeds, Feed{Name: path.Join(prefix, p), Path: filepath.Join(dir, filepath.FromSlash(p)), Format: FormatSTIX})
			unreadable++
			return fs.SkipDir
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !hasSTIXExt(d.Name()) {
			return nil
		}
		feeds = append(feeds, Feed{Name: path.Join(prefix, strings.TrimSuffix(p, path.Ext(p))), Path: filepath.Join(dir, filepath.FromSlash(p)), Format: FormatSTIX})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list STIX files: %w", err)
	}
	if len(feeds) == unreadable {
		return nil, fmt.Errorf("%s holds no STIX file (%s, each also .gz)", dir, strings.Join(stixFileExts, ", "))
	}
	return feeds, nil
}

func hasSTIXExt(name string) bool {
	name = strings.ToLower(name)
	if base, ok := strings.CutSuffix(name, ".gz"); ok {
		name = base
	}
	return slices.Contains(stixFileExts, filepath.Ext(name))
}

// IsMISPFeedDir reports whether dir is a MISP feed directory: it holds a
// manifest.json, or event files named <uuid>.json or <uuid>.json.gz (ingest/misp loads it
// as one feed). A directory of event files named otherwise (ESET's
// misp-badiis.json, …) is not: intel ingest misp loads each of its files
// as a feed of its own (FileFeeds).
func IsMISPFeedDir(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true // the feed directory loader says why
	}
	for _, e := range entries {
		name := strings.ToLower(e.Name())
		if name == "manifest.json" {
			return true
		}
		if id, ok := strings.CutSuffix(strings.TrimSuffix(name, ".gz"), ".json"); ok && uuid.Validate(id) == nil {
			return true
		}
	}
	return false
}

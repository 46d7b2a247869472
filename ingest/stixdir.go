package ingest

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// stixFileExts are the file name endings FileFeeds takes as STIX files.
var stixFileExts = []string{".json", ".ndjson", ".jsonl"}

// FileFeeds lists the STIX feeds of a directory tree: one feed per regular
// file ending in .json, .ndjson or .jsonl (any case), in lexical order,
// each loaded and recorded on its own. A feed's name is prefix (default:
// the directory's name) joined with the file's path below dir, without its
// extension ("unit42/hellokitty-ransomware"), so reloading the directory
// skips the files that did not change. Symbolic links, devices, FIFOs and
// hidden entries (".name") are skipped: nothing outside the tree is read.
// A tree with no such file is an error.
func FileFeeds(dir, prefix string) ([]Feed, error) {
	if prefix == "" {
		prefix = filepath.Base(filepath.Clean(dir))
	}
	var feeds []Feed
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !hasSTIXExt(d.Name()) {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		feeds = append(feeds, Feed{Name: path.Join(prefix, strings.TrimSuffix(rel, path.Ext(rel))), Path: p, Format: FormatSTIX})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list STIX files: %w", err)
	}
	if len(feeds) == 0 {
		return nil, fmt.Errorf("%s holds no STIX file (%s)", dir, strings.Join(stixFileExts, ", "))
	}
	return feeds, nil
}

func hasSTIXExt(name string) bool {
	return slices.Contains(stixFileExts, strings.ToLower(filepath.Ext(name)))
}

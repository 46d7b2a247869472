// Package corpus finds the shared test corpus of real feeds: the directory
// shared/corpus next to the repository (../shared/corpus from the module
// root), which is not part of the repository.
//
// Tests that read it call Dir: when the corpus is absent they are skipped
// with a message saying so, except under CI (the environment variable CI
// set, as CI systems do), where an absent corpus fails them, so that a CI
// run cannot pass without running them.
package corpus

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the corpus directory joined with elem (Dir(t, "stix") is the
// STIX corpus). When it does not exist, Dir skips the test, or fails it
// when CI is set.
func Dir(t testing.TB, elem ...string) string {
	t.Helper()
	dir, err := Path(elem...)
	if err == nil {
		if _, err = os.Stat(dir); err == nil {
			return dir
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("shared corpus absent under CI: %v", err)
	}
	t.Skipf("SKIP: shared corpus absent (%v); these tests need it and fail under CI", err)
	return ""
}

// Path returns the corpus directory joined with elem, whether or not it
// exists: ../shared/corpus from the module root, found by walking up from
// the working directory to go.mod.
func Path(elem ...string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find shared corpus: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(append([]string{dir, "..", "shared", "corpus"}, elem...)...), nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("find shared corpus: no go.mod above %s", wd)
		}
	}
}

// Seeds returns the corpus directory joined with elem for a test that also
// runs without it (fuzz seeds): when it is absent, the test logs so and
// goes on (ok false), except under CI, where it fails.
func Seeds(t testing.TB, elem ...string) (dir string, ok bool) {
	t.Helper()
	dir, err := Path(elem...)
	if err == nil {
		if _, err = os.Stat(dir); err == nil {
			return dir, true
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("shared corpus absent under CI: %v", err)
	}
	t.Logf("shared corpus absent (%v): running without its seeds", err)
	return "", false
}

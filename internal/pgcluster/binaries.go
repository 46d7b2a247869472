package pgcluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// serverTools are the programs a cluster needs; a bin directory counts only
// when it holds all of them.
var serverTools = []string{"initdb", "postgres", "pg_ctl"}

// FindBinDir returns the directory holding the PostgreSQL server binaries.
// It looks, in order, at the directory of initdb on PATH, at
// `pg_config --bindir`, and at /usr/lib/postgresql/<version>/bin, newest
// version first (Debian and Ubuntu keep the server off PATH). It returns
// ErrNoServer when none has them all.
func FindBinDir() (string, error) {
	var candidates []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	candidates = append(candidates, debianBinDirs("/usr/lib/postgresql")...)
	for _, dir := range candidates {
		if hasServerTools(dir) {
			return dir, nil
		}
	}
	return "", ErrNoServer
}

// debianBinDirs lists root/<major>/bin directories, highest major first.
func debianBinDirs(root string) []string {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	type versioned struct {
		major int
		dir   string
	}
	var found []versioned
	for _, e := range entries {
		major, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		found = append(found, versioned{major, filepath.Join(root, e.Name(), "bin")})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].major > found[j].major })
	dirs := make([]string, len(found))
	for i, f := range found {
		dirs[i] = f.dir
	}
	return dirs
}

func hasServerTools(dir string) bool {
	if dir == "" {
		return false
	}
	for _, tool := range serverTools {
		st, err := os.Stat(filepath.Join(dir, tool))
		if err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// ServerVersion returns the output of `postgres --version` in binDir, e.g.
// "postgres (PostgreSQL) 15.18".
func ServerVersion(binDir string) (string, error) {
	out, err := exec.Command(filepath.Join(binDir, "postgres"), "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run postgres --version: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

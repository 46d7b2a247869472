package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// createOutput creates or truncates the file path the CLI writes its output
// to (-o, demo's DOT graph, bench gen's files), as os.Create does, but not
// through a symbolic link or into a file that another user has put in a
// shared directory (one others may write, with the sticky bit, as /tmp):
// the kernel's fs.protected_symlinks and fs.protected_regular refuse the
// same where they are on, and where they are off (containers often have
// both 0) `cd /tmp && intel demo` as root wrote its graph through
// another user's /tmp/demo-related.dot link over any file it named.
func createOutput(path string) (*os.File, error) {
	if err := sharedDirPlant(path); err != nil {
		return nil, err
	}
	return os.Create(path)
}

// sharedDirPlant returns an error when path is a symbolic link or a
// regular file that neither this user nor root owns, in a sticky directory
// others may write.
func sharedDirPlant(path string) error {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return nil //nolint:nilerr // nothing there (or nothing to see): os.Create says what it finds
	}
	owner := int(st.Uid)
	kind := st.Mode & syscall.S_IFMT
	if owner == os.Geteuid() || owner == 0 || (kind != syscall.S_IFLNK && kind != syscall.S_IFREG) {
		return nil
	}
	var dir syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(path), &dir); err != nil {
		return nil //nolint:nilerr // os.Create says what it finds
	}
	if dir.Mode&syscall.S_ISVTX == 0 || dir.Mode&0o002 == 0 {
		return nil
	}
	what := "a file"
	if kind == syscall.S_IFLNK {
		what = "a symbolic link"
	}
	return &os.PathError{Op: "create", Path: path, Err: fmt.Errorf("it is %s of uid %d in a directory shared with other users "+
		"(sticky, writable by all): not written through; remove it or write elsewhere", what, owner)}
}

// Package rsstest runs a loader in a child process on a generated input and
// measures the child's peak resident set size, for the TestLong* tests that
// prove memory bounds on hostile input (2 GiB of white space, a 400 MiB
// string). Inputs are generated while they are piped to the child's
// standard input, so they take neither memory nor disk in the test.
package rsstest

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// Long skips t unless INTEL_LONG is set (make fuzz sets it).
func Long(t *testing.T) {
	t.Helper()
	if os.Getenv("INTEL_LONG") == "" {
		t.Skip("long test: set INTEL_LONG=1 (make fuzz)")
	}
}

// BuildCLI builds cmd/intel into a temporary directory and returns its path.
func BuildCLI(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	require.NoError(t, err)
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin := filepath.Join(t.TempDir(), "intel")
	build := exec.Command("go", "build", "-o", bin, "./cmd/intel")
	build.Dir = root
	msg, err := build.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	return bin
}

// Run runs cmd with what input writes as its standard input and returns
// its standard output and its peak RSS in bytes (getrusage ru_maxrss).
func Run(t *testing.T, cmd *exec.Cmd, input func(w io.Writer) error) ([]byte, int64) {
	t.Helper()
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(input(pw)) }()
	cmd.Stdin = pr
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limited{w: &stderr, n: 1 << 16}
	err := cmd.Run()
	require.NoError(t, err, "stderr: %s", stderr.String())
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	require.True(t, ok)
	return stdout.Bytes(), ru.Maxrss << 10 // KiB on Linux
}

// limited keeps the first n bytes written to it.
type limited struct {
	w *bytes.Buffer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// Spaces writes n bytes of white space: spaces with a newline every 4 KiB
// when newlines is set.
func Spaces(w io.Writer, n int64, newlines bool) error {
	chunk := bytes.Repeat([]byte{' '}, 1<<20)
	if newlines {
		for i := 4095; i < len(chunk); i += 4096 {
			chunk[i] = '\n'
		}
	}
	return Repeat(w, chunk, n)
}

// Repeat writes n bytes made of chunk repeated.
func Repeat(w io.Writer, chunk []byte, n int64) error {
	for n > 0 {
		k := min(n, int64(len(chunk)))
		if _, err := w.Write(chunk[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// Write writes the strings s.
func Write(w io.Writer, s ...string) error {
	for _, p := range s {
		if _, err := io.WriteString(w, p); err != nil {
			return err
		}
	}
	return nil
}

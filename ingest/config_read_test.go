package ingest_test

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
)

// TestLoadConfigHostileFiles: a feed list that is /dev/zero (through a
// link), a FIFO nobody writes, or a file past MaxConfigBytes ends at once
// with an error. /dev/zero was read until memory ran out (23 GiB, then the
// OOM killer; SIGTERM did not stop it) and the FIFO blocked the open
// forever. A feed list written by a process (<(make-list), a pipe) still
// loads.
func TestLoadConfigHostileFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.yaml")
	require.NoError(t, os.Symlink("/dev/zero", zero))
	fifo := filepath.Join(dir, "list.fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(ingest.MaxConfigBytes+1))
	require.NoError(t, f.Close())

	for path, want := range map[string]string{
		zero: "not a regular file",
		fifo: "no feeds listed",
		big:  "larger than 64 MiB",
		dir:  "not a regular file",
	} {
		done := make(chan error, 1)
		go func() { _, err := ingest.LoadConfig(path); done <- err }()
		select {
		case err := <-done:
			require.ErrorContains(t, err, want, path)
		case <-time.After(10 * time.Second):
			t.Fatalf("LoadConfig(%s) still reading after 10 s", path)
		}
	}

	r, w, err := os.Pipe()
	require.NoError(t, err)
	go func() {
		_, _ = w.WriteString("feeds:\n  - name: a\n    path: /srv/a.json\n")
		_ = w.Close()
	}()
	defer r.Close() //nolint:errcheck // test
	cfg, err := ingest.LoadConfig("/dev/fd/" + strconv.Itoa(int(r.Fd())))
	require.NoError(t, err)
	require.Equal(t, "a", cfg.Feeds[0].Name)
}

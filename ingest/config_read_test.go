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
		dir:  "is a directory, not a feed list",
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

// TestLoadConfigOfAFeedSaysSo: a STIX bundle or a MISP event given where a
// feed list belongs (intel ingest feeds enterprise-attack.json) is named for
// what it is, with the command that loads it, whatever its size, as JSON or
// NDJSON; it was read whole as YAML (4.5 s for a 48 MB bundle) and refused
// with its own members as unknown fields ("field objects not found in type
// ingest.Config"). A feed list in JSON still loads.
func TestLoadConfigOfAFeedSaysSo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
		return p
	}
	for _, c := range []struct{ name, body, want string }{
		{"bundle.json", `{"type": "bundle", "id": "bundle--1b1e4c53-8b47-4d1b-9d38-7d5a1f0b8e11", "objects": []}`, "is a STIX feed, not a feed list"},
		{"objects.ndjson", `{"type": "indicator", "id": "indicator--1b1e4c53-8b47-4d1b-9d38-7d5a1f0b8e11"}` + "\n", "`intel ingest stix "},
		{"event.json", `{"Event": {"info": "x", "uuid": "5a1f0b8e-8b47-4d1b-9d38-7d5a1f0b8e11"}}`, "is a MISP feed, not a feed list"},
		{"search.json", `{"response": []}`, "`intel ingest misp "},
	} {
		_, err := ingest.LoadConfig(write(c.name, c.body))
		require.ErrorContains(t, err, c.want, c.name)
	}

	// past MaxConfigBytes too, from its head alone
	big := write("big.json", `{"type": "bundle", "objects": [`)
	require.NoError(t, os.Truncate(big, ingest.MaxConfigBytes+1))
	_, err := ingest.LoadConfig(big)
	require.ErrorContains(t, err, "is a STIX feed, not a feed list")

	cfg, err := ingest.LoadConfig(write("list.json", `{"concurrency": 1, "feeds": [{"name": "a", "path": "/srv/a.json", "format": "stix"}]}`))
	require.NoError(t, err)
	require.Equal(t, "a", cfg.Feeds[0].Name)
}

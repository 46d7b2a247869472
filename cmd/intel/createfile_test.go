package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOutputNotWrittenThroughAnotherUsersPlantInASharedDir: an output file
// named in a directory shared with other users (sticky, writable by all, as
// /tmp) that another user has made a symbolic link (or a file of theirs)
// is refused, whatever the kernel's fs.protected_symlinks says (0 in many
// containers, as here). Before, root's `intel related … --format dot -o
// r.dot` in such a directory wrote the graph over the file nobody's r.dot
// link named (`cd /tmp && intel demo` the same through demo-related.dot).
func TestOutputNotWrittenThroughAnotherUsersPlantInASharedDir(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make links and files of another user")
	}
	const nobody = 65534
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o600))
	shared := filepath.Join(base, "shared")
	require.NoError(t, os.Mkdir(shared, 0o700))
	require.NoError(t, os.Chmod(shared, 0o777|os.ModeSticky))

	link := filepath.Join(shared, "edr.ndjson")
	require.NoError(t, os.Symlink(victim, link))
	require.NoError(t, os.Lchown(link, nobody, nobody))
	theirs := filepath.Join(shared, "theirs.ndjson")
	require.NoError(t, os.WriteFile(theirs, nil, 0o666))
	require.NoError(t, os.Chown(theirs, nobody, nobody))
	for path, what := range map[string]string{link: "a symbolic link of uid 65534", theirs: "a file of uid 65534"} {
		_, stderr, code := runCLI(t, "bench", "gen", "--agents", "1", "--days", "1", "--rows-per-day", "10", "--telemetry", path)
		require.Equal(t, exitFailure, code, stderr)
		require.Contains(t, stderr, "create "+path+": it is "+what+" in a directory shared with other users")
	}
	raw, err := os.ReadFile(victim)
	require.NoError(t, err)
	require.Equal(t, "precious\n", string(raw))

	// Controls: a link of one's own there is written through, and a new file made.
	own := filepath.Join(shared, "own.ndjson")
	require.NoError(t, os.Symlink(filepath.Join(base, "target.ndjson"), own))
	runOK(t, "bench", "gen", "--agents", "1", "--days", "1", "--rows-per-day", "10", "--telemetry", own)
	runOK(t, "bench", "gen", "--agents", "1", "--days", "1", "--rows-per-day", "10", "--telemetry", filepath.Join(shared, "new.ndjson"))
	st, err := os.Stat(filepath.Join(base, "target.ndjson"))
	require.NoError(t, err)
	require.Positive(t, st.Size())
}

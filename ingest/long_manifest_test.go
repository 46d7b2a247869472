package ingest_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestLongManifestRSS is row 12 of issue 13 as it was tried: a feed
// directory whose manifest lists 100,001 events, one file present, loaded
// by the built CLI (`intel ingest feeds`) into a real database. It used
// 414 MB, logged 100,000 WARN lines and stored a 16 MB feeds.last_error.
// Peak RSS (the child's ru_maxrss) must stay within 64 MiB beyond the
// record limit, the WARN lines few, and the stored error at most
// ingest.MaxErrorText. Run by make fuzz (INTEL_LONG=1).
func TestLongManifestRSS(t *testing.T) {
	if os.Getenv("INTEL_LONG") == "" {
		t.Skip("long: set INTEL_LONG=1 (make fuzz)")
	}
	t.Parallel()
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "intel")
	build := exec.Command("go", "build", "-o", bin, "../cmd/intel")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	const entries = 100_001
	dir := filepath.Join(tmp, "feed")
	require.NoError(t, os.Mkdir(dir, 0o755))
	mf, err := os.Create(filepath.Join(dir, "manifest.json"))
	require.NoError(t, err)
	w := bufio.NewWriter(mf)
	present := "5f0e1a2b-0000-4000-8000-000000000000"
	_, _ = w.WriteString("{") // bufio: Flush reports errors
	for i := range entries {
		if i > 0 {
			_, _ = w.WriteString(",\n")
		}
		_, _ = fmt.Fprintf(w, `"5f0e1a2b-0000-4000-8000-%012d": {"Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}, "Tag": [{"colour": "#004646", "name": "type:OSINT"}, {"colour": "#ffffff", "name": "tlp:white"}], "info": "OSINT - event number %d of a very large feed", "date": "2026-10-01", "analysis": 2, "threat_level_id": 3, "timestamp": 1760000000}`, i, i)
	}
	_, _ = w.WriteString("}")
	require.NoError(t, w.Flush())
	require.NoError(t, mf.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, present+".json"),
		mispEvent(present, "present", 1760000000, [][2]string{{"ip-dst", "198.51.100.77"}}), 0o644))
	cfg := filepath.Join(tmp, "feeds.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("feeds:\n  - name: huge-manifest\n    path: feed\n"), 0o644))

	dsn := pgtest.DSN(t)
	var stderr strings.Builder
	cmd := exec.Command(bin, "ingest", "feeds", cfg, "--no-partition-maintenance")
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the feed fails: 100,000 event files are missing\n%s", out)
	require.Equal(t, 1, exit.ExitCode())

	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024 // KiB on Linux
	limit := int64(engine.DefaultMaxRecordBytes + 64<<20)
	t.Logf("peak RSS %.1f MiB (limit %d MiB), stderr %d bytes, stdout %d bytes", float64(maxRSS)/(1<<20), limit>>20, stderr.Len(), len(out))
	require.LessOrEqual(t, maxRSS, limit)
	require.LessOrEqual(t, strings.Count(stderr.String(), "level=WARN"), 20, "missing files are logged a few, then counted")
	require.Contains(t, stderr.String(), "more=99990")

	st := store.NewStore(pgtest.PoolFor(t, dsn))
	state, ok, err := st.Feed(context.Background(), "huge-manifest")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ingest.StatusFailed, state.LastStatus)
	require.LessOrEqual(t, len(state.LastError), ingest.MaxErrorText)
	require.Contains(t, state.LastError, "… and 99990 more event files failed")
	items, err := st.FeedItems(context.Background(), "huge-manifest")
	require.NoError(t, err)
	require.Contains(t, items, present, "the one event present is loaded and recorded")
}

package corpus

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPathIsNextToTheModule(t *testing.T) {
	t.Parallel()
	p, err := Path("stix")
	require.NoError(t, err)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "..", "shared", "corpus", "stix"), p)
}

// fakeT records whether Dir skipped or failed.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }

func TestAbsentCorpusSkipsOrFailsUnderCI(t *testing.T) {
	// Not parallel: it sets CI.
	missing := "no-such-directory-" + t.Name()
	t.Setenv("CI", "")
	require.NoError(t, os.Unsetenv("CI")) // t.Setenv restores it afterwards
	ft := &fakeT{TB: t}
	Dir(ft, missing)
	require.True(t, ft.skipped)
	require.False(t, ft.failed)

	t.Setenv("CI", "true")
	ft = &fakeT{TB: t}
	Dir(ft, missing)
	require.True(t, ft.failed)
}

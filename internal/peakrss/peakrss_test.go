package peakrss_test

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/peakrss"
)

var sink []byte

func TestPeakGrowsAndResets(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("VmHWM is Linux's")
	}
	before := peakrss.Bytes()
	require.Positive(t, before)
	sink = make([]byte, 64<<20)
	for i := range sink {
		sink[i] = 1
	}
	grown := peakrss.Bytes()
	require.GreaterOrEqual(t, grown, before+60<<20, "touching 64 MiB raises the peak")
	sink = nil
	debug.FreeOSMemory()
	if !peakrss.Reset() {
		t.Skip("clear_refs not writable here")
	}
	require.Less(t, peakrss.Bytes(), grown, "the peak resets to the current RSS")
}

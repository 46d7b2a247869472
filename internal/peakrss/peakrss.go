// Package peakrss reads and resets the peak resident set size (VmHWM) of
// this process, for benchmarks that report client memory per phase. Both
// work on Linux only; elsewhere Reset reports false and Bytes returns 0.
package peakrss

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// Reset resets the kernel's peak RSS counter of this process ("5" written
// to /proc/self/clear_refs) and reports whether it could.
func Reset() bool {
	return os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) == nil
}

// Bytes returns the process's peak resident set (VmHWM of
// /proc/self/status) in bytes: since the start, or since the last Reset.
// It returns 0 where there is none.
func Bytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close() //nolint:errcheck // read-only
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

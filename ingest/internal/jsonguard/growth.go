package jsonguard

import "runtime/debug"

// growthFloor is the buffer size from which a Growth returns memory.
const growthFloor = 16 << 20

// Growth watches the buffer a JSON decoder reads into (the length of the
// p its Read calls get). The decoder holds a value contiguously and
// doubles its buffer as it grows; each time the buffer grows past 16 MiB
// the one it replaced is garbage, and Growth hands it back to the
// operating system at once, so that peak memory stays near the record
// limit rather than old and new buffer together.
type Growth struct{ max int }

// Note notes a Read into a buffer with n bytes free.
func (g *Growth) Note(n int) {
	if n < growthFloor || n <= g.max {
		return
	}
	g.max = n
	debug.FreeOSMemory()
}

package misp

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
)

// allocated returns the bytes the Go heap allocated while f ran. Tests
// that call it do not run in parallel, so the figure is f's.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// space is n bytes of white space with a newline every 100 bytes.
func space(n int) string {
	return strings.Repeat(strings.Repeat(" ", 99)+"\n", n/100)
}

// TestHostileWhiteSpace: 8 MiB of white space before the document, between
// array elements, between members of the event and inside an attribute is
// skipped without being buffered, and every record loads.
func TestHostileWhiteSpace(t *testing.T) {
	ws := space(2 << 20)
	inside := attr(u(3), "domain", "b.example")
	inside = "{" + ws + inside[1:]
	doc := ws + `{"Event": {"uuid": "` + u(1) + `",` + ws + `"info": "spaced", "date": "2020-09-13", "timestamp": "1600000000", "Attribute": [` +
		attr(u(2), "domain", "a.example") + ws + "," + inside + "," + attr(u(4), "domain", "c.example") + "]}}"
	var rep *engine.Report
	var sink *captureSink
	var err error
	alloc := allocated(func() { rep, sink, err = loadString(t, doc, quiet(nil)) })
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	for _, id := range []string{u(1), u(2), u(3), u(4)} {
		_, ok := sink.byAlias(alias(id))
		require.True(t, ok, id)
	}
	require.EqualValues(t, len(doc), rep.Bytes)
	t.Logf("allocated %d bytes", alloc)
	require.Less(t, alloc, uint64(4<<20), "allocated %d bytes reading %d bytes of white space", alloc, 8<<20)
}

// TestHostileLongString: with the record limit at 1 MiB, an attribute with
// a 3 MiB value and an event member of 3 MiB are dropped as too large
// without being buffered whole, and the records around them load.
func TestHostileLongString(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	doc := event(u(1), "long", []string{attr(u(2), "domain", "a.example"), attr(u(3), "text", long), attr(u(4), "domain", "c.example")},
		`"x-unknown": "`+long+`"`, `"Object": [{"uuid": "`+u(5)+`", "name": "domain-ip", "Attribute": [`+attr(u(6), "domain", "d.example")+`]}]`)
	opts := quiet(nil)
	opts.MaxRecordBytes = 1 << 20
	var rep *engine.Report
	var sink *captureSink
	var err error
	alloc := allocated(func() { rep, sink, err = loadString(t, doc, opts) })
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 2}, rep.Dropped)
	for _, id := range []string{u(1), u(2), u(4), u(6)} {
		_, ok := sink.byAlias(alias(id))
		require.True(t, ok, id)
	}
	_, ok := sink.byAlias(alias(u(3)))
	require.False(t, ok)
	t.Logf("allocated %d bytes", alloc)
	require.Less(t, alloc, uint64(6<<20), "allocated %d bytes for a 1 MiB record limit", alloc)
}

// TestHostileDeepRecord: a value nested 100,000 deep in an attribute, as an
// element of the attribute list and in an event member is dropped alone
// as too deep, and the records after it load.
func TestHostileDeepRecord(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	deepObj := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	doc := event(u(1), "deep", []string{attr(u(2), "domain", "a.example"), attr(u(3), "text", "x", `"Tag": `+deep), deep,
		attr(u(4), "domain", "c.example")}, `"x-deep": `+deepObj)
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooDeep: 3}, rep.Dropped)
	for _, id := range []string{u(1), u(2), u(4)} {
		_, ok := sink.byAlias(alias(id))
		require.True(t, ok, id)
	}
	// A whole document nested too deeply is one dropped record, not a
	// stopped feed.
	rep, sink, err = loadString(t, `{"response": [`+deep+`, `+event(u(7), "after", []string{attr(u(8), "domain", "e.example")})+`]}`, quiet(nil))
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooDeep: 1}, rep.Dropped)
	_, ok := sink.byAlias(alias(u(8)))
	require.True(t, ok)
}

package misp

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// eventStream generates one MISP event of about size bytes, attribute by
// attribute, without holding it: the input of the memory test.
type eventStream struct {
	size, n int64
	i       int
	buf     []byte
	end     string
	closed  bool
}

func newEventStream(size int64) *eventStream {
	return &eventStream{size: size, end: "]}}", buf: []byte(`{"Event": {"uuid": "` + u(1) + `", "info": "generated", "date": "2024-01-01", "timestamp": "1704067200", "Attribute": [`)}
}

// newSortedEventStream is the event of newEventStream with its keys
// sorted (PyMISP's to_json(sort_keys=True)): its attributes come before
// its uuid and timestamp and, bare (without the "Event" wrapper), before
// anything says it is an event.
func newSortedEventStream(size int64, bare bool) *eventStream {
	s := &eventStream{size: size, buf: []byte(`{"Attribute": [`),
		end: `], "Orgc": {"name": "CIRCL", "uuid": "55f6ea5e-2c60-40e5-964f-47a8950d210f"}, "date": "2024-01-01", "info": "generated", "timestamp": "1704067200", "uuid": "` + u(1) + `"}`}
	if !bare {
		s.buf, s.end = append([]byte(`{"Event": `), s.buf...), s.end+"}"
	}
	return s
}

func (s *eventStream) Read(p []byte) (int, error) {
	for len(s.buf) < len(p) && !s.closed {
		if s.i > 0 {
			s.buf = append(s.buf, ',')
		}
		switch s.i % 4 {
		case 0:
			s.buf = fmt.Appendf(s.buf, `{"uuid": "%s", "type": "ip-dst", "category": "Network activity", "value": "10.%d.%d.%d", "to_ids": true, "timestamp": "1704067200", "comment": "generated"}`,
				u(1000000+s.i), s.i>>16&255, s.i>>8&255, s.i&255)
		case 1:
			s.buf = fmt.Appendf(s.buf, `{"uuid": "%s", "type": "domain", "category": "Network activity", "value": "host%d.example.com", "to_ids": false, "timestamp": "1704067200"}`, u(1000000+s.i), s.i)
		case 2:
			s.buf = fmt.Appendf(s.buf, `{"uuid": "%s", "type": "filename|sha256", "category": "Payload delivery", "value": "f%d.exe|%064x", "to_ids": true, "timestamp": "1704067200"}`, u(1000000+s.i), s.i, s.i)
		default:
			s.buf = fmt.Appendf(s.buf, `{"uuid": "%s", "type": "text", "category": "Other", "value": "note %d", "timestamp": "1704067200"}`, u(1000000+s.i), s.i)
		}
		s.i++
		if s.n+int64(len(s.buf)) >= s.size {
			s.buf = append(s.buf, s.end...)
			s.closed = true
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[:copy(s.buf, s.buf[n:])]
	s.n += int64(n)
	if n == 0 && s.closed {
		return 0, io.EOF
	}
	return n, nil
}

// countSink counts what it is given and keeps nothing.
type countSink struct{ nodes, relations atomic.Int64 }

func (c *countSink) Write(_ context.Context, b graph.Batch) (graph.WriteStats, error) {
	c.nodes.Add(int64(len(b.Nodes)))
	c.relations.Add(int64(len(b.Relations)))
	return graph.WriteStats{NodesInserted: int64(len(b.Nodes)), RelationsInserted: int64(len(b.Relations))}, nil
}

// peakLiveHeap samples, while f runs, the heap the last garbage
// collection found live (runtime/metrics /gc/heap/live:bytes) and
// returns its peak: what the load holds, not the garbage a collector
// running late (a loaded machine) has not reclaimed yet, which the heap
// in use (runtime.MemStats.HeapInuse) also counts.
func peakLiveHeap(f func()) uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return peak.Load()
}

// largeEventSize is the generated event of TestLargeEventStreams: 16 MiB,
// about 90,000 attributes; maxLiveHeap the bound of the heap its load
// holds live.
//
// The load holds live what its pipeline bounds, whatever the event's size:
// the engine's chunks in flight and the batch being collected (2,000
// records), the relations waiting for their ends (engine.relationsAhead),
// the event's bounded per-record lists. Measured (go test, 2 cores shared):
// 21.6–22.7 MiB live for 16 MiB, 17–22 MiB for 8 MiB. A load that reads
// the event whole before mapping it holds the event's 16 MiB on top of
// that: 41–43 MiB live (the test's own control, below). 32 MiB lies
// between the two with about 10 MiB on either side. The bound was 40 MiB
// of heap in use (MemStats.HeapInuse), which counts the garbage not yet
// collected too: 31–35 MiB alone for 8 MiB, 41.3 MiB once under machine
// load (the collector late), a failure; the live heap does not move with
// the collector's timing.
const (
	largeEventSize = 16 << 20
	maxLiveHeap    = 32 << 20
)

// loadLargeEvent loads the generated event of size bytes (made by
// stream), reading it whole first when whole is set, and returns the
// peak live heap.
func loadLargeEvent(t *testing.T, size int64, whole bool, stream func(int64) *eventStream) (peak uint64, read, mapped int64) {
	t.Helper()
	runtime.GC()
	sink := &countSink{}
	peak = peakLiveHeap(func() {
		opts := quiet(nil)
		opts.Workers, opts.BatchSize = 2, 2000
		var r io.Reader = stream(size)
		if whole {
			all, err := io.ReadAll(r)
			require.NoError(t, err)
			r = bytes.NewReader(all)
		}
		rep, err := LoadFile(context.Background(), r, sink, opts)
		require.NoError(t, err)
		read, mapped = rep.RecordsRead, rep.RecordsMapped
		t.Logf("whole %t: %d bytes in %s (%.0f MB/s), %d records, %d nodes, %d relations", whole,
			rep.Bytes, rep.Duration.Round(time.Millisecond), rep.MBPerSecond(), rep.RecordsRead, sink.nodes.Load(), sink.relations.Load())
	})
	t.Logf("whole %t: peak live heap %.1f MiB", whole, float64(peak)/(1<<20))
	return peak, read, mapped
}

// TestLargeEventStreams: one event of 16 MiB (about 90,000 attributes)
// streams through with the live heap under 32 MiB (maxLiveHeap): an
// event is not held whole. The same event read whole before it is
// mapped, the control, must go over the bound, so the measure is shown
// to tell the two apart on every run (without the race detector).
func TestLargeEventStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MiB event")
	}
	peak, read, mapped := loadLargeEvent(t, largeEventSize, false, newEventStream)
	require.Equal(t, read, mapped)
	require.Greater(t, read, int64(75000))
	require.Less(t, peak, uint64(maxLiveHeap), "memory does not grow with the event")

	if raceBuild {
		// 1m27s for the event alone under the race detector, on 2
		// shared cores: the control runs without it (make test runs
		// with it, go test ./ingest/misp without).
		t.Log("control not run under the race detector")
		return
	}
	whole, _, _ := loadLargeEvent(t, largeEventSize, true, newEventStream)
	require.Greater(t, whole, uint64(maxLiveHeap), "the control: the event held whole goes over the bound")
}

// TestLargeSortedEventStreams: the event of TestLargeEventStreams with
// sorted keys (90,000 attributes before its uuid and timestamp), wrapped
// and bare (then before anything says it is an event), streams through
// under the same bound: its records wait for the event's end in a spool of
// at most 4 MiB in memory (maxSpoolMem), the rest in a temporary file, and
// the event's end maps them knowing its uuid and version, so nothing else
// is kept for it. Every record is mapped. Before, the bare one held 165.5
// MiB live (mapped as records of no event, their links kept for the
// event's end) and the wrapped one 328.8 MiB (their records and links
// held for the event's end).
func TestLargeSortedEventStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("16 MiB event")
	}
	for _, bare := range []bool{true, false} {
		peak, read, mapped := loadLargeEvent(t, largeEventSize, false, func(size int64) *eventStream { return newSortedEventStream(size, bare) })
		require.Equal(t, read, mapped)
		require.Greater(t, read, int64(75000))
		require.Less(t, peak, uint64(maxLiveHeap), "memory does not grow with the event; bare: %v", bare)
	}
}

// BenchmarkLoadEvent reports the parse rate of a generated 32 MB event.
func BenchmarkLoadEvent(b *testing.B) {
	const size = 32 << 20
	b.SetBytes(size)
	for b.Loop() {
		opts := quiet(nil)
		opts.Workers, opts.BatchSize = 2, 2000
		if _, err := LoadFile(context.Background(), newEventStream(size), &countSink{}, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSpoolWithoutATemporaryDirectory: a sorted event larger than the
// spool keeps in memory (maxSpoolMem) on a machine whose temporary
// directory cannot be written stops its load with an error saying why,
// after writing what it read (the spool's memory part and the event).
func TestSpoolWithoutATemporaryDirectory(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "absent"))
	sink := &countSink{}
	rep, err := LoadFile(context.Background(), newSortedEventStream(maxSpoolMem+(1<<20), true), sink, quiet(nil))
	require.ErrorContains(t, err, "spool MISP records read before their event's uuid")
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Equal(t, rep.RecordsRead, rep.RecordsMapped)
	require.Positive(t, rep.RecordsMapped)
}

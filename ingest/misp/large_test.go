package misp

import (
	"context"
	"fmt"
	"io"
	"runtime"
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
	closed  bool
}

func newEventStream(size int64) *eventStream {
	return &eventStream{size: size, buf: []byte(`{"Event": {"uuid": "` + u(1) + `", "info": "generated", "date": "2024-01-01", "timestamp": "1704067200", "Attribute": [`)}
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
			s.buf = append(s.buf, "]}}"...)
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

// peakHeap samples the heap in use while f runs.
func peakHeap(f func()) uint64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	f()
	close(done)
	wg.Wait()
	return peak.Load()
}

// TestLargeEventStreams: one event of 8 MB (about 45,000 attributes) streams
// through with the heap in use staying under 40 MB: an event is not held
// whole. (The bound was 32 MB until each to_ids attribute became an
// indicator beside its observable, which makes the batches of 2,000
// records larger: 32.9 MiB peak for 8 MB, 36.7 MiB for 24 MB; before,
// 27.3 and 32.9 MiB.)
func TestLargeEventStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("8 MB event")
	}
	runtime.GC()
	sink := &countSink{}
	var rep *struct{ read, mapped int64 }
	peak := peakHeap(func() {
		opts := quiet(nil)
		opts.Workers, opts.BatchSize = 2, 2000
		// 8 MB keeps the race-enabled suite quick; BenchmarkLoadEvent
		// streams 32 MB and reports the rate.
		r, err := LoadFile(context.Background(), newEventStream(8<<20), sink, opts)
		require.NoError(t, err)
		rep = &struct{ read, mapped int64 }{r.RecordsRead, r.RecordsMapped}
		t.Logf("%d bytes in %s (%.0f MB/s), %d records, %d nodes, %d relations",
			r.Bytes, r.Duration.Round(time.Millisecond), r.MBPerSecond(), r.RecordsRead, sink.nodes.Load(), sink.relations.Load())
	})
	t.Logf("peak heap in use %.1f MiB", float64(peak)/(1<<20))
	require.Equal(t, rep.read, rep.mapped)
	require.Greater(t, rep.read, int64(37000))
	require.Less(t, peak, uint64(40<<20), "memory does not grow with the event")
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

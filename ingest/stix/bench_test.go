package stix

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ransomeye/intel/internal/peakrss"
	"github.com/ransomeye/intel/tuning"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// Benchmark sizes, selectable from the environment:
//
//	STIX_BENCH_MB         size of the in-memory feed BenchmarkParse parses (default 64)
//	STIX_BENCH_STREAM_MB  size of the feed BenchmarkStream generates (default 256;
//	                      2048 for the 2 GB run)
//	STIX_BENCH_WORKERS    BenchmarkStream's worker count (default: tuning's)
//
// The 2 GB run is one command:
//
//	STIX_BENCH_STREAM_MB=2048 go test -run '^$' -bench BenchmarkStream -benchtime 1x ./ingest/stix/
func envMB(name string, def int64) int64 {
	if v, err := strconv.ParseInt(os.Getenv(name), 10, 64); err == nil && v > 0 {
		return v
	}
	return def
}

// countingSink counts what it is given and keeps nothing.
type countingSink struct{ nodes, relations atomic.Int64 }

func (s *countingSink) Write(_ context.Context, b graph.Batch) (graph.WriteStats, error) {
	s.nodes.Add(int64(len(b.Nodes)))
	s.relations.Add(int64(len(b.Relations)))
	return graph.WriteStats{}, nil
}

// heapSampler records the peak of the live heap while it runs.
type heapSampler struct {
	stop chan struct{}
	done sync.WaitGroup
	peak atomic.Uint64
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{})}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	h.done.Add(1)
	go func() {
		defer h.done.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(samples)
			if v := samples[0].Value.Uint64(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Stop ends sampling and returns the peak in MiB.
func (h *heapSampler) Stop() float64 {
	close(h.stop)
	h.done.Wait()
	return float64(h.peak.Load()) / (1 << 20)
}

var (
	benchFeedOnce sync.Once
	benchFeed     []byte
)

func benchData(b *testing.B) []byte {
	benchFeedOnce.Do(func() {
		benchFeed, _ = io.ReadAll(newGenerator(0, envMB("STIX_BENCH_MB", 64)<<20))
	})
	return benchFeed
}

// BenchmarkParse compares, on the same generated bundle held in memory,
// Load (streaming reader, parallel decoding and mapping, batches to a sink
// that keeps nothing), the reader alone, the reader plus decoding each
// object into a map (the work encoding/json does), and encoding/json
// unmarshalling the bundle whole. It reports MB/s (wall clock), MB/cpu-s (bytes per second of CPU
// time of the whole process, GC included: steadier than MB/s on a busy
// machine) and the peak live heap above the input.
func BenchmarkParse(b *testing.B) {
	data := benchData(b)
	// measure runs once per iteration as sub-benchmark name, reporting the
	// peak live heap above the heap it started with and MB per CPU-second.
	measure := func(name string, once func(b *testing.B)) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			h := sampleHeap()
			cpu0 := cpuTime()
			b.ResetTimer()
			for b.Loop() {
				once(b)
			}
			b.ReportMetric(h.Stop()-float64(m.HeapAlloc)/(1<<20), "peak-heap-MiB")
			b.ReportMetric(float64(len(data))*float64(b.N)/1e6/(cpuTime()-cpu0).Seconds(), "MB/cpu-s")
		})
	}
	for _, workers := range []int{1, 2, 4} {
		measure(fmt.Sprintf("stix.Load/workers=%d", workers), func(b *testing.B) {
			sink := &countingSink{}
			if _, err := Load(context.Background(), bytes.NewReader(data), sink, Options{Workers: workers, BatchSize: 500, Logger: quietLogger}); err != nil {
				b.Fatal(err)
			}
		})
	}
	measure("reader-only", func(b *testing.B) {
		rd := newReader(bytes.NewReader(data), engine.DefaultMaxRecordBytes)
		for {
			if _, err := rd.next(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	})
	// What encoding/json does below, streaming: every object decoded into a
	// map[string]any, one goroutine.
	measure("reader+decode", func(b *testing.B) {
		rd := newReader(bytes.NewReader(data), engine.DefaultMaxRecordBytes)
		for {
			rec, err := rd.next()
			if err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
			if _, err := decodeObject(rec.raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	measure("encoding-json-whole", func(b *testing.B) {
		var bundle struct {
			Objects []map[string]any `json:"objects"`
		}
		if err := stdjson.Unmarshal(data, &bundle); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkStream parses a generated bundle of STIX_BENCH_STREAM_MB
// megabytes (default 256, 2048 for the 2 GB check) streamed from a
// generator, end to end through Load into a sink that keeps nothing, and
// reports MB/s, the peak live heap and the process's peak RSS (VmHWM,
// reset before the run).
func BenchmarkStream(b *testing.B) {
	size := envMB("STIX_BENCH_STREAM_MB", 256) << 20
	for b.Loop() {
		runtime.GC()
		peakrss.Reset()
		h := sampleHeap()
		start, cpu0 := time.Now(), cpuTime()
		sink := &countingSink{}
		gen := newGenerator(0, size)
		workers := int(envMB("STIX_BENCH_WORKERS", 0))
		if workers == 0 {
			workers = tunedWorkers()
		}
		rep, err := Load(context.Background(), gen, sink, Options{Logger: quietLogger, Workers: workers})
		if err != nil {
			b.Fatal(err)
		}
		elapsed, cpu := time.Since(start), cpuTime()-cpu0
		heap := h.Stop()
		rss := float64(peakrss.Bytes()) / (1 << 20)
		b.ReportMetric(float64(rep.Bytes)/1e6/elapsed.Seconds(), "MB/s")
		b.ReportMetric(heap, "peak-heap-MiB")
		b.ReportMetric(rss, "peak-RSS-MiB")
		b.ReportMetric(float64(rep.Bytes)/1e6/cpu.Seconds(), "MB/cpu-s")
		b.ReportMetric(float64(rep.RecordsRead), "records")
		b.Logf("streamed %d bytes (%d records, %d nodes, %d relations) in %s (CPU %s): %.1f MB/s, %.1f MB/cpu-s, peak heap %.1f MiB, peak RSS %.1f MiB (workers %d)",
			rep.Bytes, rep.RecordsRead, sink.nodes.Load(), sink.relations.Load(), elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond),
			float64(rep.Bytes)/1e6/elapsed.Seconds(), float64(rep.Bytes)/1e6/cpu.Seconds(), heap, rss, workers)
	}
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// tunedWorkers is tuning's parser worker count for this machine, as the
// CLI passes it, or 1 when the machine cannot be measured.
func tunedWorkers() int {
	res, err := tuning.Detect()
	if err != nil {
		return 1
	}
	plan, err := tuning.PlanFor(res)
	if err != nil || plan.ParserWorkers < 1 {
		return 1
	}
	return plan.ParserWorkers
}

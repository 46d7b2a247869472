package telemetry_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/store"
)

// BenchmarkPlanFile measures what planning a rerun of a large telemetry
// file holds in memory: the file read once (SHA-256, a hash per line),
// compared line by line with the checkpoint of its first half (an
// appended file). It reports the peak of live heap above the baseline in
// bytes per line (sampled every millisecond) and the read rate.
// INTEL_BENCH_PLAN_LINES sets the lines (default 1,000,000, of ~180 bytes).
func BenchmarkPlanFile(b *testing.B) {
	lines := 1_000_000
	if v := os.Getenv("INTEL_BENCH_PLAN_LINES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 2 {
			b.Fatalf("INTEL_BENCH_PLAN_LINES=%q: want a number of lines, at least 2", v)
		}
		lines = n
	}
	dir := b.TempDir()
	half, whole := filepath.Join(dir, "half.ndjson"), filepath.Join(dir, "whole.ndjson")
	writeLines := func(path string, n int) {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for i := range n { // a write error shows in Flush
			_, _ = fmt.Fprintf(w, `{"ts":"2026-11-27T10:%02d:%02dZ","agent_id":"agent-%05d","src":"process:host-%05d:%d","relation":"wrote","dst":"file:c:\\users\\x\\appdata\\%08d.tmp"}`+"\n",
				i/60%60, i%60, i%50000, i%50000, i, i)
		}
		if err := w.Flush(); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	writeLines(half, lines/2)
	writeLines(whole, lines)
	first, err := telemetry.PlanFile(context.Background(), lastCheckpoint{}, half, true)
	if err != nil {
		b.Fatal(err)
	}
	cps := lastCheckpoint{store.TelemetryCheckpoint{ContentHash: first.Input.ContentHash, Bytes: first.Input.Bytes,
		BaseOffset: first.Input.Bytes, LineHashes: first.Input.LineHashes, Complete: true}, true}
	st, err := os.Stat(whole)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var peak, base uint64
	var elapsed time.Duration
	for range b.N {
		runtime.GC()
		base = heapLive()
		var max atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			t := time.NewTicker(time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
					if h := heapLive(); h > max.Load() {
						max.Store(h)
					}
				}
			}
		}()
		start := time.Now()
		p, err := telemetry.PlanFile(context.Background(), cps, whole, false)
		elapsed = time.Since(start)
		if h := heapLive(); h > max.Load() {
			max.Store(h)
		}
		close(stop)
		<-done
		if err != nil {
			b.Fatal(err)
		}
		if p.Kind != telemetry.PlanAppended || p.Offset != first.Input.Bytes {
			b.Fatalf("plan %s from byte %d, want %s from %d", p.Kind, p.Offset, telemetry.PlanAppended, first.Input.Bytes)
		}
		runtime.KeepAlive(p)
		peak = max.Load()
	}
	b.StopTimer()
	above := float64(peak) - float64(base)
	b.ReportMetric(above/float64(lines), "peak-heap-B/line")
	b.ReportMetric(float64(st.Size())/elapsed.Seconds()/1e6, "MB/s")
	b.Logf("%d lines, %d bytes: peak live heap %.1f MB above the baseline (%.1f B a line; the plan's line hashes are 8 B a line), %v",
		lines, st.Size(), above/1e6, above/float64(lines), elapsed.Round(time.Millisecond))
}

func heapLive() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

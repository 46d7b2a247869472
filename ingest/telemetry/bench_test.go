package telemetry_test

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/store"
)

// countWriter reads the edges as the store does (checked ones without a
// second check) and only counts them: what is left of a load is the
// client's parse, map and check.
type countWriter struct{ edges int64 }

func (w *countWriter) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	for _, err := range edges {
		if err != nil {
			return store.TelemetryStats{}, err
		}
		w.edges++
	}
	return store.TelemetryStats{Edges: w.edges}, nil
}

func (w *countWriter) AppendCheckedTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	return w.AppendTelemetry(ctx, edges)
}

// cpuTime is the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLoadClient is the client's side of `intel ingest telemetry`
// without a database: 100,000 lines of BenchmarkIngestTelemetryCLI's shape
// (a) (a process of 1,000 hosts → a file with its SHA-256, an address or a
// domain, 5,000 endpoints, the pid in props) through Load to a writer that
// counts them, with 1 and 2 parse workers. It reports the CPU a line costs
// there (ns/line wall, cpu-ns/line the process's CPU time, which the
// machine's load moves less), independent of a server.
func BenchmarkLoadClient(b *testing.B) {
	const lines, endpoints = 100_000, 5_000
	at := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var in strings.Builder
	for i := range lines {
		host, pid, d := i%1000, 1000+i*7%(endpoints/5), i*31%endpoints
		var dst string
		switch d % 3 {
		case 0:
			dst = fmt.Sprintf(`{"kind":"file","name":"bin-%d.exe","hashes":{"SHA-256":"%064x"}}`, d, d)
		case 1:
			dst = fmt.Sprintf(`"ipv4-addr:10.0.%d.%d"`, d>>8&0xff, d&0xff)
		default:
			dst = fmt.Sprintf(`{"kind":"domain-name","value":"host-%d.example.com"}`, d)
		}
		fmt.Fprintf(&in, `{"src":{"kind":"process","key":"host-%d:%d","name":"proc-%d.exe"},"relation":"wrote","dst":%s,"agent_id":"host-%d","observed_at":%q,"props":{"pid":%d}}`+"\n",
			host, pid, pid%97, dst, host, at.Add(time.Duration(i)*time.Millisecond).Format(time.RFC3339Nano), pid)
	}
	text := in.String()
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			cpu0 := cpuTime()
			for b.Loop() {
				w := &countWriter{}
				if _, err := telemetry.Load(context.Background(), strings.NewReader(text), w,
					engine.Options{Feed: "edr", Workers: workers, Logger: quiet}); err != nil {
					b.Fatal(err)
				}
				if w.edges != lines {
					b.Fatalf("%d edges, want %d", w.edges, lines)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*lines), "ns/line")
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*lines), "cpu-ns/line")
		})
	}
}

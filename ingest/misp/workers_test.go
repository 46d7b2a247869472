package misp

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/sinktest"
)

// TestBatchesDoNotDependOnWorkers: the same events give the same batches
// with 1, 2 and 8 workers, including the links an event keeps until its
// end (a bare event whose uuid comes after its attributes) and galaxies
// read before the event's times.
func TestBatchesDoNotDependOnWorkers(t *testing.T) {
	t.Parallel()
	var attrs []string
	for i := range 400 {
		switch i % 4 {
		case 0:
			attrs = append(attrs, attr(u(1000+i), "domain", fmt.Sprintf("d%d.example", i)))
		case 1:
			attrs = append(attrs, attr(u(1000+i), "ip-dst", fmt.Sprintf("198.51.100.%d", i%250)))
		case 2:
			attrs = append(attrs, attr(u(1000+i), "sha256", fmt.Sprintf("%064x", i)))
		default:
			attrs = append(attrs, attr(u(1000+i), "ip-dst", "not-an-ip"))
		}
	}
	wrapped := event(u(1), "wrapped", attrs[:200],
		`"Object": [{"uuid": "`+u(2)+`", "name": "file", "timestamp": "1600000000", "Attribute": [`+
			attr(u(3), "md5", strings.Repeat("a", 32))+`,`+attr(u(4), "filename", "x.exe")+`]}]`)
	// Sorted keys: Attribute and Galaxy come before date, timestamp and uuid.
	bare := `{"Attribute": [` + strings.Join(attrs[200:], ",") + `], "Galaxy": [{"type": "threat-actor", "GalaxyCluster": [{"value": "APT 99", "uuid": "` + u(5) + `"}]}], "date": "2020-09-13", "info": "bare", "timestamp": "1600000000", "uuid": "` + u(6) + `"}`
	doc := `{"response": [` + wrapped + `, ` + bare + `]}`

	var want []graph.Batch
	for _, workers := range []int{1, 2, 8} {
		sink := &sinktest.Recorder{}
		opts := quiet(nil)
		opts.Workers, opts.BatchSize = workers, 53
		rep, err := LoadFile(context.Background(), strings.NewReader(doc), sink, opts)
		require.NoError(t, err)
		require.EqualValues(t, 100, rep.Dropped[ReasonInvalidValue])
		require.NotEmpty(t, sink.Batches)
		if want == nil {
			want = sink.Batches
			continue
		}
		require.Equal(t, want, sink.Batches, "%d workers", workers)
	}
}

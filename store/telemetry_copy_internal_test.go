package store

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

func TestAppendJSONObjectMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		props map[string]any
	}{
		{"empty", nil},
		{"scalars", map[string]any{"pid": float64(4242), "big": 1e21, "neg": -0.5, "ok": true, "none": nil,
			"i": 7, "i64": int64(-9), "i32": int32(3), "u32": uint32(4), "u64": uint64(math.MaxUint64), "num": json.Number("12.5")}},
		{"strings", map[string]any{"quote\"key": `C:\Users\"x"`, "ctl": "a\x00b\nc\td\x1f", "utf8": "évil ✓ 🦠", "bad": "a\xffb\xc3"}},
		{"nested falls back", map[string]any{"args": []any{"-enc", "x"}, "env": map[string]any{"A": "1"}, "pid": 1}},
		{"NaN falls back", map[string]any{"x": "y", "nan": json.Number("not a number")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := appendJSONObject([]byte("prefix"), tc.props)
			require.Equal(t, "prefix", string(got[:6]))
			var gotV, wantV any
			require.NoError(t, json.Unmarshal(got[6:], &gotV), "%s", got[6:])
			require.NoError(t, json.Unmarshal(jsonObject(tc.props), &wantV))
			require.Equal(t, wantV, gotV)
		})
	}
}

// TestEdgeReaderTouchesNoEdgeAfterStop: pgconn's CopyFrom can return (the
// connection broke mid-COPY) while its goroutine still calls Read; once
// copyIsolatingAt has called stop, the caller may reuse the edges. A
// reader goroutine that keeps reading, as pgconn's does, while the edges
// are rewritten after stop, gets errCopyEnded and nothing else; under
// -race a Read that still encoded the edges is a reported race (the long
// fault test saw it: TestLongTelemetryWriterUnderEveryFault).
func TestEdgeReaderTouchesNoEdgeAfterStop(t *testing.T) {
	t.Parallel()
	edges := make([]graph.TelemetryEdge, 5000)
	for i := range edges {
		edges[i] = graph.TelemetryEdge{Relation: "wrote", AgentID: "agent-" + strconv.Itoa(i),
			ObservedAt: time.Unix(int64(i), 0), Props: map[string]any{"pid": float64(i)}}
	}
	r := &edgeReader{edges: edges}
	buf := make([]byte, 64)
	n, err := r.Read(buf)
	require.NoError(t, err)
	require.Positive(t, n)

	r.stop()
	reads := make(chan error, 1)
	go func() {
		for {
			if n, err := r.Read(buf); err != nil || n == 0 {
				reads <- err
				return
			}
		}
	}()
	for i := range edges { // the caller's next group in the same memory
		edges[i].AgentID = "next-" + strconv.Itoa(i)
		edges[i].Props["pid"] = float64(-i)
	}
	require.ErrorIs(t, <-reads, errCopyEnded)
	n, err = r.Read(buf)
	require.Zero(t, n)
	require.ErrorIs(t, err, errCopyEnded)
}

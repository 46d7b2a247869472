package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/store"
)

var quiet = slog.New(slog.DiscardHandler)

// captureWriter is a TelemetryWriter that keeps the edges it reads, in
// order, and drops the edges the store would.
type captureWriter struct {
	edges []graph.TelemetryEdge
	err   error // the error the sequence ended with
}

func (w *captureWriter) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	stats := store.TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	for e, err := range edges {
		if err != nil {
			w.err = err
			return stats, fmt.Errorf("read telemetry edge: %w", err)
		}
		if reason := e.InvalidReason(); reason != "" {
			stats.Dropped[reason]++
			continue
		}
		w.edges = append(w.edges, e)
		stats.Edges++
	}
	return stats, nil
}

// telemetryLines makes n lines, every seventh malformed, each valid one
// naming its index in its dst.
func telemetryLines(n int) (string, []string) {
	now := time.Now().UTC().Format(time.RFC3339)
	var in strings.Builder
	var want []string
	for i := range n {
		switch {
		case i%7 == 3:
			fmt.Fprintf(&in, `{"src": broken %d`+"\n", i)
		case i%11 == 5:
			in.WriteString("\n")
		default:
			dst := fmt.Sprintf("url:http://x.example/%d", i)
			fmt.Fprintf(&in, `{"src":{"kind":"file","name":"f%d.exe","hashes":{"SHA-256":"%064x"}},"relation":"r","dst":%q,"agent_id":"a","observed_at":%q}`+"\n",
				i%13, i%13, dst, now)
			want = append(want, "http://x.example/"+fmt.Sprint(i))
		}
	}
	return in.String(), want
}

// TestLoadKeepsOrderWhateverTheWorkers: the edges reach the writer in
// input order, the same with 1, 2 and 8 workers, and so does the report.
func TestLoadKeepsOrderWhateverTheWorkers(t *testing.T) {
	t.Parallel()
	in, want := telemetryLines(5000)
	var first *engine.Report
	for _, workers := range []int{1, 2, 8} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			w := &captureWriter{}
			rep, err := telemetry.Load(context.Background(), strings.NewReader(in), w, engine.Options{Feed: "edr", Workers: workers, Logger: quiet})
			require.NoError(t, err)
			got := make([]string, len(w.edges))
			for i, e := range w.edges {
				got[i] = e.Dst.Key
				require.Len(t, e.Implied.Nodes, 1, "the file's hash")
				require.Equal(t, []string{"edr"}, e.Src.Sources)
			}
			require.Equal(t, want, got)
			require.EqualValues(t, 5000, rep.RecordsRead, "every line")
			require.EqualValues(t, len(want), rep.RecordsMapped)
			require.EqualValues(t, len(want), rep.Telemetry.Edges)
			require.EqualValues(t, len(in), rep.Bytes)
			require.Equal(t, telemetry.Format, rep.Format)
			rep.Duration, rep.Telemetry.Duration = 0, 0
			if first == nil {
				first = rep
			} else {
				require.Equal(t, first, rep)
			}
		})
	}
}

// TestLoadLineTooLargeNotBuffered: a line over the limit is dropped as
// engine.ReasonTooLarge, the lines around it load, and the offsets and
// line numbers stay right.
func TestLoadLineTooLargeNotBuffered(t *testing.T) {
	t.Parallel()
	in, want := telemetryLines(20)
	long := `{"src":"url:http://a/` + strings.Repeat("a", 200<<10) + `"}` + "\n"
	w := &captureWriter{}
	// A reader returning half the bytes asked for makes the line span many reads.
	rep, err := telemetry.Load(context.Background(), iotest.HalfReader(strings.NewReader(long+in+long)), w,
		engine.Options{MaxRecordBytes: 4096, Workers: 3, Logger: quiet})
	require.NoError(t, err)
	require.EqualValues(t, 2, rep.Dropped[engine.ReasonTooLarge])
	require.EqualValues(t, 22, rep.RecordsRead)
	require.Len(t, w.edges, len(want))
	require.EqualValues(t, 2*len(long)+len(in), rep.Bytes)
}

// TestLoadReadError: a read error ends the writer's sequence with the
// error, after the edges before it, and the load returns it as an
// *engine.OffsetError at the bytes read.
func TestLoadReadError(t *testing.T) {
	t.Parallel()
	in, want := telemetryLines(10)
	boom := errors.New("disk on fire")
	r := iotest.DataErrReader(strings.NewReader(in))
	w := &captureWriter{}
	rep, err := telemetry.Load(context.Background(), readerThenErr{r, boom}, w, engine.Options{Feed: "edr", Logger: quiet})
	require.ErrorIs(t, err, boom)
	require.ErrorIs(t, err, engine.ErrRead)
	var oe *engine.OffsetError
	require.ErrorAs(t, err, &oe)
	require.EqualValues(t, len(in), oe.Offset)
	require.Equal(t, "edr", oe.Feed)
	require.EqualValues(t, 11, oe.Line)
	require.ErrorIs(t, w.err, boom, "the sequence ends with the error")
	require.Len(t, w.edges, len(want))
	require.NotEmpty(t, rep.Error)
}

// readerThenErr reads r, then fails with err instead of io.EOF.
type readerThenErr struct {
	r   interface{ Read([]byte) (int, error) }
	err error
}

func (r readerThenErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil {
		return n, r.err
	}
	return n, nil
}

// TestLoadCountsWriterDrops: the edges the writer drops are counted in the
// report's Dropped with the lines the loader dropped, under one type.
func TestLoadCountsWriterDrops(t *testing.T) {
	t.Parallel()
	bad := `{"src":"url:http://a","relation":"x","dst":{"kind":"file","name":"a.exe","hashes":{"SHA-256":""}},"agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}` + "\n"
	w := writerDropping{reason: graph.ReasonInvalidImplied}
	rep, err := telemetry.Load(context.Background(), strings.NewReader(bad+"[1]\n"), w, engine.Options{Logger: quiet})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{graph.ReasonInvalidImplied: 1, engine.ReasonNotObject: 1}, rep.Dropped)
	require.Equal(t, map[graph.DropReason]int64{graph.ReasonInvalidImplied: 1}, rep.Telemetry.Dropped)
}

// writerDropping drops every edge under reason.
type writerDropping struct{ reason graph.DropReason }

func (w writerDropping) AppendTelemetry(_ context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	stats := store.TelemetryStats{Dropped: map[graph.DropReason]int64{}}
	for _, err := range edges {
		if err != nil {
			return stats, err
		}
		stats.Dropped[w.reason]++
	}
	return stats, nil
}

// TestLoadWriterStopsEarly: a writer that stops reading the sequence (a
// chunk failed) still has a live context to finish the chunks before, and
// the load returns its error.
func TestLoadWriterStopsEarly(t *testing.T) {
	t.Parallel()
	in, _ := telemetryLines(3000)
	w := &stoppingWriter{after: 100}
	rep, err := telemetry.Load(context.Background(), strings.NewReader(in), w, engine.Options{Workers: 4, Logger: quiet})
	require.ErrorIs(t, err, errChunk)
	require.NoError(t, w.ctxErr, "the writer's context outlives the sequence")
	require.EqualValues(t, 100, rep.Telemetry.Edges)
}

var errChunk = errors.New("chunk failed")

// stoppingWriter stops reading after some edges and fails.
type stoppingWriter struct {
	after  int64
	ctxErr error
}

func (w *stoppingWriter) AppendTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	var stats store.TelemetryStats
	for _, err := range edges {
		if err != nil {
			return stats, err
		}
		if stats.Edges == w.after {
			break
		}
		stats.Edges++
	}
	w.ctxErr = ctx.Err()
	return stats, errChunk
}

// checkedWriter is a captureWriter that also takes edges already checked,
// and says which way it was handed them.
type checkedWriter struct {
	captureWriter
	checked bool
}

func (w *checkedWriter) AppendCheckedTelemetry(ctx context.Context, edges iter.Seq2[graph.TelemetryEdge, error]) (store.TelemetryStats, error) {
	w.checked = true
	return w.AppendTelemetry(ctx, edges)
}

// TestLoadHandsCheckedEdgesToAWriterThatTakesThem: a writer with
// AppendCheckedTelemetry (as store.Store) gets the edges through it, and
// an edge store.CheckEdge refuses (a NUL in its agent id) never reaches
// it: the load dropped and counted it, so the writer need not check again.
func TestLoadHandsCheckedEdgesToAWriterThatTakesThem(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Format(time.RFC3339)
	in := `{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"` + now + `"}` + "\n" +
		`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a\u0000","observed_at":"` + now + `"}` + "\n"
	w := &checkedWriter{}
	rep, err := telemetry.Load(context.Background(), strings.NewReader(in), w, engine.Options{Logger: quiet})
	require.NoError(t, err)
	require.True(t, w.checked)
	require.Len(t, w.edges, 1)
	require.Equal(t, map[engine.Reason]int64{store.ReasonInvalidText: 1}, rep.Dropped)
}

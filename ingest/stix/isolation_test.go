package stix

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// TestTenBrokenAmongTenThousand loads a bundle of 10,000 good objects with
// 10 broken ones (valid JSON, invalid STIX) among them: the 10,000 load and
// the 10 are reported, each with its reason, record index, byte offset and
// id.
func TestTenBrokenAmongTenThousand(t *testing.T) {
	t.Parallel()
	gen := newGenerator(10_010, 0)
	gen.brokenEvery = 1001
	feed, err := io.ReadAll(gen)
	require.NoError(t, err)
	require.Len(t, gen.broken, 10)

	log, logs := newCapture()
	rep, err := Load(context.Background(), bytes.NewReader(feed), &engine.DrySink{}, Options{Feed: "ten-broken", Logger: log})
	require.NoError(t, err)
	require.EqualValues(t, 10_010, rep.RecordsRead)
	require.EqualValues(t, 10_000, rep.RecordsMapped)
	require.EqualValues(t, 10, rep.DroppedTotal())
	want := map[engine.Reason]int64{}
	for _, r := range brokenReasons {
		want[r]++
	}
	require.Equal(t, want, rep.Dropped)

	var dropped []logRecord
	for _, l := range logs() {
		if l.msg == "record dropped" {
			dropped = append(dropped, l)
		}
	}
	require.Len(t, dropped, 10)
	for k, l := range dropped {
		index := int64(k+1)*1001 - 1
		require.Equal(t, "ten-broken", l.attrs["feed"])
		require.Equal(t, index, l.attrs["record"])
		require.Equal(t, brokenReasons[k], l.attrs["reason"])
		require.Equal(t, gen.broken[k], l.attrs["id"])
		require.NotEmpty(t, l.attrs["detail"])
		// The offset points at the broken object in the feed.
		off := l.attrs["offset"].(int64)
		obj, _ := brokenObject(k, index)
		require.Equal(t, obj, string(feed[off:off+int64(len(obj))]))
	}
}

// TestTruncatedFeedKeepsWhatCameBefore cuts a generated feed in the middle
// of an object: the load returns an *engine.OffsetError naming the offset, and
// every object before the cut is written.
func TestTruncatedFeedKeepsWhatCameBefore(t *testing.T) {
	t.Parallel()
	feed, err := io.ReadAll(newGenerator(2000, 0))
	require.NoError(t, err)
	// Cut inside object 1500.
	cut := bytes.Index(feed, []byte("indicator--"+uid('i', 1504))) + 5
	require.Greater(t, cut, 5)

	sink := &recordingSink{}
	rep, err := Load(context.Background(), bytes.NewReader(feed[:cut]), sink, Options{Feed: "cut", Logger: quietLogger, Workers: 2, BatchSize: 64})
	var oe *engine.OffsetError
	require.ErrorAs(t, err, &oe)
	require.ErrorIs(t, err, engine.ErrSyntax)
	require.Equal(t, "cut", oe.Feed)
	require.EqualValues(t, cut, oe.Offset, "the feed ends inside a string")
	require.EqualValues(t, 1504, oe.Records)
	require.EqualValues(t, 1504, rep.RecordsRead)
	require.EqualValues(t, 1504, rep.RecordsMapped)
	require.Contains(t, rep.Error, "at byte ")
	aliases := sink.byAlias()
	require.Contains(t, aliases, "indicator--"+uid('i', 1496), "the last indicator before the cut was written")
	require.NotContains(t, aliases, "indicator--"+uid('i', 1504))
}

// TestRecordsLargerThanTheLimitAreSkipped loads a feed with one huge record
// under a small limit: it is reported and the rest loads.
func TestRecordsLargerThanTheLimitAreSkipped(t *testing.T) {
	t.Parallel()
	big := `{"type":"malware","id":"` + idMalwareA + `","name":"big","description":"` + string(bytes.Repeat([]byte("x"), 100_000)) + `"}`
	feed := bundle(`{"type":"identity","id":"`+idIdentity+`","name":"before"}`, big, `{"type":"malware","id":"`+idMalwareB+`","name":"after"}`)
	sink := &recordingSink{}
	log, logs := newCapture()
	rep, err := Load(context.Background(), bytes.NewReader([]byte(feed)), sink, Options{Logger: log, MaxRecordBytes: 10_000})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 1}, rep.Dropped)
	require.Contains(t, sink.byAlias(), idIdentity)
	require.Contains(t, sink.byAlias(), idMalwareB)
	require.NotContains(t, sink.byAlias(), idMalwareA)
	require.Equal(t, []string{"drop too-large " + idMalwareA}, problemsFrom(logs()))
}

func TestLoadReportsProgressAndBytes(t *testing.T) {
	t.Parallel()
	feed, err := io.ReadAll(newGenerator(5000, 0))
	require.NoError(t, err)
	var calls int
	var lastBytes, lastRecords int64
	rep, err := Load(context.Background(), bytes.NewReader(feed), &engine.DrySink{}, Options{
		Logger: quietLogger,
		Progress: func(b, r int64) {
			require.GreaterOrEqual(t, b, lastBytes)
			require.GreaterOrEqual(t, r, lastRecords)
			calls++
			lastBytes, lastRecords = b, r
		},
	})
	require.NoError(t, err)
	require.Greater(t, calls, 2)
	require.EqualValues(t, len(feed), lastBytes)
	require.EqualValues(t, 5000, lastRecords)
	require.EqualValues(t, len(feed), rep.Bytes)
	require.Positive(t, rep.MBPerSecond())
	require.EqualValues(t, 5000/8, rep.Sightings)
}

func TestLoadStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Load(ctx, newGenerator(0, 1<<30), &engine.DrySink{}, Options{Logger: quietLogger})
	require.ErrorIs(t, err, context.Canceled)
}

// failingSink fails its second write.
type failingSink struct{ writes int }

func (f *failingSink) Write(context.Context, graph.Batch) (graph.WriteStats, error) {
	f.writes++
	if f.writes == 2 {
		return graph.WriteStats{}, io.ErrClosedPipe
	}
	return graph.WriteStats{}, nil
}

func TestLoadStopsAtSinkError(t *testing.T) {
	t.Parallel()
	rep, err := Load(context.Background(), newGenerator(0, 1<<30), &failingSink{}, Options{Logger: quietLogger, BatchSize: 100})
	require.ErrorIs(t, err, io.ErrClosedPipe)
	require.Contains(t, rep.Error, "closed pipe")
}

func TestByteOrderMark(t *testing.T) {
	t.Parallel()
	feed := "\xEF\xBB\xBF" + bundle(`{"type":"identity","id":"`+idIdentity+`","name":"x"}`)
	sink, rep, _ := load(t, feed)
	require.Contains(t, sink.byAlias(), idIdentity)
	require.EqualValues(t, len(feed), rep.Bytes)
}

package stix

import (
	"bytes"
	"context"
	"fmt"
	"io"
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

func malwareID(i int) string { return fmt.Sprintf("malware--00000000-0000-4000-8000-%012d", i) }

// malware is a malware object, with extra members.
func malware(i int, extra ...string) string {
	s := `{"type":"malware","id":"` + malwareID(i) + `","name":"m` + fmt.Sprint(i) + `","is_family":true`
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// requireLoaded requires the malware i of ids in the sink, and no other.
func requireLoaded(t *testing.T, sink *recordingSink, ids ...int) {
	t.Helper()
	var want, got []string
	for _, i := range ids {
		want = append(want, malwareID(i))
	}
	for alias := range sink.byAlias() {
		if strings.HasPrefix(alias, "malware--") {
			got = append(got, alias)
		}
	}
	require.ElementsMatch(t, want, got)
}

// TestHostileWhiteSpace: 8 MiB of white space before the feed, between
// bundle members, between records and inside a record is skipped without
// being buffered, and every record loads.
func TestHostileWhiteSpace(t *testing.T) {
	ws := space(2 << 20)
	inside := malware(2)
	inside = "{" + ws + inside[1:]
	feed := ws + `{"type":"bundle",` + ws + `"id":"bundle--00000000-0000-4000-8000-000000000000","objects":[` +
		malware(1) + ws + "," + inside + "," + malware(3) + "]}"
	sink := &recordingSink{}
	var rep *engine.Report
	var err error
	alloc := allocated(func() {
		rep, err = Load(context.Background(), strings.NewReader(feed), sink, Options{Logger: quietLogger})
	})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 3, rep.RecordsMapped)
	require.EqualValues(t, len(feed), rep.Bytes)
	requireLoaded(t, sink, 1, 2, 3)
	t.Logf("allocated %d bytes", alloc)
	require.Less(t, alloc, uint64(4<<20), "allocated %d bytes reading 8 MiB of white space", alloc)
}

// TestHostileWhiteSpaceNDJSON: blank lines are skipped without being
// buffered, and the offsets and line numbers of what follows are the
// feed's.
func TestHostileWhiteSpaceNDJSON(t *testing.T) {
	t.Parallel()
	ws := space(1 << 20)
	bad := `{"type":"malware", broken`
	feed := malware(1) + "\n" + ws + malware(2) + "\n" + ws + "\n" + bad + "\n" + ws + malware(3) + "\n"
	rd := newReader(strings.NewReader(feed), engine.DefaultMaxRecordBytes)
	var got []string
	for {
		rec, err := rd.next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if rec.drop != nil {
			got = append(got, "drop "+string(rec.drop.reason))
			require.Equal(t, bad, feed[rec.offset:rec.offset+rec.size])
			require.EqualValues(t, strings.Count(feed[:rec.offset], "\n")+1, rec.line)
			continue
		}
		require.Equal(t, string(rec.raw), feed[rec.offset:rec.offset+rec.size], "the record's offset is the feed's")
		got = append(got, "ok "+string(rec.raw))
	}
	require.Equal(t, []string{"ok " + malware(1), "ok " + malware(2), "drop invalid-json", "ok " + malware(3)}, got)
}

// TestHostileLongString: with the record limit at 1 MiB, a record with a
// 3 MiB description and a 3 MiB bundle property are dropped as too large
// without being buffered whole, and the records around them load.
func TestHostileLongString(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	feed := `{"type":"bundle","x_big":"` + long + `","objects":[` + malware(1) + "," + malware(2, `"description":"`+long+`"`) + "," + malware(3) + "]}"
	sink := &recordingSink{}
	var rep *engine.Report
	var err error
	alloc := allocated(func() {
		rep, err = Load(context.Background(), bytes.NewReader([]byte(feed)), sink, Options{Logger: quietLogger, MaxRecordBytes: 1 << 20})
	})
	require.NoError(t, err)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 2}, rep.Dropped)
	requireLoaded(t, sink, 1, 3)
	t.Logf("allocated %d bytes", alloc) // the bound is TestLongHostileInputRSS's
}

// TestHostileDeepRecord: a record nested 100,000 deep (valid JSON) is
// dropped alone as too deep, in a bundle, a bare array and NDJSON, and so
// is a bundle property nested as deep; the records after it load.
func TestHostileDeepRecord(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000)
	deepObj := strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000)
	for name, tt := range map[string]struct {
		feed    string
		dropped int64
	}{
		"bundle": {`{"type":"bundle","x_pre":` + deepObj + `,"objects":[` + malware(1) + "," + malware(2, `"x_deep":`+deep) + "," + deep + "," + malware(4) +
			`],"x_post":` + deep + "}", 4},
		"array":  {"[" + malware(1) + "," + malware(2, `"x_deep":`+deepObj) + "," + deep + "," + malware(4) + "]", 2},
		"ndjson": {malware(1) + "\n" + malware(2, `"x_deep":`+deep) + "\n" + deep + "\n" + malware(4) + "\n", 2},
		"bare":   {malware(2, `"x_deep":`+deep), 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sink := &recordingSink{}
			rep, err := Load(context.Background(), strings.NewReader(tt.feed), sink, Options{Logger: quietLogger})
			require.NoError(t, err)
			require.Equal(t, map[engine.Reason]int64{engine.ReasonTooDeep: tt.dropped}, rep.Dropped)
			if name == "bare" {
				requireLoaded(t, sink)
				return
			}
			requireLoaded(t, sink, 1, 4)
		})
	}
}

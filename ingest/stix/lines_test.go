package stix

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// readLines runs the reader over input, whole and one byte at a time, and
// returns what it found as "ok <raw>" and "drop <reason> line <n>" (the
// same either way) and the final error.
func readLines(t *testing.T, input string, max int64) ([]string, error) {
	t.Helper()
	var outs [2][]string
	var errs [2]error
	for i, r := range []io.Reader{strings.NewReader(input), iotest.OneByteReader(strings.NewReader(input))} {
		rd := newReader(r, max)
		for {
			rec, err := rd.next()
			if err != nil {
				if err != io.EOF {
					errs[i] = err
				} else {
					require.Equal(t, int64(len(input)), rd.src.pos, "the whole feed is read")
				}
				break
			}
			if rec.drop != nil {
				outs[i] = append(outs[i], fmt.Sprintf("drop %s line %d", rec.drop.reason, rec.line))
				if rec.line > 0 {
					// The record covers the line, without its newline.
					line := input[rec.offset : rec.offset+rec.size]
					require.NotContains(t, line, "\n")
					require.Equal(t, int(rec.line), strings.Count(input[:rec.offset], "\n")+1)
				}
				continue
			}
			outs[i] = append(outs[i], "ok "+string(rec.raw))
		}
	}
	require.Equal(t, outs[0], outs[1], "one byte at a time")
	require.Equal(t, fmt.Sprint(errs[0]), fmt.Sprint(errs[1]), "one byte at a time")
	return outs[0], errs[0]
}

func TestReaderNDJSONSkipsBadLines(t *testing.T) {
	t.Parallel()
	a := `{"type":"a","id":"a--1"}`
	b := `{"type":"b","id":"b--2"}`
	c := `{"type":"c","id":"c--3"}`
	bad := func(line int) string { return fmt.Sprintf("drop %s line %d", engine.ReasonInvalidJSON, line) }
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"truncated in a string", a + "\n" + `{"type":"b","id":"b--` + "\n" + c + "\n", []string{"ok " + a, bad(2), "ok " + c}},
		{"truncated after a comma", a + "\n" + `{"type":"b",` + "\n" + c + "\n", []string{"ok " + a, bad(2), "ok " + c}},
		{"truncated after a colon", a + "\n" + `{"type":"b","x":` + "\n" + b + "\n" + c, []string{"ok " + a, bad(2), "ok " + b, "ok " + c}},
		{"truncated in an array", a + "\n" + `{"type":"b","x":[1,` + "\n" + b + "\n" + c, []string{"ok " + a, bad(2), "ok " + b, "ok " + c}},
		{"garbage", a + "\nnot json at all\n" + b + "\n", []string{"ok " + a, bad(2), "ok " + b}},
		{"garbage starting like a literal", a + "\nnope\n" + b + "\n", []string{"ok " + a, bad(2), "ok " + b}},
		{"stray text after a value", a + "\n" + b + " trailing words\n" + c + "\n", []string{"ok " + a, "ok " + b, bad(2), "ok " + c}},
		{"stray closing brackets", a + "\n]}\n" + b + "\n", []string{"ok " + a, bad(2), "ok " + b}},
		{"unterminated string", a + "\n" + `{"type":"b","name":"abc` + "\n" + c + "\n", []string{"ok " + a, bad(2), "ok " + c}},
		{"invalid UTF-8 outside a string", a + "\n\xff\xfe\xfd\n" + c + "\n", []string{"ok " + a, bad(2), "ok " + c}},
		{"invalid UTF-8 inside a string loads", a + "\n" + `{"type":"b","name":"` + "\xff" + `"}` + "\n", []string{"ok " + a, "ok " + `{"type":"b","name":"` + "\xff" + `"}`}},
		{"bad last line without newline", a + "\n" + b + "\n" + `{"type":"c","id":"c--`, []string{"ok " + a, "ok " + b, bad(3)}},
		{"bad last line with newline", a + "\n" + `{"type":"c"` + "\n", []string{"ok " + a, bad(2)}},
		{"blank lines and CRLF", a + "\r\n\r\n\n" + `{"type":` + "\r\n  \n" + b + "\r\n", []string{"ok " + a, bad(4), "ok " + b}},
		{"several bad lines in a row", a + "\n{\"x\n]\n\"\n" + b, []string{"ok " + a, bad(2), bad(3), bad(4), "ok " + b}},
		{"truncated bundle line", a + "\n" + `{"type":"bundle","objects":[` + b + `,{"type":"c"` + "\n" + c + "\n",
			[]string{"ok " + a, "ok " + b, bad(2), "ok " + c}},
		{"bundle lines", `{"type":"bundle","objects":[` + a + "]}\n" + `{"type":"bundle","objects":[` + b + "]\n" + `{"type":"bundle","objects":[` + c + "]}\n",
			[]string{"ok " + a, "ok " + b, bad(2), "ok " + c}},
		{"bare array lines", `[` + a + "]\n[" + b + ",\n[" + c + "]\n", []string{"ok " + a, "ok " + b, bad(2), "ok " + c}},
		{"pretty-printed object after lines", a + "\n{\n  \"type\": \"b\",\n  \"id\": \"b--2\"\n}\n" + c + "\n",
			[]string{"ok " + a, "ok " + b, "ok " + c}},
		{"pretty-printed bundle after lines", a + "\n[\n  " + b + ",\n  " + c + "\n]\n", []string{"ok " + a, "ok " + b, "ok " + c}},
		{"lines again after a pretty-printed object", "{\n \"type\": \"a\", \"id\": \"a--1\"}\n" + b + "\n{\"type\n" + c + "\n",
			[]string{"ok " + a, "ok " + b, bad(4), "ok " + c}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readLines(t, tt.input, engine.DefaultMaxRecordBytes)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestReaderNDJSONLongBadLine skips bad lines longer than the record limit
// without buffering them.
func TestReaderNDJSONLongBadLine(t *testing.T) {
	t.Parallel()
	a := `{"type":"a","id":"a--1"}`
	c := `{"type":"c","id":"c--3"}`
	long := strings.Repeat("y", 50_000)
	for name, line := range map[string]string{
		"unterminated string": `{"type":"b","x":"` + long,
		"garbage":             "garbage " + long,
		"unterminated member": `{"type":"b","x":[` + strings.Repeat(`"y",`, 10_000),
		"bundle element":      `{"type":"bundle","objects":[{"type":"b","x":"` + long,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := readLines(t, a+"\n"+line+"\n"+c+"\n", 1000)
			require.NoError(t, err)
			require.Equal(t, []string{"ok " + a, fmt.Sprintf("drop %s line 2", engine.ReasonInvalidJSON), "ok " + c}, got)
		})
	}
	// A valid line larger than the limit is still too large, not invalid.
	got, err := readLines(t, a+"\n"+`{"type":"b","x":"`+long+`"}`+"\n"+c+"\n", 1000)
	require.NoError(t, err)
	require.Equal(t, []string{"ok " + a, "drop " + string(engine.ReasonTooLarge) + " line 0", "ok " + c}, got)
}

// TestReaderDocumentSyntaxErrorsStop checks that a syntax error in a single
// document, or in the first line of a feed, still stops the feed.
func TestReaderDocumentSyntaxErrorsStop(t *testing.T) {
	t.Parallel()
	a := `{"type":"a","id":"a--1"}`
	b := `{"type":"b","id":"b--2"}`
	tests := []struct {
		name    string
		input   string
		at      string // the error is at the first occurrence
		records []string
	}{
		{"one-line bundle", `{"type":"bundle","objects":[` + a + `,{"type":"b",}]}` + "\n", "}]}", []string{"ok " + a}},
		{"one-line bundle cut", `{"type":"bundle","objects":[` + a + `,{"type":"b"`, "", []string{"ok " + a}},
		{"pretty-printed bundle", "{\"type\": \"bundle\",\n \"objects\": [\n  " + a + ",\n  " + b + "\n  x\n]}\n", "x", []string{"ok " + a, "ok " + b}},
		{"pretty-printed array cut", "[\n" + a + ",\n" + b + "\n\n", "", []string{"ok " + a, "ok " + b}},
		{"bad first line", `{"type":"a","id":"a--` + "\n" + b + "\n", "\n", nil},
		{"pretty-printed after lines", a + "\n{\n  \"type\": \"b\",\n  x\n}\n", "x", []string{"ok " + a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readLines(t, tt.input, engine.DefaultMaxRecordBytes)
			require.ErrorIs(t, err, engine.ErrSyntax)
			var oe *engine.OffsetError
			require.True(t, errors.As(err, &oe))
			offset := int64(len(tt.input))
			if tt.at != "" {
				offset = int64(strings.Index(tt.input, tt.at))
			}
			require.Equal(t, offset, oe.Offset, "%v", err)
			require.Equal(t, tt.records, got)
		})
	}
}

// ndjsonFeed is an OpenCTI-style NDJSON export with three broken lines in
// the middle: a truncated object, garbage and an unterminated string. Its
// valid lines hold the objects of ndjsonIDs.
var ndjsonFeed = strings.Join([]string{
	`{"type":"identity","spec_version":"2.1","id":"` + idIdentity + `","name":"ACME CERT","identity_class":"organization"}`,
	`{"type":"malware","spec_version":"2.1","id":"` + idMalwareA + `","name":"Emotet","is_family":true,"created_by_ref":"` + idIdentity + `"}`,
	`{"type":"indicator","spec_version":"2.1","id":"` + idIndicator + `","pattern":"[ipv4-addr:value = '198.51.100.7']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`,
	`{"type":"malware","spec_version":"2.1","id":"malware--99999999-9999-4999-8999-99999999999`,
	`<html><body>502 Bad Gateway</body></html>`,
	`{"type":"note","spec_version":"2.1","id":"note--88888888-8888-4888-8888-888888888888","content":"unterminated`,
	`{"type":"malware","spec_version":"2.1","id":"` + idMalwareB + `","name":"TrickBot","is_family":true}`,
	`{"type":"relationship","spec_version":"2.1","id":"` + idRel + `","relationship_type":"drops","source_ref":"` + idMalwareA + `","target_ref":"` + idMalwareB + `"}`,
	bundle(`{"type":"report","spec_version":"2.1","id":"` + idReport + `","name":"Q1","published":"2024-04-01T00:00:00Z","object_refs":["` + idMalwareA + `"]}`),
}, "\n") + "\n"

// ndjsonBadLines are the 1-based numbers of the broken lines of ndjsonFeed.
var ndjsonBadLines = []int64{4, 5, 6}

// ndjsonIDs are the ids of the objects of ndjsonFeed's valid lines, but
// for the relationship.
var ndjsonIDs = []string{idIdentity, idMalwareA, idIndicator, idMalwareB, idReport}

// lineStart returns the byte offset of 1-based line n of s.
func lineStart(s string, n int64) int64 {
	off := 0
	for ; n > 1; n-- {
		off += strings.IndexByte(s[off:], '\n') + 1
	}
	return int64(off)
}

// TestLoadNDJSONSkipsBadLines loads an NDJSON feed with broken lines: every
// valid line loads, and each broken line is counted under
// engine.ReasonInvalidJSON and logged at WARN with its line number and offset.
func TestLoadNDJSONSkipsBadLines(t *testing.T) {
	t.Parallel()
	sink := &recordingSink{}
	log, logs := newCapture()
	rep, err := Load(context.Background(), strings.NewReader(ndjsonFeed), sink, Options{Feed: "ndjson", Logger: log, Workers: 2, BatchSize: 3})
	require.NoError(t, err)
	require.Empty(t, rep.Error)
	require.EqualValues(t, 9, rep.RecordsRead, "8 lines and the report of the bundle line")
	require.EqualValues(t, 6, rep.RecordsMapped)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonInvalidJSON: 3}, rep.Dropped)
	require.EqualValues(t, len(ndjsonFeed), rep.Bytes)
	aliases := sink.byAlias()
	for _, id := range ndjsonIDs {
		require.Contains(t, aliases, id)
	}
	var drops []string
	for _, r := range sink.relations {
		if r.Type == "drops" {
			drops = append(drops, string(r.Src)+" "+string(r.Dst))
		}
	}
	require.Equal(t, []string{idMalwareA + " " + idMalwareB}, drops)

	var lines []int64
	for _, l := range logs() {
		if l.msg != "record dropped" {
			continue
		}
		require.Equal(t, slog.LevelWarn, l.level)
		require.Equal(t, "ndjson", l.attrs["feed"])
		require.Equal(t, engine.ReasonInvalidJSON, l.attrs["reason"])
		line := l.attrs["line"].(int64)
		require.Equal(t, lineStart(ndjsonFeed, line), l.attrs["offset"], "the offset is the start of the line")
		require.Contains(t, l.attrs["detail"], fmt.Sprintf("line %d:", line))
		lines = append(lines, line)
	}
	require.Equal(t, ndjsonBadLines, lines)
}

// TestLoadNDJSONBadLastLine ends an NDJSON feed with a truncated line and no
// newline: the line is counted, and the load ends without an error.
func TestLoadNDJSONBadLastLine(t *testing.T) {
	t.Parallel()
	for name, feed := range map[string]string{
		"after LF":   ndjsonFeed + `{"type":"malware","spec_version":"2.1","id":"malware--7777`,
		"after CRLF": strings.ReplaceAll(ndjsonFeed, "\n", "\r\n") + `{"type":"malware","name":"x`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sink := &recordingSink{}
			log, logs := newCapture()
			rep, err := Load(context.Background(), strings.NewReader(feed), sink, Options{Feed: "last", Logger: log, Workers: 2})
			require.NoError(t, err)
			require.EqualValues(t, 10, rep.RecordsRead)
			require.EqualValues(t, 6, rep.RecordsMapped)
			require.Equal(t, map[engine.Reason]int64{engine.ReasonInvalidJSON: 4}, rep.Dropped)
			require.EqualValues(t, len(feed), rep.Bytes)
			for _, id := range ndjsonIDs {
				require.Contains(t, sink.byAlias(), id)
			}
			var lines []int64
			for _, l := range logs() {
				if l.msg == "record dropped" {
					lines = append(lines, l.attrs["line"].(int64))
				}
			}
			require.Equal(t, append(append([]int64(nil), ndjsonBadLines...), 10), lines)
		})
	}
}

// TestLoadDocumentSyntaxErrorStops checks that a syntax error inside a
// single bundle, on one line or pretty-printed, still stops the load with
// an *engine.OffsetError after loading what came before it.
func TestLoadDocumentSyntaxErrorStops(t *testing.T) {
	t.Parallel()
	before := `{"type":"malware","id":"` + idMalwareA + `","name":"Emotet"}`
	after := `{"type":"malware","id":"` + idMalwareB + `","name":"TrickBot"}`
	for name, feed := range map[string]string{
		"one line":        bundle(before, `{"type":"note","content":"x" "y"}`, after) + "\n" + after + "\n",
		"pretty-printed":  "{\n  \"type\": \"bundle\",\n  \"objects\": [\n    " + before + ",\n    {\"type\": \"note\",}\n,\n    " + after + "\n  ]\n}\n",
		"cut on one line": bundle(before, after)[:len(bundle(before))-2],
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sink := &recordingSink{}
			rep, err := Load(context.Background(), strings.NewReader(feed), sink, Options{Feed: "doc", Logger: quietLogger})
			var oe *engine.OffsetError
			require.ErrorAs(t, err, &oe)
			require.ErrorIs(t, err, engine.ErrSyntax)
			require.EqualValues(t, 1, rep.RecordsRead)
			require.Empty(t, rep.Dropped)
			require.Contains(t, sink.byAlias(), idMalwareA)
			require.NotContains(t, sink.byAlias(), idMalwareB)
		})
	}
}

// TestNDJSONBadLinesIntoStore loads ndjsonFeed into the real graph Store:
// the objects of every valid line are in the database, those of the broken
// lines are not.
func TestNDJSONBadLinesIntoStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	store := store.NewStore(pool, store.WithLogger(quietLogger))
	rep, err := Load(ctx, strings.NewReader(ndjsonFeed), store, Options{Feed: "ndjson", Logger: quietLogger, Workers: 2, BatchSize: 2})
	require.NoError(t, err)
	require.EqualValues(t, 6, rep.RecordsMapped)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonInvalidJSON: 3}, rep.Dropped)

	var n int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM node_aliases WHERE source_id = ANY($1)", ndjsonIDs).Scan(&n))
	require.Equal(t, len(ndjsonIDs), n)
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM node_aliases WHERE source_id LIKE 'note--%'").Scan(&n))
	require.Zero(t, n, "the note of the unterminated line is not loaded")
	require.NoError(t, pool.QueryRow(ctx, `
		SELECT count(*) FROM relations
		WHERE src_id = resolve_ref($1) AND relation = 'drops' AND dst_id = resolve_ref($2)`, idMalwareA, idMalwareB).Scan(&n))
	require.Equal(t, 1, n, "the relationship after the broken lines is loaded")
}

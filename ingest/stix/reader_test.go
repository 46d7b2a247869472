package stix

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/stretchr/testify/require"
)

// readAll runs the reader over input and returns its records and final
// error (nil at a clean end).
func readAll(t *testing.T, input string, max int64) ([]record, error) {
	t.Helper()
	rd := newReader(strings.NewReader(input), max)
	var recs []record
	for {
		rec, err := rd.next()
		if err == io.EOF {
			return recs, nil
		}
		if err != nil {
			return recs, err
		}
		recs = append(recs, rec)
	}
}

func TestReaderFormats(t *testing.T) {
	t.Parallel()
	a := `{"type":"malware","id":"malware--1"}`
	b := `{"id":"ipv4-addr--2","value":"1.2.3.4","type":"ipv4-addr"}`
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"bundle objects last", `{"type":"bundle","id":"bundle--x","objects":[` + a + `,` + b + `]}`, []string{a, b}},
		{"bundle objects first", `{"objects":[` + a + `, ` + b + ` ],"type":"bundle","id":"bundle--x","spec_version":"2.0"}`, []string{a, b}},
		{"empty bundle", `{"type":"bundle","id":"bundle--x","objects":[]}`, nil},
		{"bundle without objects", `{"type":"bundle","id":"bundle--x"}`, nil},
		{"bare array", "[\n" + a + ",\n" + b + "\n]\n", []string{a, b}},
		{"single object", "\n  " + a + "\n\n", []string{a}},
		{"ndjson", a + "\n" + b + "\n", []string{a, b}},
		{"ndjson of bundles", `{"type":"bundle","objects":[` + a + "]}\n" + `{"type":"bundle","objects":[` + b + "]}\n", []string{a, b}},
		{"object with objects after type", `{"type":"x-custom","id":"x-custom--1","objects":[{"a":1}]}`,
			[]string{`{"type":"x-custom","id":"x-custom--1","objects":[{"a":1}]}`}},
		{"bundle with two objects arrays", `{"type":"bundle","objects":[` + a + `],"id":"bundle--x","objects":[` + b + `]}`, []string{a, b}},
		{"empty input", "", nil},
		{"white space only", " \n\t ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := readAll(t, tt.input, engine.DefaultMaxRecordBytes)
			require.NoError(t, err)
			var got []string
			for i, r := range recs {
				require.Nil(t, r.drop)
				require.Equal(t, int64(i), r.index)
				got = append(got, string(r.raw))
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestReaderOffsets(t *testing.T) {
	t.Parallel()
	input := "{\"type\": \"bundle\",\n \"objects\": [\n  {\"type\": \"a\", \"id\": \"a--1\"},\n  {\"type\": \"b\", \"id\": \"b--2\", \"x\": [1,2,{\"y\":\"}\"}]}\n ]}"
	recs, err := readAll(t, input, engine.DefaultMaxRecordBytes)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	for _, r := range recs {
		require.Equal(t, string(r.raw), input[r.offset:r.offset+r.size])
	}

	// A bare object is re-serialized from its members; its offset and size
	// still cover the original text.
	input = "\n\n  {\"type\" : \"a\",\n \"id\": \"a--1\"}  "
	recs, err = readAll(t, input, engine.DefaultMaxRecordBytes)
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, int64(4), recs[0].offset)
	require.Equal(t, strings.TrimSpace(input), input[recs[0].offset:recs[0].offset+recs[0].size])
	require.JSONEq(t, strings.TrimSpace(input), string(recs[0].raw))
}

func TestReaderDropsNonObjects(t *testing.T) {
	t.Parallel()
	recs, err := readAll(t, `{"type":"bundle","objects":[1,{"type":"a","id":"a--1"},"s",null,[]]}`, engine.DefaultMaxRecordBytes)
	require.NoError(t, err)
	require.Len(t, recs, 5)
	for i, r := range recs {
		if i == 1 {
			require.Nil(t, r.drop)
			continue
		}
		require.NotNil(t, r.drop)
		require.Equal(t, engine.ReasonNotObject, r.drop.reason)
	}
}

func TestReaderSkipsTooLargeRecords(t *testing.T) {
	t.Parallel()
	small := `{"type":"a","id":"a--1"}`
	big := `{"type":"b","id":"b--2","x":"` + strings.Repeat("y", 5000) + `","z":[{"q":"]}"}]}`
	after := `{"type":"c","id":"c--3"}`
	tests := []struct {
		name  string
		input string
	}{
		{"bundle", `{"type":"bundle","objects":[` + small + `,` + big + `,` + after + `],"id":"bundle--1"}`},
		{"bundle big first", `{"objects":[` + big + `,` + small + `,` + after + `]}`},
		{"array", `[` + small + ", \n" + big + "\n," + after + `]`},
		{"ndjson", small + "\n" + big + "\n" + after + "\n"},
		{"big bundle member", `{"type":"bundle","x_big":"` + strings.Repeat("z", 9000) + `","objects":[` + small + `,` + big + `,` + after + `]}`},
		{"big bundle member, two objects arrays", `{"type":"bundle","x_big":"` + strings.Repeat("z", 9000) + `","objects":[` + small + `,` + big + `],"objects":[` + after + `]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, chunked := range []bool{false, true} {
				var rd *reader
				if chunked {
					rd = newReader(iotest.OneByteReader(strings.NewReader(tt.input)), 1000)
				} else {
					rd = newReader(strings.NewReader(tt.input), 1000)
				}
				var recs []record
				for {
					rec, err := rd.next()
					if err == io.EOF {
						break
					}
					require.NoError(t, err)
					recs = append(recs, rec)
				}
				var ok, dropped []string
				bigMembers := 0
				for _, r := range recs {
					if r.drop != nil {
						require.Equal(t, engine.ReasonTooLarge, r.drop.reason)
						if r.id == "" { // the bundle's x_big, counted too
							require.Equal(t, `"`+strings.Repeat("z", 9000)+`"`, tt.input[r.offset:r.offset+r.size])
							bigMembers++
							continue
						}
						require.Equal(t, big, tt.input[r.offset:r.offset+r.size])
						dropped = append(dropped, r.id)
						continue
					}
					require.Equal(t, string(r.raw), tt.input[r.offset:r.offset+r.size])
					ok = append(ok, string(r.raw))
				}
				require.Equal(t, []string{small, after}, ok)
				require.Equal(t, []string{"b--2"}, dropped)
				if strings.Contains(tt.input, "x_big") {
					require.Equal(t, 1, bigMembers, "the big bundle member counted once")
				}
				require.Equal(t, int64(len(tt.input)), rd.src.pos)
			}
		})
	}
}

func TestReaderTooLargeBareObject(t *testing.T) {
	t.Parallel()
	big := `{"type":"b","id":"b--2","x":"` + strings.Repeat("y", 600) + `","w":"` + strings.Repeat("y", 600) + `"}`
	after := `{"type":"c","id":"c--3"}`
	recs, err := readAll(t, big+"\n"+after, 1000)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, engine.ReasonTooLarge, recs[0].drop.reason)
	require.Equal(t, int64(len(big)), recs[0].size)
	require.Equal(t, after, string(recs[1].raw))
}

func TestReaderSyntaxErrors(t *testing.T) {
	t.Parallel()
	good := `{"type":"a","id":"a--1"}`
	tests := []struct {
		name    string
		input   string
		offset  int64
		records int
	}{
		{"angle brackets", `<{"type":"a"}>`, 0, 0},
		{"trailing comma", `{"type":"a",}`, 11, 0},
		{"truncated bundle", `{"type":"bundle","objects":[` + good + `,{"type":"b","id`, 28 + int64(len(good)) + 1 + 15, 1},
		{"truncated after element", `{"type":"bundle","objects":[` + good, 28 + int64(len(good)), 1},
		{"garbage between elements", `[` + good + ` x ` + good + `]`, 1 + int64(len(good)) + 1, 1},
		{"truncated inside too-large record", `[` + good + `,{"type":"b","x":"` + strings.Repeat("y", 3000), 1 + int64(len(good)) + 1 + 17 + 3000, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := readAll(t, tt.input, 1000)
			require.Error(t, err)
			require.ErrorIs(t, err, engine.ErrSyntax)
			var oe *engine.OffsetError
			require.True(t, errors.As(err, &oe))
			require.Equal(t, tt.offset, oe.Offset, "%v", err)
			require.Len(t, recs, tt.records)
		})
	}
}

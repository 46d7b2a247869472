package ingest

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestSniff: format detection by content survives byte order marks, long
// white space, bare events and any key order (issue 13, row 5).
func TestSniff(t *testing.T) {
	t.Parallel()
	const ev = `{"uuid": "5e8f0f4a-1111-4c1a-9a2b-000000000001", "info": "x", "Attribute": []}`
	ws := strings.Repeat(" \n\t", 4000) // 12 KB
	big := `"x_big": "` + strings.Repeat("a", 200<<10) + `", `
	cases := []struct {
		name, doc, want string
	}{
		{"misp wrapped", `{"Event": ` + ev + `}`, FormatMISP},
		{"misp with a BOM", "\ufeff" + `{"Event": ` + ev + `}`, FormatMISP},
		{"misp after 12 KB of white space", ws + `{"Event": ` + ev + `}`, FormatMISP},
		{"misp bare event, uuid and info first", ev, FormatMISP},
		{"misp bare event, Attribute first", `{"Attribute": [], "uuid": "u"}`, FormatMISP},
		{"misp response not first", `{"version": "2.4", "response": [{"Event": ` + ev + `}]}`, FormatMISP},
		{"misp array of events", "[\n" + `{"Event": ` + ev + `}]`, FormatMISP},
		{"misp big member first", `{` + big + `"Event": ` + ev + `}`, FormatMISP},
		{"misp galaxy cluster file", `{"authors": ["a"], "type": "ransomware", "uuid": "u", "values": []}`, FormatMISP},
		{"stix bundle", `{"type": "bundle", "id": "bundle--1", "objects": []}`, FormatSTIX},
		{"stix bundle, objects first", `{"objects": [], "type": "bundle"}`, FormatSTIX},
		{"stix bundle with a BOM and white space", "\ufeff" + ws + `{"id": "bundle--1", "type": "bundle"}`, FormatSTIX},
		{"stix array", `[{"type": "indicator", "spec_version": "2.1", "id": "indicator--1"}]`, FormatSTIX},
		{"stix object with a uuid-ish member", `{"id": "malware--5e8f0f4a-1111-4c1a-9a2b-000000000001", "info": "x", "uuid": "y"}`, FormatSTIX},
		{"stix ndjson", `{"type": "malware", "id": "malware--1"}` + "\n" + `{"type": "tool"}`, FormatSTIX},
		{"empty", ``, FormatSTIX},
		{"garbage", `not json`, FormatSTIX},
		{"truncated misp", `{"uuid": "u", "info": `, FormatMISP},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, sniff([]byte(c.doc)))
		})
	}
	t.Run("reads at most sniffLimit bytes", func(t *testing.T) {
		t.Parallel()
		// The deciding key lies past the limit: undecided, STIX.
		doc := strings.Repeat(" ", sniffLimit) + `{"Event": {}}`
		require.Equal(t, FormatSTIX, sniff([]byte(doc)))
	})
}

// TestCapError: stored error text stays under MaxErrorText with a count of
// what was cut (issue 13, row 12).
func TestCapError(t *testing.T) {
	t.Parallel()
	require.Equal(t, "short", CapError("short"))
	var lines []string
	for i := range 100_000 {
		lines = append(lines, "load event "+strings.Repeat("x", 36)+".json: no such file "+string(rune('a'+i%26)))
	}
	got := CapError(strings.Join(lines, "\n"))
	require.LessOrEqual(t, len(got), MaxErrorText)
	require.True(t, strings.HasPrefix(got, lines[0]+"\n"+lines[1]))
	kept := strings.Count(got, "\n")
	require.True(t, strings.HasSuffix(got, "… ("+strconv.Itoa(100_000-kept)+" more lines)"), got[len(got)-40:])

	one := strings.Repeat("é", 10_000) // 20,000 bytes, one line
	got = CapError(one)
	require.LessOrEqual(t, len(got), MaxErrorText)
	require.Regexp(t, `^(é)+… \(\d+ more bytes\)$`, got)
}

// slowReader is a bufio-like Peek over data that fails the test when asked
// for more than it has: a stream that has sent only data so far.
type slowReader struct {
	t    *testing.T
	data []byte
}

func (r slowReader) Peek(n int) ([]byte, error) {
	if n > len(r.data) {
		r.t.Fatalf("waited for %d bytes of a stream that sent %d", n, len(r.data))
	}
	return r.data[:n], nil
}

// TestSniffReaderDoesNotWait: a head that decides early is not held up
// waiting for a full MiB of a slow stream (standard input).
func TestSniffReaderDoesNotWait(t *testing.T) {
	t.Parallel()
	doc := `{"response": [` + strings.Repeat(`{"Event": {"info": "x"}},`, 500) // 12 KB sent so far
	require.Equal(t, FormatMISP, sniffReader(slowReader{t, []byte(doc)}))
	doc = strings.Repeat(" ", 10<<10) + `{"type": "bundle", "objects": [` + strings.Repeat(" ", 60<<10)
	require.Equal(t, FormatSTIX, sniffReader(slowReader{t, []byte(doc)}))
}

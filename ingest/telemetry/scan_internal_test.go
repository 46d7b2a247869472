package telemetry

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/go-json-experiment/json"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/store"
)

// scanSeeds are lines of the usual shape and lines just outside it: each
// must parse to the same edge, drop reason and error by scanLine as by
// encoding/json alone.
var scanSeeds = []string{
	`{"src":{"kind":"process","key":"host-1:1000","name":"proc-1.exe"},"relation":"wrote","dst":{"kind":"file","name":"bin-1.exe","hashes":{"SHA-256":"05afccddd908d59461c9d19753b734c22fbe5983920c9b82560bc2c586692e58"}},"agent_id":"host-1","observed_at":"2026-11-27T00:00:03.268924Z","props":{"pid":1000}}` + "\n",
	`{"src":"ipv4-addr:10.0.0.1","relation":"connected-to","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	` { "src" : "ipv4-addr:10.0.0.1" , "relation" : "X" , "dst" : {"kind":"domain-name","value":"Evil.Example."} , "agent_id" : "a" , "observed_at" : "2026-01-01T00:00:00.5Z" , "props" : { } } ` + "\r\n",
	`{"props":{"s":"v","n":-1.5e3,"t":true,"f":false,"z":null,"zero":0},"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{}`, `{"src":"ipv4-addr:10.0.0.1"}`, `[]`, `"x"`, `{"src":`, `{"src":"a"`, `{"src":"ipv4-addr:10.0.0.1",}`, `{,}`, ``, `{"src":"a"} x`,
	// What the database would refuse: NUL and invalid UTF-8 in an
	// endpoint, in the edge's own fields and props; a time outside
	// timestamptz's range. The edge's check must give store.CheckEdge's
	// answer whether its endpoints come from the memo or not.
	`{"src":{"kind":"process","key":"h\u0000:1"},"relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":{"kind":"process","key":"h:1","name":"n\u0000"},"relation":"x","dst":{"kind":"file","name":"f` + "\xff" + `"},"agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":"process:h` + "\xff" + `1","relation":"x","dst":{"kind":"file","name":"f","hashes":{"SHA-256":"05afccddd908d59461c9d19753b734c22fbe5983920c9b82560bc2c586692e58"}},"agent_id":"a\u0000","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":"process:h1","relation":"x\u0000","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z","props":{"k":"v"}}`,
	`{"src":"process:h1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z","props":{"k\u0000":"v"}}`,
	`{"src":{"kind":"x-thing","key":"k","tlp":"red","labels":["a\u0000"]},"relation":"x","dst":"process:p","agent_id":"a","observed_at":"9999-12-31T23:59:59Z"}`,
	// Outside the shape: names in another case, repeated, unknown;
	// escapes; invalid UTF-8; nesting in props; null; other types.
	`{"SRC":"ipv4-addr:10.0.0.1","Relation":"X","dst":"ipv4-addr:10.0.0.2","Agent_ID":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","relation":"y","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a` + "\xff" + `","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x\u0041","dst":"ipv4-addr:10.0.0.2","agent_id":"a\"b","observed_at":"2026-01-01T00:00:00Z","extra":1}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z","props":{"a":{"b":[1,2]},"a":2}}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z","props":{"n":1e999,"m":01,"o":-}}`,
	`{"src":null,"relation":null,"dst":5,"agent_id":["a"],"observed_at":"2026-01-01T00:00:00Z","props":null}`,
	`{"src":{"kind":"process","key":"h:1"},"relation":"x","dst":{"kind":"process","key":"h:2",},"agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":{"kind":"process","key":"h:1"}},"relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":{"kind":"process","key":"h\"}:1"},"relation":"x","dst":"nokind","agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	`{"src":{"kind":"process","key":"h:1","key":"h:2"},"relation":"x","dst":{"kind":"x"},"agent_id":"a","observed_at":"2026-01-01T00:00:00Z"}`,
	// Times: the forms parseTime takes and those it leaves to time.Parse.
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-02-30T00:00:00Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T24:00:00Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T10:00:00+02:00"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T10:00:00.1234567891Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01t10:00:00,5z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"0001-01-01T00:00:00Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2024-02-29T23:59:59.999999999Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"2026-01-01T00:00:00.Z"}`,
	`{"src":"ipv4-addr:10.0.0.1","relation":"x","dst":"ipv4-addr:10.0.0.2","agent_id":"a","observed_at":"+026-01-01T00:00:00Z"}`,
}

// agree checks that line parses alike through scanLine and through
// encoding/json alone, each with a memo of its own, twice (the second
// time from the memo), and that the edge's check, which may rely on the
// memo's check of its endpoints, gives store.CheckEdge's answer.
func agree(t *testing.T, line []byte) {
	fastMemo, slowMemo := newEndpointMemo(), newEndpointMemo()
	for range 2 {
		fast, fastChecked, fastReason, fastErr := parseLineWith(line, "edr", fastMemo, true)
		slow, slowChecked, slowReason, slowErr := parseLineWith(line, "edr", slowMemo, false)
		require.Equal(t, slowReason, fastReason, "%q", line)
		require.Equal(t, fmt.Sprint(slowErr), fmt.Sprint(fastErr), "%q", line)
		require.Equal(t, slow, fast, "%q", line)
		require.Equal(t, slowChecked, fastChecked, "%q", line)
		if fastReason == "" {
			reason, err := checkEdge(&fast, fastChecked)
			wantReason, wantErr := store.CheckEdge(&fast)
			require.Equal(t, wantReason, reason, "%q", line)
			require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(err), "%q", line)
		}
	}
}

// TestScanLineAgreesWithJSON: every seed parses alike both ways, and the
// usual shape does take the fast path.
func TestScanLineAgreesWithJSON(t *testing.T) {
	t.Parallel()
	for _, s := range scanSeeds {
		agree(t, []byte(s))
	}
	var l line
	require.True(t, scanLine([]byte(scanSeeds[0]), &l, nil))
	require.True(t, scanLine([]byte(scanSeeds[2]), &l, nil))
	require.True(t, scanLine([]byte(scanSeeds[3]), &l, nil))
	require.Equal(t, map[string]any{"s": "v", "n": -1500.0, "t": true, "f": false, "z": nil, "zero": 0.0}, l.Props)
	require.False(t, scanLine([]byte(scanSeeds[len(scanSeeds)-16]), &line{}, nil), "names in another case")
}

// TestParseTimeAgreesWithTimeParse: parseTime gives time.Parse's answer
// for every text it takes.
func TestParseTimeAgreesWithTimeParse(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"2026-01-01T00:00:00Z", "2026-12-31T23:59:59.999999999Z", "2024-02-29T12:00:00.5Z", "2026-02-29T12:00:00Z",
		"2026-04-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T00:60:00Z", "2026-01-01T00:00:60Z", "0000-01-01T00:00:00Z",
		"2026-01-01T00:00:00.000001Z", "2026-01-01T00:00:00.1234567890Z", "2026-01-01T00:00:00.Z", "2026-01-01 00:00:00Z", "2026-1-01T00:00:00Z"} {
		want, err := time.Parse(time.RFC3339Nano, v)
		got, ok := parseTime(v)
		if ok {
			require.NoError(t, err, v)
			require.Equal(t, want, got, v)
		}
	}
	_, ok := parseTime("2026-11-27T00:00:03.268924Z")
	require.True(t, ok)
}

// FuzzScanLineAgreesWithJSON: any line parses alike through scanLine and
// through encoding/json alone.
func FuzzScanLineAgreesWithJSON(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) { agree(t, line) })
}

// TestSmallIntegerAgreesWithParseFloat: the integers smallInteger takes
// have strconv.ParseFloat's value (-0 included), and it leaves every
// other number to ParseFloat.
func TestSmallIntegerAgreesWithParseFloat(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"0", "-0", "7", "-12", "1000", "999999999999999", "-999999999999999", "9007199254740993",
		"1234567890123456", "1.5", "1e3", "-", "", "01"} {
		got, ok := smallInteger([]byte(v))
		want, err := strconv.ParseFloat(v, 64)
		if ok {
			require.NoError(t, err, v)
			require.Equal(t, math.Float64bits(want), math.Float64bits(got), v)
		}
		require.Equal(t, len(strings.TrimPrefix(v, "-")) <= 15 && strings.Trim(strings.TrimPrefix(v, "-"), "0123456789") == "" && strings.TrimPrefix(v, "-") != "", ok, v)
	}
}

// TestTextSetCopiesOnce: a textSet gives one copy of a text however often
// it comes, never the caller's bytes, and starts again when full.
func TestTextSetCopiesOnce(t *testing.T) {
	t.Parallel()
	var set textSet
	b := []byte("host-1")
	first, second := set.text(b), set.text([]byte("host-1"))
	require.Equal(t, "host-1", first)
	require.Same(t, unsafe.StringData(first), unsafe.StringData(second), "one copy")
	b[0] = 'X'
	require.Equal(t, "host-1", first, "not the caller's bytes")
	for i := range textSetMax {
		set.text([]byte(strconv.Itoa(i)))
	}
	require.LessOrEqual(t, len(set.m), textSetMax)
	require.Equal(t, "y", (*textSet)(nil).text([]byte("y")))
}

// endpointSeeds are endpoint texts of the usual shapes and just outside
// them, for FuzzFlatEndpointAgreesWithJSON.
var endpointSeeds = []string{
	`{"kind":"process","key":"host-1:1000","name":"proc-1.exe"}`,
	` { "kind" : "ipv4-addr" , "value" : "10.0.0.1" } `,
	`{"kind":"process","key":"h:1","pid":1000,"x":-1.5e3,"t":true,"f":false,"z":null}`,
	`{"kind":"process","key":"h:1","key":"h:2"}`,
	`{"kind":"file","name":"a.exe","hashes":{"SHA-256":"05afccddd908d59461c9d19753b734c22fbe5983920c9b82560bc2c586692e58"}}`,
	`{"kind":"process","key":"h\u0000:1"}`, `{"kind":"process","key":"h\"1"}`, `{"kind":"process","key":"h` + "\xff" + `1"}`,
	`{"kind":"process","key":"h:1",}`, `{"kind":"process","key":"h:1"}}`, `{"kind":"process"} x`, `{}`, `{"n":01}`, `{"n":1e999}`,
	`{"labels":["a"]}`, `"process:h1"`, `null`, ``,
}

// FuzzFlatEndpointAgreesWithJSON: an endpoint text flatEndpoint reads is
// one json.Unmarshal decodes to the same map.
func FuzzFlatEndpointAgreesWithJSON(f *testing.F) {
	for _, s := range endpointSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := flatEndpoint(raw)
		if !ok {
			return
		}
		want := map[string]any{}
		require.NoError(t, json.Unmarshal(raw, &want, decodeOptions), "%q", raw)
		require.Equal(t, want, got, "%q", raw)
	})
}

// TestFlatEndpointTakesTheUsualShapes: the flat endpoints of the seeds take
// the fast path, and every seed agrees with json.Unmarshal.
func TestFlatEndpointTakesTheUsualShapes(t *testing.T) {
	t.Parallel()
	for _, s := range endpointSeeds {
		got, ok := flatEndpoint([]byte(s))
		if !ok {
			continue
		}
		want := map[string]any{}
		require.NoError(t, json.Unmarshal([]byte(s), &want, decodeOptions), s)
		require.Equal(t, want, got, s)
	}
	for _, s := range endpointSeeds[:3] {
		_, ok := flatEndpoint([]byte(s))
		require.True(t, ok, s)
	}
	_, ok := flatEndpoint([]byte(endpointSeeds[4]))
	require.False(t, ok, "nested hashes are json.Unmarshal's")
}

package jsonguard

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

func guarded(t *testing.T, in string, opts Options) (string, *Guard) {
	t.Helper()
	g := New(iotest.HalfReader(strings.NewReader(in)), opts)
	out, err := io.ReadAll(g)
	require.NoError(t, err)
	return string(out), g
}

func TestGuardPassesJSONUnchanged(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{"a":[1,2,{"b":"c\"d\\"}],"e":null,"f":true,"g":-1.5e+3}`,
		"[\n  {\"x\": \"\\u0041\"},\n  []\n]\n",
		`"s" 1 [] {}`,
	} {
		out, _ := guarded(t, in, Options{MaxDepth: 10, MaxToken: 100})
		require.Equal(t, in, out)
	}
}

func TestGuardSqueezesWhiteSpace(t *testing.T) {
	t.Parallel()
	sp := strings.Repeat(" ", 100)
	in := sp + `[1,` + sp + "\n" + sp + `{"a":` + sp + `"x` + sp + `"}]`
	out, g := guarded(t, in, Options{MaxSpace: 4})
	require.Equal(t, "    [1,    \n{\"a\":    \"x"+sp+`"}]`, out)
	// The '{' is at stream offset 14, feed offset 4+100+3+100+1+100 = 308.
	i := strings.Index(out, "{")
	require.EqualValues(t, strings.Index(in, "{"), g.FeedOffset(int64(i)))
	require.EqualValues(t, 0, g.NewlinesBefore(int64(i)))
	require.EqualValues(t, len(in), g.Consumed())
}

func TestGuardReplacesDeepValues(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", 50) + `"]]]"` + strings.Repeat("]", 50)
	in := `[{"a":1},{"b":` + deep + `},{"c":2}]`
	out, g := guarded(t, in, Options{MaxDepth: 5})
	require.Equal(t, `[{"a":1},{"b":[[[0]]]},{"c":2}]`, out)
	evs := g.Take(int64(len(out)))
	require.Len(t, evs, 1)
	require.Equal(t, TooDeep, evs[0].Kind)
	require.EqualValues(t, strings.Index(out, "0"), evs[0].Out)
	require.EqualValues(t, strings.Index(in, deep)+3, evs[0].Feed)
}

func TestGuardCutsArmedValues(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ rec, want string }{
		{`{"a":"` + strings.Repeat("x", 100) + `"}`, `{"a":"xxxxxxxxxxxx"}`},
		{`{"a":[` + strings.Repeat(`1,`, 50) + `1]}`, `{"a":[1,1,1,1,1,1,0]}`},
		{`{"abcdefghijklmnop":1}`, `{"abcdefghijkl":0}`},
		{`{"a":{"b":{"c":[1234567890123456789]}}}`, `{"a":{"b":{"c":[12345]}}}`},
		{`{"a":true,"b":false,"c":null,"d":1}`, `{"a":true,"b":false}`},
	} {
		g := New(iotest.OneByteReader(strings.NewReader(`[`+tt.rec+`,{"ok":1}]`)), Options{})
		var buf bytes.Buffer
		// Read '[' and arm the record, as a reader would once it saw '{'.
		p := make([]byte, 1)
		_, err := g.Read(p)
		require.NoError(t, err)
		buf.Write(p)
		_, err = g.Read(p) // the '{'
		require.NoError(t, err)
		buf.Write(p)
		g.Arm(1, 1, 15)
		rest, err := io.ReadAll(g)
		require.NoError(t, err)
		buf.Write(rest)
		require.True(t, json.Valid(buf.Bytes()), buf.String())
		evs := g.Take(1 << 20)
		if len(tt.rec) <= 15 {
			require.Empty(t, evs)
			continue
		}
		require.Len(t, evs, 1, tt.rec)
		require.Equal(t, TooLarge, evs[0].Kind)
		require.Equal(t, `{"ok":1}]`, buf.String()[len(buf.String())-9:])
	}
}

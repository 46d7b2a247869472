package stix

import (
	stdjson "encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeObjectAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{}`,
		` { "a" : 1 , "b":[ ], "c":{ } } `,
		`{"type":"x","id":"y","n":-1.5e3,"z":0,"t":true,"f":false,"nil":null,"tiny":1e-400}`,
		`{"s":"tab\there \"quoted\" back\\slash \/ \b\f\n\r \u00e9 \u2028 \ud83d\ude00"}`,
		`{"nested":[[1,[2,{"x":[3]}]],{"y":{"z":"deep"}}]}`,
		`{"dup":1,"dup":2}`,
		`{"unicode":"Heizölrückstoßabdämpfung","emoji":"😀"}`,
	} {
		got, err := decodeObject([]byte(in))
		require.NoError(t, err, in)
		var want map[string]any
		require.NoError(t, stdjson.Unmarshal([]byte(in), &want), in)
		require.Equal(t, want, got, in)
	}
}

func TestDecodeObjectRepairsText(t *testing.T) {
	t.Parallel()
	got, err := decodeObject([]byte("{\"bad\":\"a\xffb\",\"lone\":\"x\\ud800y\",\"nul\":\"a\\u0000b\",\"rawnul\":\"a\x00b\"}"))
	require.NoError(t, err)
	require.Equal(t, "aÿb", got["bad"], "a byte that is not UTF-8 read as Windows-1252")
	require.Equal(t, "x\uFFFDy", got["lone"])
	require.Equal(t, "a\uFFFDb", got["nul"], "PostgreSQL cannot store NUL")
	require.Equal(t, "a\uFFFDb", got["rawnul"])

	got, err = decodeObject([]byte(`{"huge":-1e400}`))
	require.NoError(t, err)
	require.Equal(t, "-1e400", got["huge"], "kept as text, not -Inf")
}

func TestDecodeObjectErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{``, `[]`, `"s"`, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":tru}`, `{"a":"x}`, `{"a":1} x`, `{"a":"\x"}`, `{"a":"\u12"}`, `{1:2}`, `{"a":[1,]}`, `{"a":-}`} {
		_, err := decodeObject([]byte(in))
		require.ErrorIs(t, err, errDecode, "%q", in)
	}
}

// FuzzDecodeObject checks decodeObject against encoding/json on every
// input encoding/json decodes into an object.
func FuzzDecodeObject(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,"x",{"b":null}]}`, `{"s":"\u00e9\ud83d\ude00\n"}`, `{"n":-0.5e-3}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := decodeObject(in)
		var want map[string]any
		if stdjson.Unmarshal(in, &want) != nil || want == nil {
			return // decodeObject may be more lenient; it must not panic
		}
		if !validUTF8JSON(in) {
			return // the two repair invalid text differently
		}
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

// validUTF8JSON reports whether in has no invalid UTF-8, NUL or lone
// surrogate escapes (where decodeObject deliberately differs).
func validUTF8JSON(in []byte) bool {
	s := string(in)
	return !strings.ContainsRune(s, '\uFFFD') && strings.ToValidUTF8(s, "") == s &&
		!strings.Contains(s, `\u0000`) && !strings.Contains(strings.ToLower(s), `\ud`)
}

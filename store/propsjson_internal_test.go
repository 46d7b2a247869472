package store

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// requireMarshalLike checks that appendMarshal writes v as json.Marshal
// does, and fails where json.Marshal fails.
func requireMarshalLike(t *testing.T, v any) {
	t.Helper()
	want, err := json.Marshal(v)
	got, ok := appendMarshal([]byte("prefix"), v)
	if err != nil {
		require.False(t, ok, "json.Marshal fails on %#v: %v", v, err)
		return
	}
	require.True(t, ok, "%#v", v)
	require.Equal(t, "prefix"+string(want), string(got), "%#v", v)
}

// TestAppendMarshalIsJSONMarshal: props are hashed into the stored ranks,
// so the bytes must be json.Marshal's for every value, the tricky ones
// (escapes, HTML characters, invalid UTF-8, U+2028, floats at the format
// boundaries, nil maps and slices, types decoded JSON never holds) and
// random nested ones.
func TestAppendMarshalIsJSONMarshal(t *testing.T) {
	t.Parallel()
	for _, v := range []any{
		nil, true, false, "", "plain", "quo\"te back\\slash", "new\nline\r\ttab", "\b\f\x00\x1f\x7f",
		"<script>&amp;</script>", "caf\u00e9 \u2028 \u2029 \U0001F600", "bad \xff\xfe utf8", "\xe2\x80",
		0.0, math.Copysign(0, -1), 1.0, -1.5, 1e-6, 9.99e-7, 1e20, 1e21, 123456789012345678.0, 0.1, 1.0 / 3, math.MaxFloat64,
		math.SmallestNonzeroFloat64, math.NaN(), math.Inf(1),
		map[string]any(nil), []any(nil), map[string]any{}, []any{},
		map[string]any{"b": 1.0, "a": []any{"x", nil, map[string]any{"z": false, "é": "<>"}}, "A": "", "\u2028": 2.0, "b\xff": 3.0},
		[]any{[]any{[]any{}}, map[string]any{"k": math.NaN()}},
		map[string]any{"typed": []string{"a", "<b>"}, "int": 42, "time": time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC), "raw": json.RawMessage(`{"x": 1}`)},
		map[string]any{"ch": make(chan int)},
	} {
		requireMarshalLike(t, v)
	}
	r := rand.New(rand.NewPCG(16, 24))
	for range 3000 {
		requireMarshalLike(t, randomJSONValue(r, 0))
	}
}

// randomJSONValue returns a random value of the kinds decoded JSON holds,
// nested up to 4 levels, with strings drawn from tricky pieces.
func randomJSONValue(r *rand.Rand, depth int) any {
	pieces := []string{"a", "Z9", " ", "\"", "\\", "\n", "\r", "\t", "\x01", "\x7f", "<", ">", "&", "é", "\u2028", "\xff", "😀", "--", "attack-pattern"}
	str := func() string {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(pieces[r.IntN(len(pieces))])
		}
		return b.String()
	}
	kinds := 8
	if depth >= 4 {
		kinds = 5
	}
	switch r.IntN(kinds) {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		return str()
	case 3:
		return math.Float64frombits(r.Uint64()) // any float, NaN and infinities included
	case 4:
		return float64(r.IntN(2000)-1000) * math.Pow(10, float64(r.IntN(50)-25))
	case 5, 6:
		m := map[string]any{}
		for range r.IntN(5) {
			m[str()] = randomJSONValue(r, depth+1)
		}
		return m
	default:
		l := []any{}
		for range r.IntN(5) {
			l = append(l, randomJSONValue(r, depth+1))
		}
		return l
	}
}

// FuzzAppendMarshal compares appendMarshal with json.Marshal on whatever
// encoding/json decodes from the input.
func FuzzAppendMarshal(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-7,"<&>"],"b":{"c":null}}`, `"\u2028\ud800"`, `[1e21, -0, 0.000001]`, `{"\u00e9":"\n"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		requireMarshalLike(t, v)
	})
}

package store

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestAppendJSONObjectMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		props map[string]any
	}{
		{"empty", nil},
		{"scalars", map[string]any{"pid": float64(4242), "big": 1e21, "neg": -0.5, "ok": true, "none": nil,
			"i": 7, "i64": int64(-9), "i32": int32(3), "u32": uint32(4), "u64": uint64(math.MaxUint64), "num": json.Number("12.5")}},
		{"strings", map[string]any{"quote\"key": `C:\Users\"x"`, "ctl": "a\x00b\nc\td\x1f", "utf8": "évil ✓ 🦠", "bad": "a\xffb\xc3"}},
		{"nested falls back", map[string]any{"args": []any{"-enc", "x"}, "env": map[string]any{"A": "1"}, "pid": 1}},
		{"NaN falls back", map[string]any{"x": "y", "nan": json.Number("not a number")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := appendJSONObject([]byte("prefix"), tc.props)
			require.Equal(t, "prefix", string(got[:6]))
			var gotV, wantV any
			require.NoError(t, json.Unmarshal(got[6:], &gotV), "%s", got[6:])
			require.NoError(t, json.Unmarshal(jsonObject(tc.props), &wantV))
			require.Equal(t, wantV, gotV)
		})
	}
}

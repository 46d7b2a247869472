package stixid_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/stixid"
)

// TestCanonical checks RFC 8785 serialisation on the cases the RFC and its
// test vectors make hard: key order by UTF-16 code units, shortest
// round-tripping numbers in ECMAScript form, minimal string escaping.
func TestCanonical(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"keys by UTF-16 code units", map[string]any{"\u20ac": 1, "\r": 2, "\U0001F600": 3, "\u00f6": 4, "1": 5},
			"{\"\\r\":2,\"1\":5,\"\u00f6\":4,\"\u20ac\":1,\"\U0001F600\":3}"},
		{"nested, no white space", map[string]any{"b": []any{true, nil, "x"}, "a": map[string]any{}},
			`{"a":{},"b":[true,null,"x"]}`},
		// RFC 8785 appendix B, by IEEE 754 bit pattern.
		{"numbers", []any{bits(0), bits(0x8000000000000000), bits(1), bits(0x8000000000000001),
			bits(0x7fefffffffffffff), bits(0x4340000000000000), bits(0x4430000000000000),
			bits(0x44b52d02c7e14af5), bits(0x3eb0c6f7a0b5ed8d), bits(0x3eb0c6f7a0b5ed8c), bits(0x41b3de4355555555)},
			`[0,0,5e-324,-5e-324,1.7976931348623157e+308,9007199254740992,295147905179352830000,` +
				`9.999999999999997e+22,0.000001,9.999999999999997e-7,333333333.3333333]`},
		{"json.Number", []any{json.Number("10.50"), json.Number("1E3")}, `[10.5,1000]`},
		{"escapes", "a\"b\\c\n\u0001\u2028<>&", "\"a\\\"b\\\\c\\n\\u0001\u2028<>&\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, string(stixid.Canonical(tc.in)))
		})
	}
	require.NotPanics(t, func() { stixid.Canonical(math.Inf(1)) }, "a non-finite number does not crash")
}

func bits(b uint64) float64 { return math.Float64frombits(b) }

// TestObservableID checks ids published in the shared corpus and the
// specification's rules: one hash by preference, unknown types without id.
func TestObservableID(t *testing.T) {
	t.Parallel()
	id, ok := stixid.ObservableID("ipv4-addr", map[string]any{"type": "ipv4-addr", "value": "198.49.123.10"})
	require.True(t, ok)
	require.Equal(t, "96d215a5-eb23-527a-ae22-9507313d32ca", id.String(), "as stix-elevator wrote it")
	require.Equal(t, "ipv4-addr--96d215a5-eb23-527a-ae22-9507313d32ca", stixid.STIXID("ipv4-addr", id))

	both, ok := stixid.ObservableID("file", map[string]any{"hashes": map[string]any{"SHA-256": "aa", "MD5": "bb"}})
	require.True(t, ok)
	md5, _ := stixid.ObservableID("file", map[string]any{"hashes": map[string]any{"MD5": "bb"}})
	require.Equal(t, md5, both, "MD5 is preferred when several hashes contribute")
	require.Equal(t, map[string]any{"hashes": map[string]any{"MD5": "bb"}},
		stixid.ContributingProperties("file", map[string]any{"hashes": map[string]any{"SHA-256": "aa", "MD5": "bb"}, "size": 3}))

	_, ok = stixid.ObservableID("process", map[string]any{"pid": 4})
	require.False(t, ok, "process has no ID-contributing properties")
	_, ok = stixid.ObservableID("domain-name", map[string]any{"resolves_to_refs": []any{}})
	require.False(t, ok, "an object without its contributing properties gets no id")
	require.True(t, stixid.HasDeterministicID("x509-certificate"))
	require.False(t, stixid.HasDeterministicID("x-custom"))
}

package stixid_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/stixid"
)

// TestCanonicalID: the UUID part of a STIX identifier is compared in lower
// case (RFC 4122); the type part is never folded, and one with an
// upper-case letter is no identifier.
func TestCanonicalID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"malware--abcdef00-0000-4000-8000-0000000002a2", "malware--abcdef00-0000-4000-8000-0000000002a2", true},
		{"malware--ABCDEF00-0000-4000-8000-0000000002A2", "malware--abcdef00-0000-4000-8000-0000000002a2", true},
		{"x-acme-thing--AbCdEf00-0000-4000-8000-0000000002a2", "x-acme-thing--abcdef00-0000-4000-8000-0000000002a2", true},
		{"MALWARE--ABCDEF00-0000-4000-8000-0000000002A2", "MALWARE--ABCDEF00-0000-4000-8000-0000000002A2", false},
		{"Malware--abcdef00-0000-4000-8000-0000000002a2", "Malware--abcdef00-0000-4000-8000-0000000002a2", false},
		{"malware--ABCDEF0000004000800000000000002A2", "malware--ABCDEF0000004000800000000000002A2", false},
		{"malware--{ABCDEF00-0000-4000-8000-0000000002A2}", "malware--{ABCDEF00-0000-4000-8000-0000000002A2}", false},
		{"--ABCDEF00-0000-4000-8000-0000000002A2", "--ABCDEF00-0000-4000-8000-0000000002A2", false},
		{"Example-1", "Example-1", false},
	} {
		got, ok := stixid.CanonicalID(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, tc.want, got, tc.in)
		again, _ := stixid.CanonicalID(got)
		require.Equal(t, got, again, "canonical is a fixed point: %s", tc.in)
	}
	u, ok := stixid.CanonicalUUID("ABCDEF00-0000-4000-8000-0000000002A2")
	require.True(t, ok)
	require.Equal(t, "abcdef00-0000-4000-8000-0000000002a2", u)
	_, ok = stixid.CanonicalUUID("not-a-uuid")
	require.False(t, ok)
}

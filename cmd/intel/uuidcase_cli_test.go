package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestShowIDInAnyCase: after loading testdata/adv/uuid-case.json (ids
// with upper-case UUIDs, references to them in lower case and back),
// intel show finds a node or a relationship by its id typed with the UUID
// in either case, and the relationship links its two ends.
func TestShowIDInAnyCase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	runOK(t, db, "ingest", "stix", testdata("adv/uuid-case.json"))
	for _, ref := range []string{"malware--ABCDEF00-0000-4000-8000-0000000002A2", "malware--abcdef00-0000-4000-8000-0000000002a2"} {
		out := runOK(t, db, "show", ref)
		require.Regexp(t, `(?m)^name: +Upper Mal$`, out, ref)
		require.Regexp(t, `(?m)^source id: +malware--abcdef00-0000-4000-8000-0000000002a2\b`, out, ref)
	}
	for _, ref := range []string{"relationship--ABCDEF00-0000-4000-8000-0000000002A4", "relationship--abcdef00-0000-4000-8000-0000000002a4"} {
		out := runOK(t, db, "show", ref)
		require.Regexp(t, `(?m)^source: +malware Upper Mal \[`, out, ref)
		require.Regexp(t, `(?m)^target: +tool Lower Tool \[`, out, ref)
	}
}

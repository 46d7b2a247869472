package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestShowSaysWhoMayKnowIt: show of a MISP event shared with a sharing
// group says so, with the group's name and releasability, and show of an
// attribute's own node (a to_ids domain's indicator) its own sharing
// group; an address whose attribute MISP does not correlate says that on
// no node (the address is everyone's; its event's link keeps it). Before,
// show said nothing of MISP's distribution: an event for CERT partners
// only read as any other.
func TestShowSaysWhoMayKnowIt(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "misp", testdata("misp/sharing_group_event.json"))

	out := runOK(t, db, "show", "misp--5c0e0000-0000-4000-8000-000000000001")
	require.Regexp(t, `(?m)^distribution: +sharing group "CERT partners" \(releasability: CERTs of the EU and their constituents\)$`, out)
	out = runOK(t, db, "show", "misp--5c0e0000-0000-4000-8000-000000000003")
	// Its own sharing group, within its event's (MISP shows it only to
	// whoever may see the event too).
	require.Regexp(t, `(?m)^distribution: +sharing group "Banking ISAC", within its event's: sharing group "CERT partners" \(releasability: CERTs of the EU and their constituents\)$`, out)
	out = runOK(t, db, "show", "url:https://c2.example.net/a")
	require.NotContains(t, out, "distribution:", "a value's node is every event's")
	out = runOK(t, db, "show", "ipv4-addr:198.51.100.77")
	require.NotContains(t, out, "distribution:")
	require.NotContains(t, out, "correlation:")
}

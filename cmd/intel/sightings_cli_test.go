package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestShowSaysHowManyTimesItWasSighted: show of something sighted says how
// many times, as its sightings count it (STIX count; a MISP sighting is one),
// in how many sightings and when, not only the number of sighting nodes
// linked to it. Before, an indicator a sighting of count 10 summarises showed
// "<-sighting-of- 1", the 10 only in the sighting's props, and a MISP domain
// sighted in 2019 said nothing of when.
func TestShowSaysHowManyTimesItWasSighted(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("order/stix/elevator/2.1-extensions_sighting.json"))
	runOK(t, db, "ingest", "misp", testdata("order/misp/pymisp/reportlab_sighting_1.json"))

	// One sighting summarising 10 (count 10).
	out := runOK(t, db, "show", "indicator--856bf7b8-00db-4aa9-9ee4-ce786fad6573")
	require.Regexp(t, `(?m)^sighted: +10 times in 1 sighting, 2020-03-12 \.\. 2020-03-12$`, out)
	// Two sightings of count 1, weeks apart.
	out = runOK(t, db, "show", "indicator--114cf2d4-0cc4-4eac-87b7-d8d0a822220b")
	require.Regexp(t, `(?m)^sighted: +2 times in 2 sightings, 2020-03-12 \.\. 2020-04-30$`, out)
	// Count 4 with the sighting's own first_seen and last_seen.
	out = runOK(t, db, "show", "indicator--34898bbd-d0a8-46c3-a1ca-bceb0029315c", "--format", "json")
	var d struct {
		Sighted *struct {
			Sightings int64  `json:"sightings"`
			Times     int64  `json:"times"`
			Uncounted int64  `json:"uncounted"`
			FirstSeen string `json:"first_seen"`
			LastSeen  string `json:"last_seen"`
		} `json:"sighted"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &d), out)
	require.NotNil(t, d.Sighted, out)
	require.Equal(t, int64(1), d.Sighted.Sightings)
	require.Equal(t, int64(4), d.Sighted.Times)
	require.Equal(t, int64(0), d.Sighted.Uncounted)
	require.Equal(t, "2020-02-28T10:49:11.51659Z", d.Sighted.FirstSeen)
	require.Equal(t, "2020-02-28T18:49:11.51659Z", d.Sighted.LastSeen)

	// A MISP sighting (type 0) is one sighting, when it was made, of its
	// attribute: a to_ids domain's indicator (misp--<attribute uuid>), as
	// misp-stix exports it; the attribute was seen in 2018.
	out = runOK(t, db, "show", "misp--5b6464ca-e73c-4707-9b8a-d0350acd0835")
	require.Regexp(t, `(?m)^seen: +2018-08-03 \.\. 2018-08-03$`, out)
	require.Regexp(t, `(?m)^sighted: +1 time in 1 sighting, 2019-02-27 \.\. 2019-02-27$`, out)
	// A false positive and an expiration are no sightings; nor is an
	// indicator nobody sighted.
	out = runOK(t, db, "show", "misp--5b6464ca-e0a0-40e0-8e21-d0350acd0835")
	require.NotContains(t, out, "sighted:")
	out = runOK(t, db, "show", "url:http://foo.bar/1234")
	require.NotContains(t, out, "sighted:")
	out = runOK(t, db, "show", "misp--5b6464ca-e0a0-40e0-8e21-d0350acd0835", "--format", "json")
	require.NotContains(t, out, `"sighted"`)
}

package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestRelatedExplainJSON loads one MISP event exported to STIX 2.0 and to
// STIX 2.1 (testdata/explain) as two feeds: related --explain names, under
// the indicator's based-on edge, both relationship ids and both feeds, in
// json ("stated_by") and in the table (a "stated by:" line); without
// --explain the answer has no stated_by; dot refuses it.
func TestRelatedExplainJSON(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("explain/test_event2_stix20.json"), "--feed", "event2-stix20")
	runOK(t, db, "ingest", "stix", testdata("explain/test_event2_stix21.json"), "--feed", "event2-stix21")
	const indicator = "indicator--726f90e2-2ad6-44a2-b345-c05e55e850e5"
	const id20, id21 = "relationship--2ec8b484-7f14-59a2-a7bc-419393273e6b", "relationship--f49962f9-8e91-4de2-bc0e-a4901460612f"

	plain := runOK(t, db, "related", indicator, "--depth", "1", "--format", "json")
	require.NotContains(t, plain, "stated_by", "no explanation unless asked")

	var nb graph.Neighbourhood
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", indicator, "--depth", "1", "--format", "json", "--explain")), &nb))
	var based *graph.Edge
	for i, e := range nb.Edges {
		require.NotEmpty(t, e.StatedBy, "every edge is explained: %+v", e)
		for _, s := range e.StatedBy {
			if e.Relation == "based-on" && e.Src == nb.Start && s.DstRef == "observed-data--726f90e2-2ad6-44a2-b345-c05e55e850e5" {
				based = &nb.Edges[i]
			}
		}
	}
	require.NotNil(t, based, "the indicator is based-on its observed-data")
	var ids, feeds []string
	for _, s := range based.StatedBy {
		ids = append(ids, s.IDs...)
		feeds = append(feeds, s.Feeds...)
	}
	slices.Sort(ids)
	slices.Sort(feeds)
	require.Equal(t, []string{id20, id21}, ids)
	require.Equal(t, []string{"event2-stix20", "event2-stix21"}, slices.Compact(feeds))
	require.Equal(t, based.Sources, slices.Compact(feeds), "the edge's sources are what its records say")

	table := runOK(t, db, "related", indicator, "--depth", "1", "--explain")
	var line string
	for l := range strings.Lines(table) {
		if strings.Contains(l, "stated by:") && strings.Contains(l, id20) {
			line = l
		}
	}
	require.NotEmpty(t, line, "a stated-by line names the STIX 2.0 relationship:\n%s", table)
	require.Contains(t, line, id21)
	require.Contains(t, line, "event2-stix20,event2-stix21")

	_, stderr, code := runCLI(t, db, "related", indicator, "--format", "dot", "--explain")
	require.Equal(t, exitUsage, code, stderr)
}

// TestExplainMarksALinkAsTheObjectStatingIt: a link an object states
// through its own properties is marked as that object is, in whichever
// format the object came: a MISP event tagged tlp:red states that
// 198.51.100.211 is in it, and its sighting that it was sighted, so
// --explain says TLP:RED for both, as it does for a STIX report's
// object_refs (whose links carry the report's marking). The address itself,
// which other events may share, stays unmarked (README, MISP). Before, the
// red event's links were explained with no TLP at all, as if shareable.
func TestExplainMarksALinkAsTheObjectStatingIt(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "misp", testdata("adv/adv3-misp-tlp-events.json"))
	out := runOK(t, db, "related", "ipv4-addr:198.51.100.211", "--depth", "1", "--explain")
	require.Contains(t, out, "stated by: misp--3b3f0000-0000-4000-8000-000000000001 (its own property; adv3-misp-tlp-events; TLP:RED)")
	require.Regexp(t, `stated by: node--[0-9a-f-]+ \(its own property; adv3-misp-tlp-events; TLP:RED\)`, out, "the red event's sighting")
	var nb graph.Neighbourhood
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", "ipv4-addr:198.51.100.211", "--depth", "1", "--explain", "--format", "json")), &nb))
	require.Len(t, nb.Edges, 2)
	for _, e := range nb.Edges {
		require.Len(t, e.StatedBy, 1)
		require.Equal(t, graph.TLPRed, e.StatedBy[0].TLP, "%+v", e)
	}
	require.NotContains(t, runOK(t, db, "show", "ipv4-addr:198.51.100.211"), "tlp:", "the shared observable is not the event's")

	// The green event's links are green; an attribute's own tlp:amber tag
	// marks its node, and the untagged event's links are unmarked.
	out = runOK(t, db, "related", "misp--3b3f0000-0000-4000-8000-000000000002", "--depth", "1", "--explain")
	require.NotContains(t, out, "TLP:RED")
	require.Contains(t, out, "(its own property; adv3-misp-tlp-events; TLP:GREEN)")
	out = runOK(t, db, "related", "misp--3b3f0000-0000-4000-8000-000000000003", "--depth", "1", "--explain")
	require.NotContains(t, out, "TLP:")
}

// TestRelatedExplainSaysWhatTheRecordSays: --explain gives, for each record
// behind an edge, what its source said about the link: ATT&CK's
// description of why Sandworm Team uses VPNFilter (testdata/excerpts), and
// an ESET MISP object reference's comment ("MachO indicators"), quoted in
// the table's stated-by line and whole under "props" in json. Before, the
// explanation named the record's ids, feeds and TLP but not its words.
func TestRelatedExplainSaysWhatTheRecordSays(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "ingest", "stix", testdata("excerpts/attack-ics-sandworm-vpnfilter.json"), "--feed", "ics-attack")
	runOK(t, db, "ingest", "misp", testdata("order/misp/eset/cloudmensis_cloudmensis.misp.json"), "--feed", "eset-cloudmensis")

	const sandworm = "intrusion-set--381fcf73-60f6-4ab2-9991-6af3cbc35192"
	table := runOK(t, db, "related", sandworm, "--depth", "1", "--explain")
	require.Contains(t, table, `"[VPNFilter](https://attack.mitre.org/software/S1010) is associated with [Sandworm Team]`,
		"the stated-by line quotes the relationship's description:\n%s", table)
	var nb graph.Neighbourhood
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", sandworm, "--depth", "1", "--format", "json", "--explain")), &nb))
	var said []string
	for _, e := range nb.Edges {
		for _, s := range e.StatedBy {
			if d, ok := s.Props["description"].(string); ok {
				said = append(said, d)
			}
		}
	}
	require.Len(t, said, 1, "%+v", nb.Edges)
	require.True(t, strings.HasSuffix(said[0], "(Citation: NCSC CISA Cyclops Blink Advisory February 2022)"), said[0])

	const fileObject = "misp--eb4fcd68-6d14-4d6c-bb26-5cf60436e25e"
	table = runOK(t, db, "related", fileObject, "--depth", "1", "--explain")
	var line string
	for l := range strings.Lines(table) {
		if strings.Contains(l, "stated by:") && strings.Contains(l, `"MachO indicators"`) {
			line = l
		}
	}
	require.NotEmpty(t, line, "the object reference's comment is quoted:\n%s", table)
}

package stix

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// loadProducerFile loads testdata/producers/<name> into a fresh database
// and returns the store, the report and the captured log.
func loadProducerFile(t *testing.T, name string) (*store.Store, *engine.Report, []logRecord) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "producers", name))
	require.NoError(t, err)
	return loadProducer(t, strings.TrimSuffix(name, ".json"), string(data))
}

// loadProducer loads data as the feed name into a fresh database.
func loadProducer(t *testing.T, name, data string) (*store.Store, *engine.Report, []logRecord) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	logger, logs := newCapture()
	rep, err := Load(ctx, strings.NewReader(data), st, Options{Feed: name, Logger: logger})
	require.NoError(t, err)
	_, err = st.ReleasePending(ctx)
	require.NoError(t, err)
	return st, rep, logs()
}

// TestOpenCTINegativeSightingIsFalsePositive: OpenCTI marks a false
// positive sighting "x_opencti_negative": true (its UI's "False positive"
// switch; the GreyNoise connector writes it for benign scanners), since 5.4
// as "negative" in its own extension. Such a sighting never saw the
// object: it links false-positive-of, as a MISP false-positive sighting
// does, and counts as no sighting. Before, both were sighting-of links and
// counted sightings, so a walk from the address showed it "seen".
func TestOpenCTINegativeSightingIsFalsePositive(t *testing.T) {
	t.Parallel()
	st, rep, _ := loadProducerFile(t, "opencti-export.json")
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 1, rep.Sightings, "only the positive sighting counts")
	pool := st.Pool()
	got, pending := graphRelations(t, pool)
	require.Zero(t, pending)
	var of []string
	for _, r := range got {
		if strings.HasPrefix(r, "sighting ") && !strings.Contains(r, "where-sighted") {
			of = append(of, r)
		}
	}
	require.ElementsMatch(t, []string{
		"sighting " + graph.RelFalsePositiveOf + " indicator 203.0.113.77", // negative in OpenCTI's extension
		"sighting " + graph.RelFalsePositiveOf + " ipv4-addr 203.0.113.77", // x_opencti_negative: true
		"sighting " + graph.RelSightingOf + " malware Cobalt Strike",       // negative false in both
	}, of)
}

// TestOpenCTIExportLoadsQuietly: OpenCTI writes its internal ids (bare
// UUIDs) beside the STIX ones, in x_opencti_source_ref,
// x_opencti_sighting_of_ref, x_opencti_where_sighted_refs and in its
// extension's source_ref, target_ref, sighting_of_ref. They are kept in
// props; before, each warned "reference is not a STIX identifier" (6
// lines for this file, 2 to 4 per relationship and sighting of an export).
// A reference that is not an identifier elsewhere still warns.
func TestOpenCTIExportLoadsQuietly(t *testing.T) {
	t.Parallel()
	st, rep, logs := loadProducerFile(t, "opencti-export.json")
	require.Empty(t, rep.Dropped)
	for _, l := range logs {
		require.NotContains(t, l.attrs["problem"], "not a STIX identifier", "%s %v", l.msg, l.attrs)
	}
	ctx := context.Background()
	var internal string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT props->>'x_opencti_source_ref' FROM relations WHERE relation = 'indicates'`).Scan(&internal))
	require.Equal(t, "a1b2c3d4-0000-4000-8000-000000000002", internal, "the internal id stays in props")

	// An ordinary property with a non-identifier reference still warns.
	_, _, logs2 := loadProducer(t, "report", `{"type":"report","spec_version":"2.1","id":"report--3c4d5e6f-7a8b-4c9d-8e0f-2a3b4c5d6e70","created":"2023-01-14T10:00:00Z","modified":"2023-01-14T10:00:00Z","name":"r","published":"2023-01-14T10:00:00Z","object_refs":["a1b2c3d4-0000-4000-8000-000000000002"]}`)
	var warned bool
	for _, l := range logs2 {
		if p, _ := l.attrs["problem"].(string); strings.Contains(p, "not a STIX identifier") {
			warned = true
		}
	}
	require.True(t, warned, "a bare uuid in object_refs is still reported")
}

// TestCustomObservableNamedByValue: OpenCTI's own observable types
// (hostname, cryptocurrency-wallet, and the older x-opencti-hostname) have
// no STIX deterministic id here and are keyed by their id; their value
// names them, so search and kind:value find them. Before, they had no
// name: "intel search WS-FIN-042" found nothing.
func TestCustomObservableNamedByValue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _, _ := loadProducerFile(t, "opencti-export.json")
	for ref, name := range map[string]string{
		"hostname:WS-FIN-042":                                              "ws-fin-042",
		"x-opencti-hostname:dc01.corp.example":                             "dc01.corp.example",
		"domain-name:ws-fin-042":                                           "ws-fin-042",
		"cryptocurrency-wallet:bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh": "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh",
	} {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, name, n.Name, ref)
	}
	hits, err := st.Search(ctx, "WS-FIN-042", graph.SearchOptions{Exact: true, Limit: 5})
	require.NoError(t, err)
	require.NotEmpty(t, hits)
	require.Equal(t, graph.KindDomainName, hits[0].Kind, "OpenCTI's hostname is a domain-name")
}

// TestObjectsWithoutNameOrValueNamed: objects keyed by their id that have
// neither name nor value are named by the property their producer shows
// them by (OpenCTI's observables bank-account, payment-card, media-content
// and persona; STIX 2.1 malware-analysis by its result_name, else its
// product), so search finds them. Before, they had no name.
func TestObjectsWithoutNameOrValueNamed(t *testing.T) {
	t.Parallel()
	const sco = `"spec_version":"2.1","extensions":{"extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82":{"extension_type":"new-sco"}}`
	sink, rep, _ := load(t, bundle(
		`{"type":"bank-account","id":"bank-account--00000000-0000-4000-8000-00000000f001",`+sco+`,"iban":"DE89370400440532013000","account_number":"0532013000"}`,
		`{"type":"bank-account","id":"bank-account--00000000-0000-4000-8000-00000000f002",`+sco+`,"account_number":"0532013001"}`,
		`{"type":"payment-card","id":"payment-card--00000000-0000-4000-8000-00000000f003",`+sco+`,"card_number":"4111111111111111","holder_name":"J Doe"}`,
		`{"type":"media-content","id":"media-content--00000000-0000-4000-8000-00000000f004",`+sco+`,"title":"Leak announced","url":"https://news.example.org/a","content":"long body"}`,
		`{"type":"media-content","id":"media-content--00000000-0000-4000-8000-00000000f005",`+sco+`,"url":"https://news.example.org/b"}`,
		`{"type":"persona","id":"persona--00000000-0000-4000-8000-00000000f006",`+sco+`,"persona_name":"octi_handle","persona_type":"twitter"}`,
		`{"type":"malware-analysis","spec_version":"2.1","id":"malware-analysis--00000000-0000-4000-8000-00000000f007","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","product":"sandbox-x","result":"malicious","result_name":"Emotet dropper"}`,
		`{"type":"malware-analysis","spec_version":"2.1","id":"malware-analysis--00000000-0000-4000-8000-00000000f008","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","product":"sandbox-y","result":"unknown"}`,
	))
	require.Empty(t, rep.Dropped)
	nodes := sink.byAlias()
	for id, name := range map[string]string{
		"bank-account--00000000-0000-4000-8000-00000000f001":     "DE89370400440532013000",
		"bank-account--00000000-0000-4000-8000-00000000f002":     "0532013001",
		"payment-card--00000000-0000-4000-8000-00000000f003":     "4111111111111111",
		"media-content--00000000-0000-4000-8000-00000000f004":    "Leak announced",
		"media-content--00000000-0000-4000-8000-00000000f005":    "https://news.example.org/b",
		"persona--00000000-0000-4000-8000-00000000f006":          "octi_handle",
		"malware-analysis--00000000-0000-4000-8000-00000000f007": "Emotet dropper",
		"malware-analysis--00000000-0000-4000-8000-00000000f008": "sandbox-y",
	} {
		require.Equal(t, name, nodes[id].Name, id)
	}
}

// TestTAXIIPagesInAnArray: pages of a TAXII 2.1 collection saved as a JSON
// array of envelopes ({"more", "next", "objects"}, no "type") load as
// bundles would; an empty page ({"more": false}, no objects) counts
// nothing (TestEmptyTAXIIPagesCountNothing). Before, each envelope was
// dropped as missing-type and the load failed ("a MISP file?").
func TestTAXIIPagesInAnArray(t *testing.T) {
	t.Parallel()
	st, rep, _ := loadProducerFile(t, "taxii21-pages.json")
	require.Empty(t, rep.Dropped)
	got, pending := graphRelations(t, st.Pool())
	require.Zero(t, pending)
	require.Contains(t, got, "indicator indicates malware Poison Ivy")
	require.Contains(t, got, "indicator based-on hash SHA-256:ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c")
}

// TestEmptyTAXIIPagesCountNothing: an empty page of a TAXII 2.1
// collection ({"more": false} without objects, {"objects": []}, an empty
// bundle), alone, in an array or on an NDJSON line, is no record and no
// drop; the objects of other pages are the records, and a truly unknown
// object beside them is still a counted drop. Before, an envelope without
// objects was a missing-property drop.
func TestEmptyTAXIIPagesCountNothing(t *testing.T) {
	t.Parallel()
	const (
		mal     = `{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-00000000e001","created":"2023-01-01T00:00:00Z","modified":"2023-01-01T00:00:00Z","name":"Paged","is_family":true}`
		unknown = `{"spec_version":"2.1","id":"malware--00000000-0000-4000-8000-00000000e002","name":"No Type"}`
		bundle0 = `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-00000000e003","objects":[]}`
	)
	for _, tc := range []struct {
		name, feed   string
		read, mapped int64
		dropped      map[engine.Reason]int64
	}{
		{"last page alone", `{"more": false}`, 0, 0, nil},
		{"page with more and no objects", `{"more": true, "next": "2"}`, 0, 0, nil},
		{"page of no objects", `{"objects": [], "more": false}`, 0, 0, nil},
		{"empty bundle", bundle0, 0, 0, nil},
		{"array of pages", `[{"more": true, "objects": [` + mal + `]}, {"objects": []}, {"more": false}, ` + bundle0 + `]`, 1, 1, nil},
		{"NDJSON of pages", `{"more": true, "objects": [` + mal + `]}` + "\n" + `{"more": false}` + "\n" + bundle0 + "\n", 1, 1, nil},
		{"unknown object still counts", `[{"more": false}, ` + mal + `, ` + unknown + `]`, 2, 1, map[engine.Reason]int64{engine.ReasonMissingType: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, rep, _ := load(t, tc.feed)
			require.Equal(t, tc.dropped, nilIfEmpty(rep.Dropped))
			require.Equal(t, tc.read, rep.RecordsRead)
			require.Equal(t, tc.mapped, rep.RecordsMapped)
		})
	}
}

// nilIfEmpty is d, or nil when d has no entries.
func nilIfEmpty(d map[engine.Reason]int64) map[engine.Reason]int64 {
	if len(d) == 0 {
		return nil
	}
	return d
}

// TestOpenCTIUnsetTimesAreNoTimes: OpenCTI writes 1970-01-01T00:00:00Z and
// 5138-11-16T09:46:40Z for a time it does not know. They are no
// observation times: the actor, the uses link and the sighting are seen
// within their created .. modified. Before, each was "seen 1970-01-01 ..
// 5138-11-16", and since first/last seen merge as earliest/latest, so
// stayed every record merged with them.
func TestOpenCTIUnsetTimesAreNoTimes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, rep, _ := loadProducerFile(t, "opencti-unset-times.json")
	require.Empty(t, rep.Dropped)
	rows, err := st.Pool().Query(ctx, `
		SELECT kind, first_seen, last_seen FROM nodes WHERE kind IN ('intrusion-set', 'threat-actor', 'sighting')
		UNION ALL SELECT relation, first_seen, last_seen FROM relations WHERE relation IN ('uses', 'sighting-of')`)
	require.NoError(t, err)
	defer rows.Close()
	lo := time.Date(2023, 1, 10, 10, 0, 0, 0, time.UTC)
	hi := time.Date(2023, 4, 10, 10, 0, 0, 0, time.UTC)
	var n int
	for rows.Next() {
		var what string
		var first, last time.Time
		require.NoError(t, rows.Scan(&what, &first, &last))
		require.False(t, first.Before(lo), "%s first seen %s", what, first)
		require.False(t, last.After(hi), "%s last seen %s", what, last)
		n++
	}
	require.NoError(t, rows.Err())
	require.Equal(t, 4, n)
	var stop string
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT props->>'stop_time' FROM relations WHERE relation = 'uses'`).Scan(&stop))
	require.Equal(t, "5138-11-16T09:46:40.000Z", stop, "the property keeps the value as written")
}

// TestTAXIIResponsesThatAreNoContentSaySo: a TAXII manifest (the objects'
// ids and versions), a collections answer, an error message (what the
// server answered instead of the page: its HTTP status, title and
// description) or a status resource saved as a feed is dropped
// missing-type, as before, but the drop says what it is and what to fetch
// instead. Before, it said "no type" alone, and an error message's words
// were lost.
func TestTAXIIResponsesThatAreNoContentSaySo(t *testing.T) {
	t.Parallel()
	for feed, tc := range map[string]struct{ data, want string }{
		"manifest": {`{"more":false,"objects":[{"id":"indicator--cd981c25-8042-4166-8945-51178443bdac","date_added":"2016-11-01T03:04:05.000Z","version":"2016-11-03T12:30:59.000Z","media_type":"application/stix+json;version=2.1"}]}`,
			"a TAXII manifest record"},
		"collections": {`{"collections":[{"id":"91a7b528-80eb-42ed-a74d-c6fbd5a26116","title":"High Value Indicator Collection","can_read":true,"can_write":false}]}`,
			"a TAXII discovery, API root or collections answer"},
		// TAXII 2.1 section 3.6.1's example error message, as a script
		// saves what the server answered (an expired token, a collection
		// it may not read) in place of the page.
		"error": {`{"title":"Error condition XYZ","description":"This error is caused when the application tries to access data...","error_id":"1234","error_code":"581234","http_status":"409","external_details":"http://example.com/ticketnumber1/errorid-1234","details":{"somekey1":"somevalue","somekey2":"some other value"}}`,
			`a TAXII error message, saved instead of the page asked for: the server said HTTP 409 "Error condition XYZ" "This error is caused when the application tries to access data..."`},
		// TAXII 2.1 section 4.3.1's example status resource.
		"status": {`{"id":"2d086da7-4bdc-4f91-900e-d77486753710","status":"pending","request_timestamp":"2016-11-02T12:34:34.123456Z","total_count":4,"success_count":1,"successes":[{"id":"indicator--cd981c25-8042-4166-8945-51178443bdac","version":"2014-05-08T09:00:00.000Z","message":"Successfully added object to collection '91a7b528-80eb-42ed-a74d-c6fbd5a26116'."}],"failure_count":1,"failures":[{"id":"malware--664fa29d-bf65-4f28-a667-bdb76f29ec98","version":"2015-05-08T09:00:00.000Z","message":"Unable to process object"}],"pending_count":2,"pendings":[{"id":"indicator--252c7c11-daf2-42bd-843b-be65edca9f61","version":"2016-08-08T09:00:00.000Z"},{"id":"relationship--045585ad-a22f-4333-af33-bfd503a683b5","version":"2016-06-08T09:00:00.000Z"}]}`,
			"a TAXII status resource"},
	} {
		_, rep, logs := loadProducer(t, feed, tc.data)
		require.Equal(t, map[engine.Reason]int64{engine.ReasonMissingType: 1}, rep.Dropped, feed)
		var said bool
		for _, l := range logs {
			if d, _ := l.attrs["detail"].(string); strings.Contains(d, tc.want) {
				said = true
			}
		}
		require.True(t, said, "%s: the drop says what it is", feed)
	}
}

// TestMISPGalaxyDefinitionSaysSo: a misp-galaxy galaxies/<name>.json (the
// galaxy's definition, no clusters), taken for STIX by its "type", is
// dropped missing-id as before, but the drop says what it is and which
// file holds the clusters. Before, it said "no id" alone (file as in
// ../shared/corpus/misp/galaxy/galaxies/360net.json).
func TestMISPGalaxyDefinitionSaysSo(t *testing.T) {
	t.Parallel()
	_, rep, logs := loadProducer(t, "galaxy", `{"description":"Known or estimated adversary groups as identified by 360.net.","icon":"user-secret",
"name":"360.net Threat Actors","namespace":"360net","type":"360net-threat-actor","uuid":"20de4abf-f000-48ec-a929-3cdc5c2f3c23","version":1}`)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonMissingID: 1}, rep.Dropped)
	var said bool
	for _, l := range logs {
		if d, _ := l.attrs["detail"].(string); strings.Contains(d, "a MISP galaxy definition") && strings.Contains(d, "clusters/<name>.json") {
			said = true
		}
	}
	require.True(t, said, "the drop says what it is")
}

// TestBadObjectOfANestedBundleIsDroppedAlone: TAXII pages saved as a JSON
// array (and bundles inside an array or on NDJSON lines) are read one page
// a record. One object without an id dropped its whole page: the indicator
// and the malware beside it were lost (0 nodes), where the same objects in
// a top-level bundle load and the bad one is dropped alone. Now each object
// of such a page counts as a record, and only the bad one is dropped.
func TestBadObjectOfANestedBundleIsDroppedAlone(t *testing.T) {
	t.Parallel()
	const page1 = `{"more":true,"next":"2","objects":[` +
		`{"type":"indicator","spec_version":"2.1","id":"indicator--5e1f0000-0000-4000-8000-00000000e001","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","pattern":"[ipv4-addr:value = '198.51.100.77']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"},` +
		`{"type":"malware","spec_version":"2.1","id":"malware--5e1f0000-0000-4000-8000-00000000e002","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","name":"NestedDropMal","is_family":true},` +
		`{"type":"malware","spec_version":"2.1","name":"no id","is_family":true}]}`
	const page2 = `{"more":false,"objects":[` +
		`{"type":"relationship","spec_version":"2.1","id":"relationship--5e1f0000-0000-4000-8000-00000000e003","created":"2024-01-01T00:00:00.000Z","modified":"2024-01-01T00:00:00.000Z","relationship_type":"indicates","source_ref":"indicator--5e1f0000-0000-4000-8000-00000000e001","target_ref":"malware--5e1f0000-0000-4000-8000-00000000e002"}]}`
	for name, data := range map[string]string{
		"array":  "[" + page1 + "," + page2 + "]",
		"ndjson": page1 + "\n" + page2 + "\n",
		"bundles": `[{"type":"bundle","id":"bundle--5e1f0000-0000-4000-8000-00000000e010","objects":[` + page1[strings.Index(page1, "[")+1:len(page1)-1] + `},` +
			`{"type":"bundle","id":"bundle--5e1f0000-0000-4000-8000-00000000e011","objects":[` + page2[strings.Index(page2, "[")+1:len(page2)-1] + `}]`,
	} {
		st, rep, _ := loadProducer(t, name, data)
		require.Equal(t, map[engine.Reason]int64{engine.ReasonMissingID: 1}, rep.Dropped, name)
		require.EqualValues(t, 4, rep.RecordsRead, "%s: every object is a record", name)
		require.EqualValues(t, 3, rep.RecordsMapped, name)
		got, pending := graphRelations(t, st.Pool())
		require.Zero(t, pending, name)
		require.Contains(t, got, "indicator indicates malware NestedDropMal", name)
	}
}

// TestObjectsWithoutANameAreNamedByWhatTheySay: STIX makes name optional
// on a location (one of region, country or latitude/longitude suffices),
// a STIX 2.0 indicator, a note and an opinion, and an autonomous-system
// has a number, not a name. Before, such nodes had no name: `intel
// related` showed `location location--…` where the feed said Germany,
// and `intel search DE` or `AS64498` found nothing. Now they are named as
// OpenCTI shows them: a location by its most specific place (city,
// administrative area, country, region, else its coordinates), an
// indicator by its pattern, a note by its abstract (else its content), an
// opinion by its opinion, an autonomous system as "AS<number>".
func TestObjectsWithoutANameAreNamedByWhatTheySay(t *testing.T) {
	t.Parallel()
	const sdo = `"spec_version":"2.1","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z"`
	sink, rep, _ := load(t, bundle(
		`{"type":"location","id":"location--00000000-0000-4000-8000-00000000f101",`+sdo+`,"country":"DE"}`,
		`{"type":"location","id":"location--00000000-0000-4000-8000-00000000f102",`+sdo+`,"city":"Berlin","country":"DE","region":"europe"}`,
		`{"type":"location","id":"location--00000000-0000-4000-8000-00000000f103",`+sdo+`,"region":"eastern-europe"}`,
		`{"type":"location","id":"location--00000000-0000-4000-8000-00000000f104",`+sdo+`,"latitude":48.8566,"longitude":2.3522}`,
		`{"type":"location","id":"location--00000000-0000-4000-8000-00000000f105",`+sdo+`,"name":"HQ","country":"FR"}`,
		`{"type":"indicator","id":"indicator--00000000-0000-4000-8000-00000000f106","created":"2017-01-01T00:00:00Z","modified":"2017-01-01T00:00:00Z","labels":["malicious-activity"],"pattern":"[ipv4-addr:value = '198.51.100.61']","valid_from":"2017-01-01T00:00:00Z"}`,
		`{"type":"note","id":"note--00000000-0000-4000-8000-00000000f107",`+sdo+`,"abstract":"Triage","content":"Seen on three hosts","object_refs":["location--00000000-0000-4000-8000-00000000f101"]}`,
		`{"type":"note","id":"note--00000000-0000-4000-8000-00000000f108",`+sdo+`,"content":"Seen on three hosts","object_refs":["location--00000000-0000-4000-8000-00000000f101"]}`,
		`{"type":"opinion","id":"opinion--00000000-0000-4000-8000-00000000f109",`+sdo+`,"opinion":"strongly-disagree","object_refs":["location--00000000-0000-4000-8000-00000000f101"]}`,
		`{"type":"autonomous-system","spec_version":"2.1","id":"autonomous-system--00000000-0000-4000-8000-00000000f110","number":64498}`,
		`{"type":"autonomous-system","spec_version":"2.1","id":"autonomous-system--00000000-0000-4000-8000-00000000f111","number":64499,"name":"ACME-NET"}`,
		`{"type":"indicator","id":"indicator--00000000-0000-4000-8000-00000000f112",`+sdo+`,"name":"AS","pattern":"[autonomous-system:number = 64500]","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z"}`,
	))
	require.Empty(t, rep.Dropped)
	nodes := sink.byAlias()
	for id, name := range map[string]string{
		"location--00000000-0000-4000-8000-00000000f101":          "Germany", // a country: the country's node (graph.CountryNode), keyed DE
		"location--00000000-0000-4000-8000-00000000f102":          "Berlin",
		"location--00000000-0000-4000-8000-00000000f103":          "eastern-europe",
		"location--00000000-0000-4000-8000-00000000f104":          "48.8566, 2.3522",
		"location--00000000-0000-4000-8000-00000000f105":          "HQ",
		"indicator--00000000-0000-4000-8000-00000000f106":         "[ipv4-addr:value = '198.51.100.61']",
		"note--00000000-0000-4000-8000-00000000f107":              "Triage",
		"note--00000000-0000-4000-8000-00000000f108":              "Seen on three hosts",
		"opinion--00000000-0000-4000-8000-00000000f109":           "strongly-disagree",
		"autonomous-system--00000000-0000-4000-8000-00000000f110": "AS64498",
		"autonomous-system--00000000-0000-4000-8000-00000000f111": "ACME-NET",
	} {
		require.Equal(t, name, nodes[id].Name, id)
	}
	as, ok := graph.ObservableNode("autonomous-system", map[string]any{"number": float64(64500)})
	require.True(t, ok)
	require.Equal(t, "AS64500", as.Name, "an autonomous system a pattern compares")
}

// TestLanguageContentIsNamedByItsTranslations: STIX 2.1's own example of a
// language-content (section 7.1: the German and French name and
// description of campaign--12a111f0-…) beside its campaign, and one that
// translates a description alone. Before, both were nodes without a name,
// shown by their id, and `intel search "Bank Angriff 1"` found nothing.
// Now the first is named by the names it translates, each with its
// language, which a search in either language finds, and leads to the
// campaign (object); the second by its languages.
func TestLanguageContentIsNamedByItsTranslations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, rep, _ := loadProducer(t, "language-content", bundle(
		`{"type": "campaign", "id": "campaign--12a111f0-b824-4baf-a224-83b80237a094", "spec_version": "2.1",
		  "created": "2017-02-08T21:31:22.007Z", "modified": "2017-02-08T21:31:22.007Z", "name": "Bank Attack"}`,
		`{"type": "language-content", "id": "language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da981d", "spec_version": "2.1",
		  "created": "2017-02-08T21:31:22.007Z", "modified": "2017-02-08T21:31:22.007Z",
		  "object_ref": "campaign--12a111f0-b824-4baf-a224-83b80237a094", "object_modified": "2017-02-08T21:31:22.007Z",
		  "contents": {"de": {"name": "Bank Angriff 1", "description": "Weitere Informationen über Banküberfall"},
		               "fr": {"name": "Attaque Bank 1", "description": "Plus d'informations sur la crise bancaire"}}}`,
		`{"type": "language-content", "id": "language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da9820", "spec_version": "2.1",
		  "created": "2017-02-08T21:31:22.007Z", "modified": "2017-02-08T21:31:22.007Z",
		  "object_ref": "campaign--12a111f0-b824-4baf-a224-83b80237a094", "object_modified": "2017-02-08T21:31:22.007Z",
		  "contents": {"es": {"description": "Más información"}, "it": {"description": "Altre informazioni"}}}`,
	))
	require.Empty(t, rep.Dropped)
	for id, name := range map[string]string{
		"language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da981d": "Bank Angriff 1 (de); Attaque Bank 1 (fr)",
		"language-content--b86bd89f-98bb-4fa9-8cb2-9ad421da9820": "translation (es, it)",
	} {
		n, err := st.ResolveNode(ctx, id)
		require.NoError(t, err, id)
		require.Equal(t, name, n.Name, id)
	}
	for _, q := range []string{"Bank Angriff 1", "Attaque Bank 1"} {
		hits, err := st.Search(ctx, q, graph.SearchOptions{Limit: 5})
		require.NoError(t, err)
		require.NotEmpty(t, hits, q)
		require.Equal(t, graph.Kind("language-content"), hits[0].Kind, q)
	}
	got, _ := graphRelations(t, st.Pool())
	require.Contains(t, got, "language-content object campaign Bank Attack")
}

// TestSekoiaItemsPageLoads: Sekoia.io's Intelligence Center answers with
// pages {"has_more": …, "items": [STIX objects]}
// (testdata/excerpts/sekoia-indicator.json, a page its XSOAR integration is
// tested with): the items are the records, as a TAXII envelope's objects
// are; a bad item is dropped alone, and an empty last page counts nothing.
// Before, the page was one record dropped missing-type ("no type"), the
// load failed with "no records … a MISP file?", and the indicator was
// lost. A JSON object with items that are no STIX objects is still no page.
func TestSekoiaItemsPageLoads(t *testing.T) {
	t.Parallel()
	st, rep, _ := loadProducerFile(t, "../excerpts/sekoia-indicator.json")
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 1, rep.RecordsRead)
	n, err := st.ResolveNode(context.Background(), "indicator--d394449b-6bc7-4d48-b392-6f898190bd2a")
	require.NoError(t, err)
	require.Equal(t, "eicar@sekoia.io", n.Name)
	got, _ := graphRelations(t, st.Pool())
	require.Contains(t, got, "indicator based-on email-addr eicar@sekoia.io")

	_, rep, _ = loadProducer(t, "sekoia-pages", `{"has_more": true, "items": [
		{"type": "malware", "id": "malware--00000000-0000-4000-8000-000000000001", "name": "A", "is_family": true},
		{"type": "malware", "name": "no id"}]}
		{"has_more": false, "items": []}`)
	require.EqualValues(t, 2, rep.RecordsRead)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonMissingID: 1}, rep.Dropped)

	_, rep, _ = loadProducer(t, "not-a-page", `{"has_more": false, "items": [{"name": "x"}]}
		{"type": "malware", "id": "malware--00000000-0000-4000-8000-000000000002", "name": "B", "is_family": true}`)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonMissingType: 1}, rep.Dropped)
}

// TestSekoiaSourcesAreProvenance: Sekoia.io names the sources of each
// object in x_inthreat_sources_refs (testdata/excerpts/sekoia-indicator.json:
// the Sekoia identity that also created it), as created_by_ref names its
// creator: who said it, not what it is related to. A walk leaves it out by
// default as it leaves created-by out. Before, it was an intelligence
// relation, so every two indicators of one source were two hops apart: a
// depth-2 walk from the EICAR address reached an unrelated indicator
// through the source.
func TestSekoiaSourcesAreProvenance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "excerpts", "sekoia-indicator.json"))
	require.NoError(t, err)
	other := `{"has_more": false, "items": [
		{"type": "identity", "spec_version": "2.1", "id": "identity--357447d7-9229-4ce1-b7fa-f1b83587048e", "name": "SEKOIA",
		 "identity_class": "organization", "created": "2008-01-01T00:00:00Z", "modified": "2008-01-01T00:00:00Z"},
		{"type": "indicator", "spec_version": "2.1", "id": "indicator--00000000-0000-4000-8000-000000000001",
		 "pattern": "[domain-name:value = 'unrelated.example']", "pattern_type": "stix", "valid_from": "2020-05-25T07:18:01Z",
		 "created": "2020-05-25T07:18:29Z", "modified": "2020-05-25T07:18:29Z",
		 "created_by_ref": "identity--357447d7-9229-4ce1-b7fa-f1b83587048e",
		 "x_inthreat_sources_refs": ["identity--357447d7-9229-4ce1-b7fa-f1b83587048e"]}]}`
	st, rep, _ := loadProducer(t, "sekoia", string(data)+"\n"+other)
	require.Empty(t, rep.Dropped)
	start, err := st.ResolveNode(ctx, "email-addr:eicar@sekoia.io")
	require.NoError(t, err)
	unrelated, err := st.ResolveNode(ctx, "indicator--00000000-0000-4000-8000-000000000001")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, start.ID, graph.RelatedOptions{Depth: 3})
	require.NoError(t, err)
	_, ok := nb.Node(unrelated.ID)
	require.False(t, ok, "a shared source relates nothing")
	require.Equal(t, graph.ClassProvenance, graph.ClassOf("x-inthreat-sources"))
}

// TestATLASTechniquesLinkToTheirTactics: MITRE ATLAS's STIX bundle
// (testdata/excerpts/atlas-stix-excerpt.json, from
// mitre-atlas/atlas-navigator-data dist/stix-atlas.json) follows ATT&CK's
// data model with its own kill chain, "mitre-atlas": a technique's
// kill_chain_phases name the x-mitre-tactic of that x_mitre_shortname,
// whose external_references name mitre-atlas (it has no x_mitre_domains).
// The techniques linked to no tactic (degree 0: `intel related` of the
// tactic gave only its matrix), as an ATT&CK technique does.
func TestATLASTechniquesLinkToTheirTactics(t *testing.T) {
	t.Parallel()
	st, rep, _ := loadProducerFile(t, "../excerpts/atlas-stix-excerpt.json")
	require.Empty(t, rep.Dropped)
	got, pending := graphRelations(t, st.Pool())
	require.Zero(t, pending)
	require.Equal(t, []string{
		"attack-pattern tactic x-mitre-tactic Reconnaissance",
		"attack-pattern tactic x-mitre-tactic Reconnaissance",
		"x-mitre-matrix tactic x-mitre-tactic Reconnaissance",
	}, got)
}

// TestOpenCTIPlaceholderSightingIsOfTheObject: OpenCTI's connectors write
// a sighting of an object STIX gives no sighting of (an observable, an
// intrusion set) with the placeholder indicator--c1034564-… in
// sighting_of_ref and the object in x_opencti_sighting_of_ref, which
// OpenCTI's worker reads (OpenCTI-Platform/connectors AbuseIPDB
// enrichment: "we use a fake ID in ref, worker will use custom_properties
// instead"; the Splunk connector's sightings of observables alike). The
// sighting is of the object, counted, nothing waits for the placeholder.
// Before, the address had no sighting (show: no "sighted" line, its link
// typed x-opencti-sighting-of) and a sighting-of to the placeholder waited
// pending for ever. A sighting_of_ref that is no placeholder is kept as
// the feed wrote it.
func TestOpenCTIPlaceholderSightingIsOfTheObject(t *testing.T) {
	t.Parallel()
	const common = `"spec_version": "2.1", "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z"`
	st, rep, _ := loadProducer(t, "opencti-placeholder", `{"type": "bundle", "id": "bundle--44444444-0000-4000-8000-000000000001", "objects": [
		{"type": "identity", `+common+`, "id": "identity--44444444-0000-4000-8000-0000000000a1", "name": "Splunk", "identity_class": "system"},
		{"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--44444444-0000-4000-8000-0000000000b1", "value": "198.51.100.44"},
		{"type": "intrusion-set", `+common+`, "id": "intrusion-set--44444444-0000-4000-8000-0000000000b2", "name": "Placeholder Set"},
		{"type": "sighting", `+common+`, "id": "sighting--44444444-0000-4000-8000-0000000000c1",
		 "where_sighted_refs": ["identity--44444444-0000-4000-8000-0000000000a1"], "count": 7,
		 "first_seen": "2024-01-01T00:00:00.000Z", "last_seen": "2024-01-02T00:00:00.000Z",
		 "sighting_of_ref": "indicator--c1034564-a9fb-429b-a1c1-c80116cc8e1e",
		 "x_opencti_sighting_of_ref": "ipv4-addr--44444444-0000-4000-8000-0000000000b1", "x_opencti_detection": true},
		{"type": "sighting", `+common+`, "id": "sighting--44444444-0000-4000-8000-0000000000c2",
		 "where_sighted_refs": ["identity--44444444-0000-4000-8000-0000000000a1"], "count": 1,
		 "sighting_of_ref": "indicator--c1034564-a9fb-429b-a1c1-c80116cc8e1e",
		 "x_opencti_sighting_of_ref": "intrusion-set--44444444-0000-4000-8000-0000000000b2"},
		{"type": "sighting", `+common+`, "id": "sighting--44444444-0000-4000-8000-0000000000c3",
		 "where_sighted_refs": ["identity--44444444-0000-4000-8000-0000000000a1"],
		 "sighting_of_ref": "intrusion-set--44444444-0000-4000-8000-0000000000b2",
		 "x_opencti_sighting_of_ref": "ipv4-addr--44444444-0000-4000-8000-0000000000b1"}]}`)
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 3, rep.Sightings)
	got, pending := graphRelations(t, st.Pool())
	require.Zero(t, pending, "nothing waits for the placeholder indicator")
	var of []string
	for _, r := range got {
		if strings.HasPrefix(r, "sighting ") && !strings.Contains(r, "where-sighted") {
			of = append(of, r)
		}
	}
	require.ElementsMatch(t, []string{
		"sighting " + graph.RelSightingOf + " ipv4-addr 198.51.100.44",
		"sighting " + graph.RelSightingOf + " intrusion-set Placeholder Set",
		// no placeholder: sighting_of_ref as written, the OpenCTI property as any
		"sighting " + graph.RelSightingOf + " intrusion-set Placeholder Set",
		"sighting x-opencti-sighting-of ipv4-addr 198.51.100.44",
	}, of)
}

// TestCISAAttackPatternIsTheATTACKTechnique: CISA's AIS STIX 2.1 advisories
// (testdata/excerpts/cisa-ais-aa23-325a.json, AA23-325A as Elastic's
// stix-to-ecs keeps it) name each attack-pattern "Tactic - Technique:
// Sub-technique [T1556.006]", with no external_references: the bracketed
// id is the ATT&CK technique the object is. It is that technique's node,
// as an ATT&CK id in external_references or MISP's "Name - T1539" makes
// it. Before, it was a node of its own keyed by the whole name, so the
// advisory and its indicators were nowhere near ATT&CK's T1539 (intel
// related from the technique did not reach the report).
func TestCISAAttackPatternIsTheATTACKTechnique(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "excerpts", "cisa-ais-aa23-325a.json"))
	require.NoError(t, err)
	// ATT&CK's technique as enterprise-attack writes it (cut to what keys it).
	attack := `{"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--10ffac09-e42d-4f56-ab20-db94c67d76ff",
		"created": "2019-10-08T20:04:35.508Z", "modified": "2023-09-19T21:21:52.009Z", "name": "Steal Web Session Cookie",
		"external_references": [{"source_name": "mitre-attack", "url": "https://attack.mitre.org/techniques/T1539", "external_id": "T1539"}],
		"kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "credential-access"}]}`
	st, rep, _ := loadProducer(t, "cisa-ais", string(data)+"\n"+attack)
	require.Empty(t, rep.Dropped)
	cisa, err := st.ResolveNode(ctx, "attack-pattern--2889f81f-ef37-45b0-acf1-69220d589104")
	require.NoError(t, err)
	mitre, err := st.ResolveNode(ctx, "attack-pattern--10ffac09-e42d-4f56-ab20-db94c67d76ff")
	require.NoError(t, err)
	require.Equal(t, mitre.ID, cisa.ID, "CISA's [T1539] is ATT&CK's T1539")
	require.Equal(t, "T1539", cisa.Key)
	sub, err := st.ResolveNode(ctx, "attack-pattern--a1bfeb7c-4099-4b38-a072-60eaa98f1a1d")
	require.NoError(t, err)
	require.Equal(t, "T1556.006", sub.Key)
	report, err := st.ResolveNode(ctx, "report--11afe301-b745-4d8c-a2d2-65db8e096ea2")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, mitre.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	_, ok := nb.Node(report.ID)
	require.True(t, ok, "the advisory is one hop from the technique")

	// Only an id of the object's own kind, in brackets at the end or
	// leading the name (graph.NameATTACKID: "[T1539] first" is T1539), counts.
	st, rep, _ = loadProducer(t, "brackets", `{"type": "bundle", "id": "bundle--55555555-0000-4000-8000-000000000001", "objects": [
		{"type": "malware", "spec_version": "2.1", "id": "malware--55555555-0000-4000-8000-0000000000a1", "name": "Uses [T1539]", "is_family": true,
		 "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"},
		{"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--55555555-0000-4000-8000-0000000000a2", "name": "First [T1539] then more",
		 "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z"}]}`)
	require.Empty(t, rep.Dropped)
	for id, key := range map[string]string{
		"malware--55555555-0000-4000-8000-0000000000a1":        "uses [t1539]",
		"attack-pattern--55555555-0000-4000-8000-0000000000a2": "first [t1539] then more",
	} {
		n, err := st.ResolveNode(ctx, id)
		require.NoError(t, err)
		require.Equal(t, key, n.Key, id)
	}
}

// TestThreatConnectBareUUIDIdLoads: ThreatConnect's TAXII 2.1 server (its
// TAXII Server App 2.0, as its developer docs show a collection's objects
// answer; testdata/excerpts/threatconnect-taxii21-objects.json) gives an
// indicator the id "4f41230e-518a-5b16-a555-abb790f99e3c": its UUID alone,
// beside "type": "indicator". The object says what it is; its identifier
// is indicator--4f41230e-…, loaded with a warning naming both. Before, it
// was dropped invalid-id: every indicator of such a collection lost. An id
// that is no UUID, or a type that is no STIX type, is still dropped.
func TestThreatConnectBareUUIDIdLoads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, rep, logs := loadProducerFile(t, "../excerpts/threatconnect-taxii21-objects.json")
	require.Empty(t, rep.Dropped)
	n, err := st.ResolveNode(ctx, "indicator--4f41230e-518a-5b16-a555-abb790f99e3c")
	require.NoError(t, err)
	require.Equal(t, "10.10.1.16/32", n.Name)
	require.Equal(t, "indicator--4f41230e-518a-5b16-a555-abb790f99e3c", n.Key)
	got, _ := graphRelations(t, st.Pool())
	require.Contains(t, got, "indicator based-on ipv4-addr 10.10.1.16")
	var warned int
	for _, l := range logs {
		if s := fmt.Sprint(l.msg, l.attrs); strings.Contains(s, "4f41230e-518a-5b16-a555-abb790f99e3c") && strings.Contains(s, "bare UUID") {
			warned++
		}
	}
	require.Equal(t, 1, warned, "the repair is said")

	_, rep, _ = loadProducer(t, "bad-ids", `[
		{"type": "indicator", "id": "4f41230e-518a-5b16-a555-abb790f9", "pattern": "[ipv4-addr:value = '192.0.2.1']", "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"},
		{"type": "Indicator", "id": "4f41230e-518a-5b16-a555-abb790f99e3d", "pattern": "[ipv4-addr:value = '192.0.2.2']", "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}]`)
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidID: 2}, rep.Dropped)
}

// TestStixShifterBundleInAnArrayLoads: stix-shifter's results bundle
// (testdata/excerpts/stix-shifter-crowdstrike-detections.json, its
// CrowdStrike Falcon connector's) has the id "6fb563a5-…", a UUID without
// "bundle--". A top-level bundle's id is not checked; the same bundle as an
// element of an array (or a line of NDJSON, as results are collected) is
// a record, whose id a bare UUID made an invalid-id drop of the whole
// bundle: "no records", nothing loaded. It loads as bundle--6fb563a5-…,
// with a warning, and its objects are the records.
func TestStixShifterBundleInAnArrayLoads(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "excerpts", "stix-shifter-crowdstrike-detections.json"))
	require.NoError(t, err)
	st, rep, _ := loadProducer(t, "stix-shifter", "["+string(data)+"]")
	require.Empty(t, rep.Dropped)
	require.EqualValues(t, 3, rep.RecordsRead)
	_, err = st.ResolveNode(context.Background(), "domain-name:catsdegree.com")
	require.NoError(t, err)
}

// TestElasticLabsBundleLoadsAsPublished pins what was checked and found
// right on Elastic Security Labs' published indicators
// (testdata/excerpts/elastic-labs-bitsloth.json): the bundle redefines the
// predefined TLP:WHITE id as "TLP:CLEAR" ({"tlp": "clear"}), which marks
// its indicators clear; confidence 15 is kept beside the exporter's
// x_score; each indicator is based on the observable its pattern names.
func TestElasticLabsBundleLoadsAsPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, rep, logs := loadProducerFile(t, "../excerpts/elastic-labs-bitsloth.json")
	require.Empty(t, rep.Dropped)
	for _, l := range logs {
		require.Less(t, l.level, slog.LevelWarn, "%s %v", l.msg, l.attrs)
	}
	n, err := st.ResolveNode(ctx, "indicator--79976eb6-75a1-5c82-bffd-c15f67775d99")
	require.NoError(t, err)
	require.Equal(t, graph.TLPClear, n.TLP)
	require.NotNil(t, n.Confidence)
	require.Equal(t, 15, *n.Confidence)
	require.EqualValues(t, 20, n.Props["x_score"])
	got, pending := graphRelations(t, st.Pool())
	require.Zero(t, pending)
	require.ElementsMatch(t, []string{
		"indicator based-on domain-name updater.microsoft.com",
		"indicator based-on hash SHA-256:0f9c0d9b77678d7360e492e00a7fa00af9b78331dc926b0747b07299b4e64afd",
		"indicator based-on ipv4-addr 15.235.132.67",
	}, got)
}

// TestCISAFileIndicatorIsTheNamedFile: CISA's AIS advisory AA23-325A
// (testdata/excerpts/cisa-ais-aa23-325a.json) has the "File Indicator"
// [(file:name = '123.ps1') AND file:hashes.'SHA-256' = 'ED5D…'], one file
// described by its name and hash. The indicator is based on that file,
// named 123.ps1, which has-hash the hash node, as a STIX file object with
// that name and hash (or a MISP filename|sha256) gives: the same node; and
// on the hash, as before (and as a MISP event's indicator of the file is).
// Before, it was based on the hash node alone: intel search 123.ps1 found
// nothing.
func TestCISAFileIndicatorIsTheNamedFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const sha = "ed5d694d561c97b4d70efe934936286fe562addf7d6836f795b336d9791a5c44"
	st, rep, _ := loadProducerFile(t, "../excerpts/cisa-ais-aa23-325a.json")
	require.Empty(t, rep.Dropped)
	got, _ := graphRelations(t, st.Pool())
	var file []string
	for _, r := range got {
		if strings.Contains(r, "123.ps1") || strings.Contains(r, sha) {
			file = append(file, r)
		}
	}
	require.Equal(t, []string{
		"file has-hash hash SHA-256:" + sha,
		"indicator based-on file 123.ps1",
		"indicator based-on hash SHA-256:" + sha,
	}, file)
	f, err := st.ResolveNode(ctx, "123.ps1")
	require.NoError(t, err)
	obj, _, _ := graph.FileNode(map[string]string{"SHA-256": sha}, "123.ps1")
	require.Equal(t, obj.ID, f.ID, "the file a STIX file object or MISP filename|sha256 of that name and hash gives")
}

// TestATTACKNamesItsTechniqueInAnyOrder: CISA's AIS advisory AA23-325A
// (2023-11-21; testdata/excerpts/cisa-ais-aa23-325a.json) names its
// attack-pattern "Credential Access - Steal Web Session Cookie [T1539]",
// which is ATT&CK's T1539 (TestCISAAttackPatternIsTheATTACKTechnique).
// ATT&CK names the technique "Steal Web Session Cookie" (modified
// 2023-09-19): that is the node's name, loaded before or after the
// advisory, and before or after a newer, confident producer naming it
// "Steal Web Session Cookie - T1539" as MISP's galaxy does; the producers'
// names stay found (search) as other names. Before, the newer record's name
// won: intel show attack-pattern:T1539 named it as CISA does in both orders.
func TestATTACKNamesItsTechniqueInAnyOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cisa, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "excerpts", "cisa-ais-aa23-325a.json"))
	require.NoError(t, err)
	const attack = `{"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--10ffac09-e42d-4f56-ab20-db94c67d76ff",
		"created": "2019-10-08T20:04:35.508Z", "modified": "2023-09-19T21:21:52.009Z", "name": "Steal Web Session Cookie",
		"external_references": [{"source_name": "mitre-attack", "url": "https://attack.mitre.org/techniques/T1539", "external_id": "T1539"}],
		"kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "credential-access"}]}`
	const galaxy = `{"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--66666666-0000-4000-8000-000000001539",
		"created": "2024-05-01T00:00:00Z", "modified": "2024-05-01T00:00:00Z", "name": "Steal Web Session Cookie - T1539", "confidence": 100}`
	feeds := map[string]string{"cisa": string(cisa), "attack": attack, "galaxy": galaxy}
	for _, order := range [][]string{{"cisa", "attack"}, {"attack", "cisa"}, {"attack", "galaxy", "cisa"}, {"galaxy", "cisa", "attack"}} {
		st, _ := loadInOrder(t, feeds, order)
		n, err := st.ResolveNode(ctx, "attack-pattern:T1539")
		require.NoError(t, err)
		require.Equal(t, "Steal Web Session Cookie", n.Name, "%v", order)
		hits, err := st.Search(ctx, "Credential Access - Steal Web Session Cookie [T1539]", graph.SearchOptions{Limit: 5, Exact: true})
		require.NoError(t, err)
		require.NotEmpty(t, hits, "%v: CISA's name still finds the technique", order)
		require.Equal(t, n.ID, hits[0].ID)
	}
}

// TestObservableConfidenceIsTheProducersOwn: stix-shifter's CrowdStrike
// Falcon results (testdata/excerpts/stix-shifter-crowdstrike-detections.json)
// embed x-crowdstrike objects whose "confidence" (100, 80) is CrowdStrike's
// detection confidence (its to_stix_map.json maps the detection's
// confidence to x-crowdstrike.confidence, its severity to
// x-oca-event.severity). STIX gives cyber-observables no confidence: it is
// a common property of domain and relationship objects only, the
// producer's confidence in the correctness of its data. So an observable's
// confidence stays in its props as written and the node has none from it;
// its form is not checked (a top-level SCO's "confidence": "high" or 150
// is no invalid-property drop). Before, the x-crowdstrike nodes showed
// confidence 100 and 80, and with them every merge that ranks by it.
func TestObservableConfidenceIsTheProducersOwn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, rep, _ := loadProducerFile(t, "../excerpts/stix-shifter-crowdstrike-detections.json")
	require.Empty(t, rep.Dropped)
	rows, err := st.Pool().Query(ctx, `SELECT coalesce(confidence, -1) || ' ' || coalesce(props->>'confidence', '') FROM nodes
		WHERE kind = 'x-crowdstrike' ORDER BY 1`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"-1 100", "-1 80"}, got)

	st, rep, _ = loadProducer(t, "sco-confidence", `{"type": "bundle", "id": "bundle--77777777-0000-4000-8000-000000000001", "objects": [
		{"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--77777777-0000-4000-8000-0000000000a1", "value": "198.51.100.77", "confidence": "high"},
		{"type": "domain-name", "spec_version": "2.1", "id": "domain-name--77777777-0000-4000-8000-0000000000a2", "value": "score.example", "confidence": 150},
		{"type": "malware", "spec_version": "2.1", "id": "malware--77777777-0000-4000-8000-0000000000a3", "name": "Scored", "is_family": true,
		 "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "confidence": 60}]}`)
	require.Empty(t, rep.Dropped)
	for ref, want := range map[string][2]any{
		"ipv4-addr:198.51.100.77":                       {nil, "high"},
		"domain-name:score.example":                     {nil, float64(150)},
		"malware--77777777-0000-4000-8000-0000000000a3": {60, nil},
	} {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		if want[0] == nil {
			require.Nil(t, n.Confidence, ref)
		} else {
			require.NotNil(t, n.Confidence, ref)
			require.Equal(t, want[0], *n.Confidence, ref)
		}
		require.Equal(t, want[1], n.Props["confidence"], ref)
	}
}

// TestCertificatePatternIsTheCertificate: MISP core's STIX exports of its
// test event (testdata/excerpts/misp-core-x509-object.json) write its x509
// object as an observed-data embedding an x509-certificate (MD5, SHA-1,
// serial number 1234567890) and as an indicator whose pattern ANDs the
// same MD5, SHA-1 and serial number (and issuer, version, key algorithm)
// in one observation. That is one certificate: the indicator is based on
// the observed certificate's node and no other certificate, and the node
// keeps both fingerprints. Before, the indicator was based on two
// certificate nodes of one fingerprint each, neither the observed one.
func TestCertificatePatternIsTheCertificate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, rep, _ := loadProducerFile(t, "../excerpts/misp-core-x509-object.json")
	require.Empty(t, rep.Dropped)
	rows, err := st.Pool().Query(ctx, `SELECT n.key FROM nodes n WHERE n.kind = 'x509-certificate' ORDER BY 1`)
	require.NoError(t, err)
	certs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	sco, ok := graph.ObservableNode("x509-certificate", map[string]any{"serial_number": "1234567890",
		"hashes": map[string]any{"MD5": "b2a5abfeef9e36964281a31e17b57c97", "SHA-1": "5898fc860300e228dcd54c0b1045b5fa0dcda502"}})
	require.True(t, ok)
	require.Equal(t, []string{sco.Key}, certs, "one certificate")
	var based []string
	rows, err = st.Pool().Query(ctx, `SELECT d.kind || ' ' || d.key FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
		WHERE s.key = 'indicator--5ac3444e-145c-4749-8467-02550a00020f' AND r.relation = $1 ORDER BY 1`, graph.RelBasedOn)
	require.NoError(t, err)
	based, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	// And on its fingerprints, which the certificate has-hash
	// (TestCertificateFingerprintReachesEveryCertificate).
	require.Equal(t, []string{"hash MD5:b2a5abfeef9e36964281a31e17b57c97", "hash SHA-1:5898fc860300e228dcd54c0b1045b5fa0dcda502",
		"x509-certificate " + sco.Key}, based)
	n, err := st.ResolveNode(ctx, sco.ID.String())
	require.NoError(t, err)
	require.Equal(t, map[string]any{"MD5": "b2a5abfeef9e36964281a31e17b57c97", "SHA-1": "5898fc860300e228dcd54c0b1045b5fa0dcda502"}, n.Props["hashes"])
}

// TestATTACKIDLeadingANameKeysTheTechnique: the STIX elevator's idiom
// issue-271 (testdata/excerpts/elevator-issue-271-attack-patterns.json)
// names its attack-patterns "T1566.002 - Phishing: Spearphishing Link -
// Initial Access" and so on, with no external_references. The leading id
// says which ATT&CK technique each is (graph.NameATTACKID): each is that
// technique's node, named by ATT&CK ("Spearphishing Link") loaded before
// or after it, the producer's label still found by search. Before, each
// was keyed by its whole name, a node apart from ATT&CK's T1566.002.
func TestATTACKIDLeadingANameKeysTheTechnique(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	elevator, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "excerpts", "elevator-issue-271-attack-patterns.json"))
	require.NoError(t, err)
	// ATT&CK's T1566.002 (enterprise-attack), its name and id as ATT&CK writes them.
	const attack = `{"type": "attack-pattern", "spec_version": "2.1", "id": "attack-pattern--2b742742-28c3-4e1b-bab7-8350d6300fa7",
		"created": "2020-03-02T19:15:44.182Z", "modified": "2023-10-01T02:28:45.147Z", "name": "Spearphishing Link",
		"external_references": [{"source_name": "mitre-attack", "url": "https://attack.mitre.org/techniques/T1566/002", "external_id": "T1566.002"}],
		"kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}]}`
	feeds := map[string]string{"elevator": string(elevator), "attack": attack}
	for _, order := range [][]string{{"elevator"}, {"elevator", "attack"}, {"attack", "elevator"}} {
		st, pool := loadInOrder(t, feeds, order)
		rows, err := pool.Query(ctx, `SELECT key FROM nodes WHERE kind = 'attack-pattern' ORDER BY 1`)
		require.NoError(t, err)
		keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"T1027.002", "T1071.001", "T1204.001", "T1566.002"}, keys, "%v", order)
		n, err := st.ResolveNode(ctx, "attack-pattern:T1566.002")
		require.NoError(t, err)
		want := "T1566.002 - Phishing: Spearphishing Link - Initial Access"
		if len(order) > 1 {
			want = "Spearphishing Link"
		}
		require.Equal(t, want, n.Name, "%v", order)
		hits, err := st.Search(ctx, "T1566.002 - Phishing: Spearphishing Link - Initial Access", graph.SearchOptions{Limit: 5, Exact: true})
		require.NoError(t, err)
		require.NotEmpty(t, hits, "%v: the producer's label still finds the technique", order)
		require.Equal(t, n.ID, hits[0].ID)
	}
}

// TestCVEIdNamesTheVulnerabilityInAnyOrder: a vulnerability named by its
// CVE id (as cve2stix and MISP name them: the shared corpus's
// common-objects, MISP core's test event) and the same CVE named
// "Log4Shell" by a newer, confident producer (keyed by its cve external
// reference) are one node, named CVE-2021-44228 loaded in either order;
// the producer's record keeps "Log4Shell", and search finds the node by it
// (a record's name, NodeRecordNamed). Before, the producer's name won
// when it was loaded last.
func TestCVEIdNamesTheVulnerabilityInAnyOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const cve = `{"type": "vulnerability", "spec_version": "2.1", "id": "vulnerability--ff2d6a3d-4a1b-5b5c-9a1a-7d1c4d0f4b28",
		"created": "2021-12-10T10:15:09.143Z", "modified": "2023-11-07T03:39:36.747Z", "name": "CVE-2021-44228",
		"external_references": [{"source_name": "cve", "external_id": "CVE-2021-44228", "url": "https://nvd.nist.gov/vuln/detail/CVE-2021-44228"}]}`
	const vendor = `{"type": "vulnerability", "spec_version": "2.1", "id": "vulnerability--88888888-0000-4000-8000-000000044228",
		"created": "2024-02-01T00:00:00Z", "modified": "2024-02-01T00:00:00Z", "name": "Log4Shell", "confidence": 95,
		"external_references": [{"source_name": "cve", "external_id": "CVE-2021-44228"}]}`
	feeds := map[string]string{"cve": cve, "vendor": vendor}
	for _, order := range [][]string{{"cve", "vendor"}, {"vendor", "cve"}} {
		st, pool := loadInOrder(t, feeds, order)
		n, err := st.ResolveNode(ctx, "vulnerability:CVE-2021-44228")
		require.NoError(t, err)
		require.Equal(t, "CVE-2021-44228", n.Name, "%v", order)
		require.Equal(t, 95, *n.Confidence)
		rows, err := pool.Query(ctx, `SELECT name FROM node_records WHERE node_id = $1 ORDER BY 1`, n.ID)
		require.NoError(t, err)
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, []string{"CVE-2021-44228", "Log4Shell"}, names, "%v: the producer's record keeps its name", order)
		hits, err := st.Search(ctx, "log4shell", graph.SearchOptions{Limit: 5, Exact: true})
		require.NoError(t, err)
		require.NotEmpty(t, hits, "%v: the producer's name still finds the vulnerability", order)
		require.Equal(t, n.ID, hits[0].ID)
		require.Equal(t, "exact", hits[0].Match)
	}
}

// loadInOrder loads feeds[f] for each f of order, in that order, into a
// fresh database, each without a drop.
func loadInOrder(t *testing.T, feeds map[string]string, order []string) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	for _, f := range order {
		rep, err := Load(context.Background(), strings.NewReader(feeds[f]), st, Options{Feed: f, Logger: quietLogger})
		require.NoError(t, err, "%s of %v", f, order)
		require.Empty(t, rep.Dropped, "%s of %v", f, order)
	}
	return st, pool
}

// TestCertificateFingerprintReachesEveryCertificate: one feed's indicator
// describes a certificate by two fingerprints (one certificate node, as
// its STIX deterministic id keys it), another feed's by one of them alone
// (another node), a third feed embeds an x509-certificate object of that
// fingerprint and its serial number (a third). An analyst pivoting on the
// fingerprint (OpenCTI matches an X509-Certificate by any one of its
// hashes) must reach all three: each certificate has-hash its fingerprints'
// hash nodes, as a file has-hash its hashes, whatever the load order.
// Before, the certificates shared no node: the SHA-256 hash node did not
// exist and the three were apart.
func TestCertificateFingerprintReachesEveryCertificate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		sha1   = "5898fc860300e228dcd54c0b1045b5fa0dcda502"
		sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	)
	indicator := func(id, pattern string) string {
		return `{"type": "bundle", "id": "bundle--` + id + `", "objects": [{"type": "indicator", "spec_version": "2.1",
			"id": "indicator--` + id + `", "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
			"pattern": "` + pattern + `", "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}]}`
	}
	feeds := map[string]string{
		"two": indicator("11111111-1111-4111-8111-111111111111",
			"[x509-certificate:hashes.'SHA-1' = '"+sha1+"' AND x509-certificate:hashes.'SHA-256' = '"+sha256+"']"),
		"one": indicator("22222222-2222-4222-8222-222222222222", "[x509-certificate:hashes.'SHA-256' = '"+strings.ToUpper(sha256)+"']"),
		"sco": `{"type": "bundle", "id": "bundle--33333333-3333-4333-8333-333333333333", "objects": [{"type": "x509-certificate",
			"spec_version": "2.1", "id": "x509-certificate--33333333-3333-4333-8333-333333333333", "serial_number": "1234567890",
			"hashes": {"SHA-256": "` + sha256 + `"}}]}`,
	}
	two, ok := graph.CertificateNode(map[string]string{"SHA-1": sha1, "SHA-256": sha256}, "")
	require.True(t, ok)
	one, ok := graph.CertificateNode(map[string]string{"SHA-256": sha256}, "")
	require.True(t, ok)
	sco, ok := graph.CertificateNode(map[string]string{"SHA-256": sha256}, "1234567890")
	require.True(t, ok)
	want := []string{one.Key, two.Key, sco.Key}
	sort.Strings(want)
	for _, order := range [][]string{{"two", "one", "sco"}, {"sco", "one", "two"}, {"one", "two", "sco"}} {
		st, pool := loadInOrder(t, feeds, order)
		_, err := st.ReleasePending(ctx)
		require.NoError(t, err)
		rows, err := pool.Query(ctx, `SELECT s.key FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
			WHERE d.kind = 'hash' AND d.key = $1 AND r.relation = $2 AND s.kind = 'x509-certificate' ORDER BY 1`,
			graph.HashKey("SHA-256", sha256), graph.RelHasHash)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		require.Equal(t, want, got, "%v: every certificate of the fingerprint has-hash it", order)
		var sha1Certs int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM relations r JOIN nodes d ON d.id = r.dst_id
			WHERE d.key = $1 AND r.relation = $2`, graph.HashKey("SHA-1", sha1), graph.RelHasHash).Scan(&sha1Certs))
		require.Equal(t, 1, sha1Certs, "%v: the SHA-1 is the two-fingerprint certificate's alone", order)
		hits, err := st.Search(ctx, sha256, graph.SearchOptions{Limit: 10, Exact: true})
		require.NoError(t, err)
		var kinds []string
		for _, h := range hits {
			kinds = append(kinds, string(h.Kind))
		}
		require.Contains(t, kinds, string(graph.KindHash), "%v: the fingerprint is found", order)
	}
}

// TestOpinionsAndNotesOnAnObject: misp-stix's analyst-data samples
// (testdata/excerpts/misp-stix-analyst-data.json): an opinion
// (strongly-agree, neutral) and notes naming an indicator or an
// observed-data in object_refs. Each is a node named by its verdict or
// its content linked -object-> the object, so the walk from the
// indicator shows what analysts said of it (as OpenCTI lists an object's
// opinions and notes); the note on a grouping the feed does not hold waits
// pending for it, dropped nowhere. Checked in the twenty-ninth session:
// already so.
func TestOpinionsAndNotesOnAnObject(t *testing.T) {
	t.Parallel()
	st, rep, _ := loadProducerFile(t, "../excerpts/misp-stix-analyst-data.json")
	require.Empty(t, rep.Dropped)
	got, pending := graphRelations(t, st.Pool())
	for _, want := range []string{
		"opinion object indicator [ipv4-addr:value = '194.78.89.250']",
		"opinion object indicator [file:hashes.MD5 = '0cdc9b1b45064e6315f83b150c0fc0eb' AND file:name = 'bin.exe' AND (file:content_ref.x_misp_filename = 'bin.exe' AND file:content_ref.hashes.MD5 = '0cdc9b1b45064e6315f83b150c0fc0eb' AND file:content_ref.mime_type = 'application/zip' AND file:content_ref.encryption_algorithm = 'mime-type-indicated' AND file:content_ref.decryption_key = 'infected')]",
		"note object indicator [file:hashes.MD5 = '0cdc9b1b45064e6315f83b150c0fc0eb' AND file:name = 'bin.exe' AND (file:content_ref.x_misp_filename = 'bin.exe' AND file:content_ref.hashes.MD5 = '0cdc9b1b45064e6315f83b150c0fc0eb' AND file:content_ref.mime_type = 'application/zip' AND file:content_ref.encryption_algorithm = 'mime-type-indicated' AND file:content_ref.decryption_key = 'infected')]",
		"note object observed-data observed-data--76fd763a-45fb-49a6-a732-64aeedbfd7d4",
	} {
		require.Contains(t, got, want)
	}
	var names []string
	rows, err := st.Pool().Query(context.Background(), `SELECT kind || ' ' || name FROM nodes WHERE kind IN ('opinion', 'note') ORDER BY 1`)
	require.NoError(t, err)
	names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"note DNS Resolver used to resolve the malicious domain", "note Should be the Putty agent",
		"note Straight to the point Event", "opinion neutral", "opinion strongly-agree"}, names)
	require.Positive(t, pending, "the note on the grouping waits for it")
}

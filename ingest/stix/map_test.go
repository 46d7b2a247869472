package stix

import (
	"bytes"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/stixid"
)

// load runs Load on a feed given as text and returns what reached the sink.
func load(t *testing.T, feed string) (*recordingSink, *engine.Report, []logRecord) {
	t.Helper()
	sink := &recordingSink{}
	log, logs := newCapture()
	rep, err := Load(context.Background(), strings.NewReader(feed), sink, Options{Feed: "test-feed", Logger: log, Workers: 2, BatchSize: 10})
	require.NoError(t, err)
	return sink, rep, logs()
}

func bundle(objs ...string) string {
	return `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[` + strings.Join(objs, ",") + `]}`
}

// relationsOf returns the relations from node n of the given type, by dst.
func relationsOf(s *recordingSink, n graph.Node, typ string) []string {
	var out []string
	for _, r := range s.relations {
		if r.Src == n.Ref() && r.Type == typ {
			out = append(out, string(r.Dst))
		}
	}
	return out
}

const (
	idMalwareA  = "malware--11111111-1111-4111-8111-111111111111"
	idMalwareB  = "malware--22222222-2222-4222-8222-222222222222"
	idIdentity  = "identity--33333333-3333-4333-8333-333333333333"
	idIndicator = "indicator--44444444-4444-4444-8444-444444444444"
	idReport    = "report--55555555-5555-4555-8555-555555555555"
	idRel       = "relationship--66666666-6666-4666-8666-666666666666"
	idMarking   = "marking-definition--77777777-7777-4777-8777-777777777777"
	tlpRed1     = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
	tlpGreen1   = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
	tlpAmber2   = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"
	tlpClear2   = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
)

func TestMapNamedObjectsMerge(t *testing.T) {
	t.Parallel()
	sink, rep, _ := load(t, bundle(
		`{"type":"malware","spec_version":"2.1","id":"`+idMalwareA+`","created":"2020-01-01T00:00:00Z","modified":"2020-02-01T00:00:00Z","name":"Poison Ivy","is_family":true,"confidence":80,"labels":["rat"],"x_vendor_score":7}`,
		`{"type":"malware","id":"`+idMalwareB+`","created":"2019-01-01T00:00:00.123Z","modified":"2019-01-01T00:00:00.123Z","name":"  poison   IVY "}`,
		`{"type":"vulnerability","id":"vulnerability--88888888-8888-4888-8888-888888888888","name":"Log4Shell","external_references":[{"source_name":"cve","external_id":"CVE-2021-44228"}]}`,
		`{"type":"attack-pattern","id":"attack-pattern--99999999-9999-4999-8999-999999999999","name":"PowerShell","external_references":[{"source_name":"mitre-attack","external_id":"T1059.001","url":"https://attack.mitre.org/techniques/T1059/001"}]}`,
		`{"type":"intrusion-set","id":"intrusion-set--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa","name":"APT1","aliases":["Comment Crew"]}`,
	))
	require.EqualValues(t, 5, rep.RecordsMapped)
	a, b := sink.byAlias()[idMalwareA], sink.byAlias()[idMalwareB]
	require.Equal(t, graph.NamedNode(graph.KindMalware, "poison ivy").ID, a.ID)
	require.Equal(t, a.ID, b.ID, "same normalized name, one node")
	require.Equal(t, "Poison Ivy", a.Name)
	require.Equal(t, []string{"rat"}, a.Labels)
	require.Equal(t, 80, *a.Confidence)
	require.Equal(t, []string{"test-feed"}, a.Sources)
	require.Equal(t, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), a.FirstSeen)
	require.Equal(t, time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC), a.LastSeen)
	require.Equal(t, map[string]any{"spec_version": "2.1", "created": "2020-01-01T00:00:00Z", "modified": "2020-02-01T00:00:00Z", "is_family": true, "x_vendor_score": 7.0}, a.Props)

	vuln := sink.byAlias()["vulnerability--88888888-8888-4888-8888-888888888888"]
	require.Equal(t, "CVE-2021-44228", vuln.Key)
	require.Equal(t, "Log4Shell", vuln.Name)
	ap := sink.byAlias()["attack-pattern--99999999-9999-4999-8999-999999999999"]
	require.Equal(t, "T1059.001", ap.Key)
	is := sink.byAlias()["intrusion-set--aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"]
	require.Equal(t, "apt1", is.Key)
	require.Equal(t, []any{"Comment Crew"}, is.Props["aliases"], "STIX aliases are props, not node aliases")
}

func TestMapMarkings(t *testing.T) {
	t.Parallel()
	obj := func(id string, extra string) string {
		return `{"type":"identity","id":"` + id + `","name":"x"` + extra + `}`
	}
	id := func(n int) string { return "identity--00000000-0000-4000-8000-00000000000" + string(rune('0'+n)) }
	sink, _, _ := load(t, bundle(
		obj(id(1), `,"object_marking_refs":["`+tlpGreen1+`"]`),
		obj(id(2), `,"object_marking_refs":["`+tlpGreen1+`","`+tlpRed1+`"]`),
		obj(id(3), `,"object_marking_refs":["`+tlpAmber2+`"]`),
		obj(id(4), `,"object_marking_refs":["`+tlpClear2+`"],"granular_markings":[{"marking_ref":"`+tlpAmber2+`","selectors":["description"]}],"description":"secret"`),
		// A TLP marking the feed defines, used after its definition...
		`{"type":"marking-definition","id":"`+idMarking+`","definition_type":"tlp","definition":{"tlp":"red"},"created":"2020-01-01T00:00:00Z"}`,
		obj(id(5), `,"object_marking_refs":["`+idMarking+`"]`),
		// ... a statement marking, kept in props ...
		obj(id(6), `,"object_marking_refs":["marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168","`+tlpGreen1+`"]`),
		`{"type":"relationship","id":"`+idRel+`","relationship_type":"Related-To","source_ref":"`+id(1)+`","target_ref":"`+id(2)+`","object_marking_refs":["`+idMarking+`"]}`,
		// ... and the TLP 2.0 marking-definition object itself.
		`{"type":"marking-definition","spec_version":"2.1","id":"marking-definition--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb","name":"TLP:AMBER+STRICT","extensions":{"extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d":{"extension_type":"property-extension","tlp_2_0":"amber+strict"}}}`,
		obj(id(7), `,"object_marking_refs":["marking-definition--bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"]`),
		obj(id(8), ``),
	))
	nodes := sink.byAlias()
	for n, want := range map[int]graph.TLP{1: "green", 2: "red", 3: "amber", 4: "amber", 5: "red", 6: "green", 7: "amber+strict", 8: ""} {
		require.Equal(t, want, nodes[id(n)].TLP, id(n))
	}
	require.Nil(t, nodes[id(1)].Props["object_marking_refs"], "predefined TLP refs become TLP only")
	require.Equal(t, []string{"marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"}, nodes[id(6)].Props["object_marking_refs"])
	require.Equal(t, graph.Kind("marking-definition"), nodes[idMarking].Kind)
	require.Len(t, sink.relations, 1)
	require.Equal(t, "related-to", sink.relations[0].Type)
	require.Equal(t, "red", sink.relations[0].Props["tlp"])
	require.Equal(t, map[string]any{"tlp": "red", "object_marking_refs": []string{idMarking}}, sink.relations[0].Props,
		"no id or created/modified in relation props")
	for _, r := range sink.relations {
		require.NotContains(t, r.Dst, "marking-definition--", "markings are TLP, not relations")
	}
}

// TestMapOpenCTIAmberStrictByID: OpenCTI and its connectors mark
// TLP:AMBER+STRICT with their own fixed id (marking-definition--826578e1-…;
// TLP 1.0, which the stix2 library predefines, has no AMBER+STRICT) and
// reference it by id alone, without its definition in the bundle. Such an
// object and relationship were stored with no TLP at all: the id is now
// TLP:AMBER+STRICT like the TLP 2.0 one, and also in a sighting.
func TestMapOpenCTIAmberStrictByID(t *testing.T) {
	t.Parallel()
	const strict = "marking-definition--826578e1-40ad-459f-bc73-ede076f81f37"
	a, b := "identity--00000000-0000-4000-8000-0000000000a1", "identity--00000000-0000-4000-8000-0000000000a2"
	sink, rep, _ := load(t, bundle(
		`{"type":"identity","spec_version":"2.1","id":"`+a+`","name":"strict a","object_marking_refs":["`+strict+`"]}`,
		`{"type":"identity","spec_version":"2.1","id":"`+b+`","name":"strict b","object_marking_refs":["`+strict+`","`+tlpGreen1+`"]}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+idRel+`","relationship_type":"related-to","source_ref":"`+a+`","target_ref":"`+b+`","object_marking_refs":["`+strict+`"]}`,
	))
	require.Zero(t, rep.DroppedTotal())
	nodes := sink.byAlias()
	require.Equal(t, graph.TLPAmberStrict, nodes[a].TLP)
	require.Equal(t, graph.TLPAmberStrict, nodes[b].TLP, "the strictest of its markings")
	require.Nil(t, nodes[a].Props["object_marking_refs"], "a TLP id becomes the TLP only")
	require.Len(t, sink.relations, 1)
	require.Equal(t, string(graph.TLPAmberStrict), sink.relations[0].Props["tlp"])
}

// TestMapMarkingDefinedAfterUse: a TLP marking the feed defines after the
// objects and relationships that name it (testdata/adv marking-after-use)
// marks them once it is read: each gets a record of the TLP alone, which
// the merge (strictest TLP) adds; a statement marking defined late, and a
// marking never defined, add nothing.
func TestMapMarkingDefinedAfterUse(t *testing.T) {
	t.Parallel()
	statement := "marking-definition--cccccccc-cccc-4ccc-8ccc-cccccccccccc"
	sink, rep, _ := load(t, bundle(
		`{"type":"identity","id":"`+idIdentity+`","name":"x","object_marking_refs":["`+idMarking+`"]}`,
		`{"type":"malware","id":"`+idMalwareA+`","name":"y","is_family":true,"object_marking_refs":["`+statement+`","marking-definition--dddddddd-dddd-4ddd-8ddd-dddddddddddd"]}`,
		`{"type":"relationship","id":"`+idRel+`","relationship_type":"uses","source_ref":"`+idMalwareA+`","target_ref":"`+idIdentity+`","object_marking_refs":["`+idMarking+`"]}`,
		`{"type":"marking-definition","id":"`+idMarking+`","definition_type":"tlp","definition":{"tlp":"amber"}}`,
		`{"type":"marking-definition","id":"`+statement+`","definition_type":"statement","definition":{"statement":"(c) x"}}`,
		`{"type":"malware","id":"`+idMalwareB+`","name":"z","is_family":true,"object_marking_refs":["`+idMarking+`"]}`,
	))
	require.EqualValues(t, 6, rep.RecordsMapped)
	merged := map[string]graph.Node{}
	for _, n := range graph.MergeNodes(sink.nodes) {
		for _, a := range n.Aliases {
			merged[a] = n
		}
	}
	require.Equal(t, graph.TLP("amber"), merged[idIdentity].TLP, "marked once its marking is read")
	require.Equal(t, []string{idMarking}, merged[idIdentity].Props["object_marking_refs"])
	require.Equal(t, graph.TLP("amber"), merged[idMalwareB].TLP)
	require.Equal(t, graph.TLP(""), merged[idMalwareA].TLP, "a statement or undefined marking is no TLP")
	rels := graph.MergeRelations(sink.relations)
	require.Len(t, rels, 1)
	require.Equal(t, "amber", rels[0].Props["tlp"])
}

// TestMapMarkingInNestedBundle: a TLP marking definition inside a bundle
// read as one record (a bundle in a JSON array) marks what names it, in
// that bundle, in later records and in earlier ones; it was never taken
// for a marking definition (the record's type is bundle), so a TLP:AMBER
// object of such a file was stored unmarked.
func TestMapMarkingInNestedBundle(t *testing.T) {
	t.Parallel()
	marked := `,"object_marking_refs":["` + idMarking + `"]}`
	sink, rep, _ := load(t, `[`+
		`{"type":"identity","id":"`+idIdentity+`","name":"x"`+marked+`,`+
		bundle(
			`{"type":"malware","id":"`+idMalwareA+`","name":"y","is_family":true`+marked,
			`{"type":"marking-definition","id":"`+idMarking+`","definition_type":"tlp","definition":{"tlp":"amber"}}`,
			`{"type":"relationship","id":"`+idRel+`","relationship_type":"uses","source_ref":"`+idMalwareA+`","target_ref":"`+idIdentity+`"`+marked,
		)+`,`+
		bundle(`{"type":"malware","id":"`+idMalwareB+`","name":"z","is_family":true`+marked)+
		`]`)
	require.EqualValues(t, 5, rep.RecordsMapped, "the identity and each object of the bundles")
	merged := map[string]graph.Node{}
	for _, n := range graph.MergeNodes(sink.nodes) {
		for _, a := range n.Aliases {
			merged[a] = n
		}
	}
	require.Equal(t, graph.TLP("amber"), merged[idMalwareA].TLP, "marked by the definition of its own bundle")
	require.Equal(t, graph.TLP("amber"), merged[idIdentity].TLP, "a record read before the bundle")
	require.Equal(t, graph.TLP("amber"), merged[idMalwareB].TLP, "a later bundle")
	rels := graph.MergeRelations(sink.relations)
	require.Len(t, rels, 1)
	require.Equal(t, "amber", rels[0].Props["tlp"])
}

// TestMapSightingLinksCarryItsMarking: a sighting's links (sighting-of,
// where-sighted) carry its TLP when a marking definition of the feed gives
// it, defined before the sighting or after, as they do for a predefined
// TLP marking; they carried none (testdata/adv/adv3-sighting-marking.json).
func TestMapSightingLinksCarryItsMarking(t *testing.T) {
	t.Parallel()
	red := "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
	sighting := func(n int, markings ...string) string {
		return `{"type":"sighting","id":"sighting--0000000` + strconv.Itoa(n) + `-0000-4000-8000-000000000000","sighting_of_ref":"` + idIndicator +
			`","where_sighted_refs":["` + idIdentity + `"],"object_marking_refs":["` + strings.Join(markings, `","`) + `"]}`
	}
	sink, _, _ := load(t, bundle(
		sighting(1, idMarking),
		`{"type":"marking-definition","id":"`+idMarking+`","definition_type":"tlp","definition":{"tlp":"amber"}}`,
		sighting(2, idMarking),
		sighting(3, idMarking, red),
	))
	want := map[string]string{"sighting--00000001": "amber", "sighting--00000002": "amber", "sighting--00000003": "red"}
	byRef := map[graph.Ref]string{}
	for _, n := range graph.MergeNodes(sink.nodes) {
		for _, a := range n.Aliases {
			if w, ok := want[a[:18]]; ok {
				byRef[n.Ref()] = w
				require.Equal(t, graph.TLP(w), n.TLP, a)
			}
		}
	}
	links := 0
	for _, r := range graph.MergeRelations(sink.relations) {
		if w, ok := byRef[r.Src]; ok {
			links++
			require.Equal(t, w, r.Props["tlp"], "%s %s", r.Src, r.Type)
		}
	}
	require.Equal(t, 6, links, "sighting-of and where-sighted of each")
}

// TestMapRelationshipConfidence: a relationship's confidence is the
// relation's (it was read after props had taken it out of the object, and
// every relationship lost it).
func TestMapRelationshipConfidence(t *testing.T) {
	t.Parallel()
	sink, _, _ := load(t, bundle(
		`{"type":"relationship","spec_version":"2.1","id":"`+idRel+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z",
		  "relationship_type":"uses","source_ref":"`+idMalwareA+`","target_ref":"`+idMalwareB+`","confidence":85}`,
	))
	require.Len(t, sink.relations, 1)
	r := sink.relations[0]
	require.NotNil(t, r.Confidence, "the relationship's confidence is kept")
	require.Equal(t, 85, *r.Confidence)
	require.NotContains(t, r.Props, "confidence", "a field, not a prop")
}

func TestMapReferences(t *testing.T) {
	t.Parallel()
	sink, _, logs := load(t, bundle(
		`{"type":"identity","id":"`+idIdentity+`","name":"ACME CERT","identity_class":"organization"}`,
		`{"type":"report","id":"`+idReport+`","name":"R","created_by_ref":"`+idIdentity+`","published":"2020-01-01T00:00:00Z",
		  "object_refs":["`+idMalwareA+`","`+idRel+`","mandiant:ttp-1"],"x_custom_ref":"`+idMalwareB+`"}`,
		`{"type":"malware","id":"`+idMalwareA+`","name":"M","is_family":false,"sample_refs":["file--cccccccc-cccc-4ccc-8ccc-cccccccccccc"]}`,
	))
	report := sink.byAlias()[idReport]
	require.Equal(t, []string{idIdentity}, relationsOf(sink, report, "created-by"))
	require.Equal(t, []string{idMalwareA, idRel}, relationsOf(sink, report, "object"),
		"a reference to a relationship is a relation to its id, which the store links to both its ends")
	require.Equal(t, []string{idMalwareB}, relationsOf(sink, report, "x-custom"))
	require.Equal(t, []any{"mandiant:ttp-1"}, report.Props["object_refs"],
		"non-identifiers stay in props")
	require.NotContains(t, report.Props, "created_by_ref")
	require.Equal(t, []string{"file--cccccccc-cccc-4ccc-8ccc-cccccccccccc"}, relationsOf(sink, sink.byAlias()[idMalwareA], "sample"))
	require.Len(t, problemsFrom(logs), 1)
	require.Equal(t, "warn object_refs "+idReport, problemsFrom(logs)[0])
}

func TestMapObservables(t *testing.T) {
	t.Parallel()
	sha := "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
	fileID := "file--dddddddd-dddd-4ddd-8ddd-dddddddddddd"
	dirID := "directory--eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"
	sink, _, _ := load(t, bundle(
		`{"type":"directory","id":"`+dirID+`","path":"C:\\Windows"}`,
		`{"type":"file","id":"`+fileID+`","name":"evil.exe","hashes":{"SHA-256":"`+sha+`","MD5":"d41d8cd98f00b204e9800998ecf8427e"},"parent_directory_ref":"`+dirID+`","size":42,"x_misp_comment":"seen"}`,
		`{"type":"ipv4-addr","id":"ipv4-addr--ffffffff-ffff-4fff-8fff-ffffffffffff","value":"198.51.100.7","resolves_to_refs":["mac-addr--00000000-0000-4000-8000-000000000001"]}`,
		`{"type":"process","id":"process--00000000-0000-4000-8000-000000000002","pid":4,"command_line":"cmd.exe"}`,
	))
	nodes := sink.byAlias()
	file := nodes[fileID]
	// Its parent directory reference is what the directory object of the
	// feed resolves to (its deterministic id), not the feed's id of it.
	wantID, ok := stixid.ObservableID("file", map[string]any{
		"name": "evil.exe", "hashes": map[string]any{"SHA-256": strings.ToLower(sha), "MD5": "d41d8cd98f00b204e9800998ecf8427e"},
		"parent_directory_ref": graph.ValueNode(graph.KindDirectory, `C:\Windows`).Aliases[0],
	})
	require.True(t, ok)
	require.Equal(t, graph.ObservableID(graph.KindFile, wantID), file.ID, "from the STIX deterministic id of the normalised object, not the feed's")
	require.Equal(t, graph.KindFile, file.Kind)
	require.Equal(t, "evil.exe", file.Name)
	require.Equal(t, "seen", file.Props["x_misp_comment"])
	require.Equal(t, []string{dirID}, relationsOf(sink, file, "parent-directory"))
	hashes := relationsOf(sink, file, graph.RelHasHash)
	require.ElementsMatch(t, []string{string(graph.HashNode("MD5", "d41d8cd98f00b204e9800998ecf8427e").Ref()), string(graph.HashNode("SHA-256", sha).Ref())}, hashes)

	ip := nodes["ipv4-addr--ffffffff-ffff-4fff-8fff-ffffffffffff"]
	require.Equal(t, graph.ValueNode(graph.KindIPv4Addr, "198.51.100.7").ID, ip.ID)
	require.Equal(t, "198.51.100.7", ip.Key)
	require.Equal(t, []string{"mac-addr--00000000-0000-4000-8000-000000000001"}, relationsOf(sink, ip, "resolves-to"))

	proc := nodes["process--00000000-0000-4000-8000-000000000002"]
	require.Equal(t, graph.SourceNode(graph.KindProcess, "process--00000000-0000-4000-8000-000000000002").ID, proc.ID,
		"no ID-contributing properties: keyed by id")
}

// sha256Hex is a valid SHA-256 value (of the empty input).
const sha256Hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

func TestMapIndicatorPatterns(t *testing.T) {
	t.Parallel()
	sink, _, _ := load(t, bundle(
		`{"type":"indicator","spec_version":"2.1","id":"`+idIndicator+`","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z",
		  "valid_from":"2021-01-02T00:00:00Z","pattern_type":"stix","confidence":60,"object_marking_refs":["`+tlpAmber2+`"],
		  "pattern":"[ipv4-addr:value = '203.0.113.5' OR file:hashes.'SHA-256' = '`+sha256Hex+`'] AND [domain-name:value = 'evil.test']"}`,
		`{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000003","pattern_type":"snort","pattern":"alert tcp any any -> any 80 (msg:\"x\";)"}`,
		`{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000004","pattern":"[url:value = 'http://evil.test/']","labels":["malicious-activity"]}`,
	))
	nodes := sink.byAlias()
	ind := nodes[idIndicator]
	require.ElementsMatch(t, []string{
		string(graph.ValueNode(graph.KindIPv4Addr, "203.0.113.5").Ref()),
		string(graph.HashNode("SHA-256", sha256Hex).Ref()),
		string(graph.ValueNode(graph.KindDomainName, "evil.test").Ref()),
	}, relationsOf(sink, ind, graph.RelBasedOn))
	for _, n := range sink.nodes {
		if n.Kind == graph.KindIPv4Addr {
			require.Equal(t, graph.TLP("amber"), n.TLP, "observables carry the indicator's marking")
			require.Equal(t, time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC), n.FirstSeen)
		}
	}
	snort := nodes["indicator--00000000-0000-4000-8000-000000000003"]
	require.Empty(t, relationsOf(sink, snort, graph.RelBasedOn))
	require.Equal(t, "snort", snort.Props["pattern_type"])
	require.Contains(t, snort.Props["pattern"], "alert tcp")
	v20 := nodes["indicator--00000000-0000-4000-8000-000000000004"]
	require.Equal(t, []string{string(graph.ValueNode(graph.KindURL, "http://evil.test/").Ref())}, relationsOf(sink, v20, graph.RelBasedOn),
		"STIX 2.0 indicators have no pattern_type")
}

func TestMapSighting(t *testing.T) {
	t.Parallel()
	sid := "sighting--00000000-0000-4000-8000-000000000005"
	sink, rep, _ := load(t, bundle(
		`{"type":"sighting","id":"`+sid+`","sighting_of_ref":"`+idIndicator+`","where_sighted_refs":["`+idIdentity+`"],
		  "observed_data_refs":["observed-data--00000000-0000-4000-8000-000000000006","example:Observable-1"],"count":3,
		  "first_seen":"2021-01-01T00:00:00Z","last_seen":"2021-01-03T00:00:00Z","created_by_ref":"`+idIdentity+`"}`,
	))
	require.EqualValues(t, 1, rep.Sightings)
	n := sink.byAlias()[sid]
	require.Equal(t, graph.KindSighting, n.Kind)
	require.Equal(t, 3.0, n.Props["count"])
	require.Equal(t, []any{"example:Observable-1"}, n.Props["observed_data_refs"])
	require.Equal(t, []string{idIndicator}, relationsOf(sink, n, graph.RelSightingOf))
	require.Equal(t, []string{idIdentity}, relationsOf(sink, n, graph.RelWhereSighted))
	require.Equal(t, []string{"observed-data--00000000-0000-4000-8000-000000000006"}, relationsOf(sink, n, graph.RelObserved))
	require.Equal(t, []string{idIdentity}, relationsOf(sink, n, "created-by"))
}

func TestMapCustomAndExtensionTypes(t *testing.T) {
	t.Parallel()
	sink, _, _ := load(t, bundle(
		`{"type":"x-mitre-tactic","id":"x-mitre-tactic--00000000-0000-4000-8000-000000000007","name":"Execution","x_mitre_shortname":"execution"}`,
		`{"type":"weakness","spec_version":"2.1","id":"weakness--00000000-0000-4000-8000-000000000008","name":"CWE-1004","non_standard_refs":["`+idMalwareA+`"],
		  "extensions":{"extension-definition--31725edc-7d81-5db7-908a-9134ea450521":{"extension_type":"new-sdo"}}}`,
	))
	nodes := sink.byAlias()
	tactic := nodes["x-mitre-tactic--00000000-0000-4000-8000-000000000007"]
	require.Equal(t, graph.Kind("x-mitre-tactic"), tactic.Kind)
	require.Equal(t, "x-mitre-tactic--00000000-0000-4000-8000-000000000007", tactic.Key)
	require.Equal(t, "Execution", tactic.Name)
	require.Equal(t, "execution", tactic.Props["x_mitre_shortname"])
	weak := nodes["weakness--00000000-0000-4000-8000-000000000008"]
	require.Equal(t, []string{idMalwareA}, relationsOf(sink, weak, "non-standard"))
	require.Contains(t, weak.Props, "extensions")
}

func TestMapEmbeddedObservables(t *testing.T) {
	t.Parallel()
	od := "observed-data--00000000-0000-4000-8000-000000000009"
	sink, _, _ := load(t, `{"type":"bundle","spec_version":"2.0","objects":[
	  {"type":"observed-data","id":"`+od+`","created":"2017-01-01T00:00:00Z","modified":"2017-01-01T00:00:00Z",
	   "first_observed":"2017-01-01T00:00:00Z","last_observed":"2017-01-02T00:00:00Z","number_observed":1,
	   "objects":{"0":{"type":"ipv4-addr","value":"198.51.100.3"},"1":{"type":"ipv4-addr","value":"198.51.100.4"},
	              "2":{"type":"network-traffic","src_ref":"0","dst_ref":"1","protocols":["tcp"]},
	              "3":{"type":"process","pid":1,"opened_connection_refs":["2"]}}}]}`)
	nodes := sink.byAlias()
	obs := nodes[od]
	src := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.3")
	dst := graph.ValueNode(graph.KindIPv4Addr, "198.51.100.4")
	srcUUID, _ := stixid.ObservableID("ipv4-addr", map[string]any{"value": "198.51.100.3"})
	dstUUID, _ := stixid.ObservableID("ipv4-addr", map[string]any{"value": "198.51.100.4"})
	srcID, dstID := stixid.STIXID("ipv4-addr", srcUUID), stixid.STIXID("ipv4-addr", dstUUID)
	require.Equal(t, src.ID, graph.ObservableID(graph.KindIPv4Addr, srcUUID))
	require.Equal(t, dst.ID, graph.ObservableID(graph.KindIPv4Addr, dstUUID))
	nt, ok := stixid.ObservableID("network-traffic", map[string]any{"src_ref": srcID, "dst_ref": dstID, "protocols": []any{"tcp"}})
	require.True(t, ok)
	ntID := stixid.STIXID("network-traffic", nt)
	require.Len(t, relationsOf(sink, obs, "object"), 4)
	require.Contains(t, relationsOf(sink, obs, "object"), ntID)
	traffic := nodes[ntID]
	require.Equal(t, graph.ObservableID(graph.KindNetworkTraffic, nt), traffic.ID, "2.0 refs rewritten to 2.1 identifiers before the id is computed")
	require.Equal(t, []string{srcID}, relationsOf(sink, traffic, "src"))
	require.Equal(t, []string{dstID}, relationsOf(sink, traffic, "dst"))
	require.Equal(t, time.Date(2017, 1, 2, 0, 0, 0, 0, time.UTC), nodes[srcID].LastSeen, "embedded objects take the observed-data's times")
	var proc graph.Node
	for _, n := range sink.nodes {
		if n.Kind == graph.KindProcess {
			proc = n
		}
	}
	require.Equal(t, []string{ntID}, relationsOf(sink, proc, "opened-connection"))
	require.NotContains(t, obs.Props, "objects")
}

// TestMapEmbeddedEntriesWithoutType: an entry of a STIX 2.0 "objects"
// dictionary that is not an object with a type makes no node; it stays in
// the observed-data's props with a warning (it vanished without a word).
func TestMapEmbeddedEntriesWithoutType(t *testing.T) {
	t.Parallel()
	od := "observed-data--00000000-0000-4000-8000-00000000000a"
	sink, rep, logs := load(t, `{"type":"bundle","spec_version":"2.0","objects":[
	  {"type":"observed-data","id":"`+od+`","created":"2017-01-01T00:00:00Z","modified":"2017-01-01T00:00:00Z",
	   "first_observed":"2017-01-01T00:00:00Z","last_observed":"2017-01-02T00:00:00Z","number_observed":1,
	   "objects":{"0":{"type":"ipv4-addr","value":"198.51.100.3"},"1":{"value":"198.51.100.4"},"2":"junk"}}]}`)
	require.Empty(t, rep.Dropped)
	obs := sink.byAlias()[od]
	require.Len(t, relationsOf(sink, obs, "object"), 1)
	require.Equal(t, map[string]any{"1": map[string]any{"value": "198.51.100.4"}, "2": "junk"}, obs.Props["objects"])
	require.Equal(t, []string{"warn objects.1 " + od, "warn objects.2 " + od}, problemsFrom(logs))
}

func TestMapDrops(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, obj string
		reason    engine.Reason
	}{
		{"not an object", `42`, engine.ReasonNotObject},
		{"no type", `{"id":"malware--11111111-1111-4111-8111-111111111111"}`, engine.ReasonMissingType},
		{"type not a string", `{"type":7,"id":"malware--11111111-1111-4111-8111-111111111111"}`, engine.ReasonInvalidProperty},
		{"no id", `{"type":"malware","name":"x"}`, engine.ReasonMissingID},
		{"id not an identifier", `{"type":"malware","id":"malware-1"}`, ReasonInvalidID},
		{"id not a uuid", `{"type":"malware","id":"malware--not-a-uuid"}`, ReasonInvalidID},
		{"id of another type", `{"type":"malware","id":"tool--11111111-1111-4111-8111-111111111111"}`, ReasonIDTypeMismatch},
		{"bad timestamp", `{"type":"malware","id":"` + idMalwareA + `","created":"yesterday"}`, ReasonInvalidTimestamp},
		{"timestamp not a string", `{"type":"malware","id":"` + idMalwareA + `","modified":20200101}`, ReasonInvalidTimestamp},
		{"modified before created", `{"type":"malware","id":"` + idMalwareA + `","created":"2020-01-02T00:00:00Z","modified":"2020-01-01T00:00:00Z"}`, ReasonInvalidTimestamp},
		{"last seen before first seen", `{"type":"campaign","id":"campaign--11111111-1111-4111-8111-111111111111","first_seen":"2020-01-02T00:00:00Z","last_seen":"2020-01-01T00:00:00Z"}`, ReasonInvalidTimestamp},
		{"confidence out of range", `{"type":"malware","id":"` + idMalwareA + `","confidence":101}`, engine.ReasonInvalidProperty},
		{"confidence not a number", `{"type":"malware","id":"` + idMalwareA + `","confidence":"high"}`, engine.ReasonInvalidProperty},
		{"labels not strings", `{"type":"malware","id":"` + idMalwareA + `","labels":[1]}`, engine.ReasonInvalidProperty},
		{"name not a string", `{"type":"malware","id":"` + idMalwareA + `","name":["x"]}`, engine.ReasonInvalidProperty},
		{"marking refs not a list", `{"type":"malware","id":"` + idMalwareA + `","object_marking_refs":"` + tlpRed1 + `"}`, engine.ReasonInvalidProperty},
		{"external references not objects", `{"type":"malware","id":"` + idMalwareA + `","external_references":["x"]}`, engine.ReasonInvalidProperty},
		{"relationship without target", `{"type":"relationship","id":"` + idRel + `","relationship_type":"uses","source_ref":"` + idMalwareA + `"}`, ReasonMissingProperty},
		{"relationship without type", `{"type":"relationship","id":"` + idRel + `","source_ref":"` + idMalwareA + `","target_ref":"` + idMalwareB + `"}`, ReasonMissingProperty},
		{"relationship to a non-identifier", `{"type":"relationship","id":"` + idRel + `","relationship_type":"uses","source_ref":"x","target_ref":"` + idMalwareB + `"}`, ReasonInvalidReference},
		{"sighting of nothing", `{"type":"sighting","id":"sighting--11111111-1111-4111-8111-111111111111"}`, ReasonMissingProperty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			good := `{"type":"identity","id":"` + idIdentity + `","name":"ok"}`
			sink, rep, logs := load(t, bundle(good, tt.obj, good))
			require.Equal(t, map[engine.Reason]int64{tt.reason: 1}, rep.Dropped)
			require.EqualValues(t, 3, rep.RecordsRead)
			require.EqualValues(t, 2, rep.RecordsMapped)
			require.Len(t, sink.nodes, 2)
			var warn *logRecord
			for i := range logs {
				if logs[i].msg == "record dropped" {
					warn = &logs[i]
				}
			}
			require.NotNil(t, warn)
			require.Equal(t, "test-feed", warn.attrs["feed"])
			require.EqualValues(t, 1, warn.attrs["record"])
			require.EqualValues(t, strings.Index(bundle(good, tt.obj, good), tt.obj), warn.attrs["offset"])
			require.Equal(t, tt.reason, warn.attrs["reason"])
		})
	}
}

func TestMapNestedBundle(t *testing.T) {
	t.Parallel()
	sink, rep, _ := load(t, `[`+bundle(`{"type":"identity","id":"`+idIdentity+`","name":"inner"}`)+`,{"type":"malware","id":"`+idMalwareA+`","name":"outer"}]`)
	require.EqualValues(t, 2, rep.RecordsMapped)
	require.Contains(t, sink.byAlias(), idIdentity)
	require.Contains(t, sink.byAlias(), idMalwareA)
}

// TestWorkersDoNotChangeTheOutput loads the same feed with 1 and 4 workers:
// the sink sees the same records in the same order.
func TestWorkersDoNotChangeTheOutput(t *testing.T) {
	t.Parallel()
	feed, err := io.ReadAll(newGenerator(3000, 0))
	require.NoError(t, err)
	var outs []*recordingSink
	for _, w := range []int{1, 4} {
		sink := &recordingSink{}
		_, err := Load(context.Background(), bytes.NewReader(feed), sink, Options{Workers: w, BatchSize: 100, Logger: quietLogger})
		require.NoError(t, err)
		outs = append(outs, sink)
	}
	require.Equal(t, outs[0].nodes, outs[1].nodes)
	require.Equal(t, outs[0].relations, outs[1].relations)
}

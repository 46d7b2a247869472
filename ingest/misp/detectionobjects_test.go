package misp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
)

// excerpts is the repository's testdata/excerpts (SOURCES.md there).
var excerpts = filepath.Join("..", "..", "testdata", "excerpts")

// TestPatterningObjectsAreTheExportsIndicators: misp-stix's test event
// with a sigma, a suricata and a yara object
// (testdata/excerpts/misp-stix-patterning-objects.json, its
// get_event_with_patterning_language_objects) is exported by misp-stix as
// three indicators, whatever to_ids says (misp_to_stix21.py
// _parse_sigma_object, _parse_suricata_object, _parse_yara_object):
// indicator--<object uuid>, the rule its pattern, pattern_type the rule
// attribute's type (sigma, snort for the suricata object's snort
// attribute, yara), the rule name its name, the comment its description,
// the version its pattern_version (test_stix21_bundles.py
// _PATTERNING_LANGUAGE_OBJECTS). Each is that indicator here. Before,
// each was an x-misp-object-<name> node with the rule in its props: no
// indicator, so an analyst asking for the event's indicators did not get
// its detection rules, and the event and its misp-stix export gave two
// nodes for each object.
func TestPatterningObjectsAreTheExportsIndicators(t *testing.T) {
	t.Parallel()
	rep, sink, _, err := loadFile(t, filepath.Join(excerpts, "misp-stix-patterning-objects.json"), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	for _, want := range []struct {
		uuid, name, patternType, version, description, patternStart string
	}{
		{"c8c418e3-b61c-4d40-a1fc-b10cec6585d7", "Ps.exe", "sigma", "", "Detects renamed SysInternals tool execution", "title: Ps.exe Renamed SysInternals Tool"},
		{"efc15547-4fe9-4188-aa71-b688e1bfa59c", "alert http any 443 -> 8.8.8.8 any", "snort", "3.1.6", "To rule them all", "alert http any 443 -> 8.8.8.8 any"},
		{"cafdd27e-c3e2-4f7a-88b4-4c1c98f18be7", "Ultimate rule", "yara", "4.1.0", "To rule them all", "rule torcryptomining {"},
	} {
		n, ok := sink.byAlias(alias(want.uuid))
		require.True(t, ok, want.uuid)
		require.Equal(t, graph.KindIndicator, n.Kind, want.uuid)
		require.Equal(t, "indicator--"+want.uuid, n.Key, want.uuid)
		require.Equal(t, want.name, n.Name, want.uuid)
		require.Equal(t, want.patternType, n.Props["pattern_type"], want.uuid)
		require.True(t, strings.HasPrefix(n.Props["pattern"].(string), want.patternStart), "%s: %v", want.uuid, n.Props["pattern"])
		require.True(t, strings.HasPrefix(n.Props["description"].(string), want.description), "%s: %v", want.uuid, n.Props["description"])
		if want.version != "" {
			require.Equal(t, want.version, n.Props["pattern_version"], want.uuid)
		}
		require.NotContains(t, n.Props, n.Props["misp_object"], "the rule is the pattern, not kept twice")
	}
	for _, n := range sink.nodes {
		require.False(t, strings.HasPrefix(string(n.Kind), KindObjectPrefix), "no node of a rule object alone: %s", n.Key)
	}
	// The suricata object's reference (a link) is in its props, as
	// misp-stix's external reference of the indicator: no url node
	// (TestLinkIsAReferenceNotAnIoC).
	suricata, _ := sink.byAlias(alias("efc15547-4fe9-4188-aa71-b688e1bfa59c"))
	require.Equal(t, "https://suricata.readthedocs.io/en/suricata-6.0.4/index.html", suricata.Props["ref"])
	_, ok := sink.byID(graph.ValueNode(graph.KindURL, "https://suricata.readthedocs.io/en/suricata-6.0.4/index.html").Ref())
	require.False(t, ok, "the rule's reference is no url node")
}

// TestSTIXPatternObjectIsItsIndicator: a stix2-pattern object (MISP's
// template stix2-pattern: the pattern, a comment and a version) is, as
// misp-stix's _parse_stix_pattern_object exports it, the indicator of
// its pattern (pattern_type stix, pattern_version the version without
// "STIX"), based on the observables the pattern compares as any STIX
// indicator; a pattern not understood keeps the indicator and is said.
// The event is built on the template (no published event holds one).
func TestSTIXPatternObjectIsItsIndicator(t *testing.T) {
	t.Parallel()
	const doc = `{"Event": {"uuid": "0c5bd072-0000-4000-8000-000000000001", "info": "stix2-pattern object", "date": "2020-10-25", "timestamp": "1603642920",
	  "Object": [
	    {"name": "stix2-pattern", "meta-category": "misc", "uuid": "0c5bd072-0000-4000-8000-000000000002", "timestamp": "1603642920",
	     "Attribute": [
	       {"type": "stix2-pattern", "object_relation": "stix2-pattern", "value": "[domain-name:value = 'evil.example']"},
	       {"type": "comment", "object_relation": "comment", "value": "C2 domain"},
	       {"type": "text", "object_relation": "version", "value": "stix 2.1"}]},
	    {"name": "stix2-pattern", "meta-category": "misc", "uuid": "0c5bd072-0000-4000-8000-000000000003", "timestamp": "1603642920",
	     "Attribute": [
	       {"type": "stix2-pattern", "object_relation": "stix2-pattern", "value": "[NOT domain-name:value = 'x']"}]}]}}`
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	n, ok := sink.byAlias(alias("0c5bd072-0000-4000-8000-000000000002"))
	require.True(t, ok)
	require.Equal(t, "indicator--0c5bd072-0000-4000-8000-000000000002", n.Key)
	require.Equal(t, "stix", n.Props["pattern_type"])
	require.Equal(t, "2.1", n.Props["pattern_version"])
	require.Equal(t, "C2 domain", n.Props["description"])
	require.Equal(t, []graph.Ref{graph.ValueNode(graph.KindDomainName, "evil.example").Ref()}, basedOn(sink, n.Ref()))
	bad, ok := sink.byAlias(alias("0c5bd072-0000-4000-8000-000000000003"))
	require.True(t, ok)
	require.Equal(t, graph.KindIndicator, bad.Kind)
	require.Empty(t, basedOn(sink, bad.Ref()))
	require.EqualValues(t, 1, rep.PartsDropped[stix.ReasonInvalidPattern], "the pattern not understood is said: %+v", rep.PartsDropped)
}

// imageLnkExport are misp-stix's indicators of the image and lnk objects
// of testdata/excerpts/misp-stix-image-lnk-objects.json flagged to_ids
// (misp-stix documentation/misp_objects_to_stix21.md), less what the
// graph does not keep: an attachment's data (payload_bin); a hash is
// compared as this mapper compares a file object's ('SHA-1', the form of
// the misp-stix exports in testdata/mispstix), where that documentation
// writes SHA1.
var imageLnkExport = map[string]string{
	"939b2f03-c487-4f62-a90e-cab7acfee294": "[file:name = 'STIX.png' AND file:content_ref.mime_type = 'image/png' AND file:content_ref.x_misp_filename = 'STIX.png' AND file:content_ref.url = 'https://oasis-open.github.io/cti-documentation/img/STIX.png' AND file:x_misp_image_text = 'STIX']",
	"153ef8d5-9182-45ec-bf1c-5819932b9ab7": "[file:atime = '2021-01-01T00:00:00Z' AND file:ctime = '2017-10-01T08:00:00Z' AND file:mtime = '2020-10-25T16:22:00Z' AND file:name = 'oui' AND file:parent_directory_ref.path = '/var/www/MISP/app/files/scripts/tmp' AND file:hashes.MD5 = '8764605c6f388c89096b534d33565802' AND file:hashes.'SHA-1' = '46aba99aa7158e4609aaa72b50990842fd22ae86' AND file:hashes.'SHA-256' = 'ec5aedf5ecc6bdadd4120932170d1b10f6cfa175cfda22951dfd882928ab279b' AND (file:content_ref.x_misp_filename = 'oui' AND file:content_ref.hashes.MD5 = '8764605c6f388c89096b534d33565802' AND file:content_ref.mime_type = 'application/zip' AND file:content_ref.encryption_algorithm = 'mime-type-indicated' AND file:content_ref.decryption_key = 'infected') AND file:size = '35']",
}

// TestImageAndLnkObjectsAreFiles: misp-stix exports an image object as
// the file it names (its name, the image as its content) and an lnk
// object as the shortcut file (its hashes, name, size, times, directory),
// or, with a to_ids attribute, as one indicator of the whole object
// (misp_to_stix2.py _parse_image_object, _parse_lnk_object). So here: not
// to_ids, the image is the file STIX.png and the lnk the file keyed by
// its hashes and name (the object's uuid its alias, as a file object's);
// to_ids, each is indicator--<object uuid> with misp-stix's pattern,
// based on what it compares, the file written beside it. Before, both
// were x-misp-object-<name> nodes: the lnk's hashes reached it only
// through has-attribute, and a to_ids object was no indicator.
func TestImageAndLnkObjectsAreFiles(t *testing.T) {
	t.Parallel()
	path := filepath.Join(excerpts, "misp-stix-image-lnk-objects.json")
	rep, sink, _, err := loadFile(t, path, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	img, ok := sink.byAlias(alias("939b2f03-c487-4f62-a90e-cab7acfee294"))
	require.True(t, ok)
	want, _, _ := graph.FileNode(nil, "STIX.png")
	require.Equal(t, want.ID, img.ID, "the image is the file it names")
	lnk, ok := sink.byAlias(alias("153ef8d5-9182-45ec-bf1c-5819932b9ab7"))
	require.True(t, ok)
	want, _, _ = graph.FileNode(map[string]string{
		"MD5": "8764605c6f388c89096b534d33565802", "SHA-1": "46aba99aa7158e4609aaa72b50990842fd22ae86",
		"SHA-256": "ec5aedf5ecc6bdadd4120932170d1b10f6cfa175cfda22951dfd882928ab279b",
	}, "oui")
	require.Equal(t, want.ID, lnk.ID, "the lnk is the shortcut file, keyed by its hashes")
	require.Equal(t, "35", lnk.Props["size"])

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	ids := strings.ReplaceAll(strings.ReplaceAll(string(raw), `"object_relation": "filename",`, `"object_relation": "filename", "to_ids": true,`),
		`"a6ef17d6-91cb-4a05-b10b-2f045daf874`, `"b6ef17d6-91cb-4a05-b10b-2f045daf874`) // other events
	rep, sink, err = loadString(t, ids, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	for uuid, pattern := range imageLnkExport {
		n, ok := sink.byAlias(alias(uuid))
		require.True(t, ok, uuid)
		require.Equal(t, "indicator--"+uuid, n.Key, uuid)
		require.Equal(t, pattern, n.Props["pattern"], uuid)
		require.NotEmpty(t, basedOn(sink, n.Ref()), uuid)
	}
	lnkInd, _ := sink.byAlias(alias("153ef8d5-9182-45ec-bf1c-5819932b9ab7"))
	md5 := graph.ValueNode(graph.KindHash, "MD5:8764605c6f388c89096b534d33565802").Ref()
	require.Contains(t, basedOn(sink, lnkInd.Ref()), md5)
}

package misp

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
)

// loadSTIX loads a STIX document with the STIX loader into a capture sink.
func loadSTIX(t *testing.T, doc string, feed string) *captureSink {
	t.Helper()
	sink := &captureSink{}
	opts := stix.Options{Feed: feed, Workers: 2, BatchSize: 64, Logger: quiet(nil).Logger}
	_, err := stix.Load(context.Background(), strings.NewReader(doc), sink, opts)
	require.NoError(t, err)
	return sink
}

// constructedSTIX holds, as STIX 2.1, what the MISP event of
// TestCrossFormatConstructed holds: an ipv4-addr, a SHA-256 indicator
// pattern, a file with name and hash, a domain-name with its address.
const constructedSTIX = `{"type": "bundle", "id": "bundle--7d1f5b3c-3c1e-4f6a-9d45-0c1c2b3a4d5e", "objects": [
 {"type": "ipv4-addr", "spec_version": "2.1", "id": "ipv4-addr--4f9a1e7c-9a2b-5d8c-8e7f-123456789abc", "value": "198.51.100.7"},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--2a9d2f4c-6b1e-4c3d-9e8f-0a1b2c3d4e5f",
  "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "valid_from": "2024-01-01T00:00:00Z",
  "pattern_type": "stix", "pattern": "[file:hashes.'SHA-256' = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855']"},
 {"type": "file", "spec_version": "2.1", "id": "file--00000000-0000-4000-8000-00000000f11e", "name": "a.exe",
  "hashes": {"SHA-256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}},
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--3b8e3f5d-7c2f-4d4e-8f9a-1b2c3d4e5f60",
  "created": "2024-01-01T00:00:00.000Z", "modified": "2024-01-01T00:00:00.000Z", "valid_from": "2024-01-01T00:00:00Z",
  "pattern_type": "stix", "pattern": "[domain-name:value = 'evil.example.com']"}
]}`

// TestCrossFormatConstructed: a MISP ip-dst, sha256, filename|sha256 and
// domain and the STIX objects and patterns with the same values give the
// same node ids.
func TestCrossFormatConstructed(t *testing.T) {
	t.Parallel()
	doc := event(u(1), "cross-format", []string{
		attr(u(2), "ip-dst", "198.51.100.7"),
		attr(u(3), "sha256", sha256a),
		attr(u(4), "filename|sha256", "a.exe|"+sha256a),
		attr(u(5), "domain", "evil.example.com"),
	})
	_, mispSink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	stixSink := loadSTIX(t, constructedSTIX, "stix-feed")

	ip, _ := mispSink.byAlias(alias(u(2)))
	stixIP, ok := stixSink.byAlias("ipv4-addr--4f9a1e7c-9a2b-5d8c-8e7f-123456789abc")
	require.True(t, ok)
	require.Equal(t, stixIP.ID, ip.ID, "ip-dst and ipv4-addr")
	require.Equal(t, graph.ObservableID(graph.KindIPv4Addr, stixID(`{"value":"198.51.100.7"}`)), ip.ID)

	hash, _ := mispSink.byAlias(alias(u(3)))
	ind := graph.SourceNode(graph.KindIndicator, "indicator--2a9d2f4c-6b1e-4c3d-9e8f-0a1b2c3d4e5f")
	require.Contains(t, basedOn(stixSink, ind.Ref()), hash.Ref(), "sha256 and [file:hashes.'SHA-256' = …]")

	file, _ := mispSink.byAlias(alias(u(4)))
	stixFile, ok := stixSink.byAlias("file--00000000-0000-4000-8000-00000000f11e")
	require.True(t, ok)
	require.Equal(t, stixFile.ID, file.ID, "filename|sha256 and file")
	require.True(t, hasRelation(stixSink, stixFile.Ref(), graph.RelHasHash, hash.Ref()), "both files reach the same hash node")

	domain, _ := mispSink.byAlias(alias(u(5)))
	ind = graph.SourceNode(graph.KindIndicator, "indicator--3b8e3f5d-7c2f-4d4e-8f9a-1b2c3d4e5f60")
	require.Contains(t, basedOn(stixSink, ind.Ref()), domain.Ref(), "domain and [domain-name:value = …]")
}

// basedOn lists the refs an indicator is linked to by its pattern.
func basedOn(sink *captureSink, indicator graph.Ref) []graph.Ref {
	sink.mu.Lock()
	defer sink.mu.Unlock()
	var out []graph.Ref
	for _, r := range sink.relations {
		if r.Src == indicator && r.Type == graph.RelBasedOn {
			out = append(out, r.Dst)
		}
	}
	return out
}

// TestCrossFormatMISPSTIXExport: misp-stix's own test events and their STIX
// 2.1 export (testdata) share the domain circl.lu, AS174 and the
// MISP-Project organisation: each is one node.
func TestCrossFormatMISPSTIXExport(t *testing.T) {
	t.Parallel()
	rep, mispSink, _, err := loadFile(t, filepath.Join(testdata, "test_events_collection_1.json"), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	data, err := os.ReadFile(filepath.Join(testdata, "stix_test_events_collection_stix21.json"))
	require.NoError(t, err)
	stixSink := loadSTIX(t, string(data), "misp-stix-export")

	for _, c := range []struct{ mispAlias, stixID string }{
		// the to_ids domain attribute is the export's indicator
		{alias("4bb235a7-7d25-4aef-802f-2c6b45c5eceb"), "indicator--4bb235a7-7d25-4aef-802f-2c6b45c5eceb"},
		{alias("2972c3a2-dda3-4de7-aca1-e96cf7ce5544"), "autonomous-system--2972c3a2-dda3-4de7-aca1-e96cf7ce5544"},
	} {
		m, ok := mispSink.byAlias(c.mispAlias)
		require.True(t, ok)
		s, ok := stixSink.byAlias(c.stixID)
		require.True(t, ok)
		require.Equal(t, s.ID, m.ID, "%s and %s", c.mispAlias, c.stixID)
		require.Equal(t, s.Kind, m.Kind)
	}
	// Both based on the one domain node, the export's domain-name SCO.
	domain, ok := stixSink.byAlias("domain-name--4bb235a7-7d25-4aef-802f-2c6b45c5eceb")
	require.True(t, ok)
	ind := graph.SourceNode(graph.KindIndicator, "indicator--4bb235a7-7d25-4aef-802f-2c6b45c5eceb")
	require.Equal(t, []graph.Ref{domain.Ref()}, basedOn(mispSink, ind.Ref()))
	require.Equal(t, []graph.Ref{domain.Ref()}, basedOn(stixSink, ind.Ref()))
	org, ok := stixSink.byAlias("identity--a0c22599-9e58-4da4-96ac-7051603fa951")
	require.True(t, ok)
	_, ok = mispSink.byID(org.Ref())
	require.True(t, ok, "the event creator is the export's identity")
}

// TestCrossFormatMISPCoreExport: MISP core's STIX test event and its STIX
// 2.0 export in the corpus name each indicator by the uuid of the MISP
// attribute it came from. For every attribute whose indicator pattern the
// STIX loader turns into observables, the MISP node must be one of them.
func TestCrossFormatMISPCoreExport(t *testing.T) {
	t.Parallel()
	root := sharedCorpus(t)
	_, mispSink, _, err := loadFile(t, filepath.Join(root, "misp/misp-core/stixtest_misp_indicators_test.json"), quiet(nil))
	require.NoError(t, err)
	data, err := os.ReadFile(filepath.Join(root, "stix/misp-core/stixtest_stix2_indicators_test.json"))
	require.NoError(t, err)
	stixSink := loadSTIX(t, string(data), "misp-core-export")

	var matched, unmatched, sameIndicator, otherIndicator []string
	for _, n := range mispSink.nodes {
		for _, a := range n.Aliases {
			id, ok := strings.CutPrefix(a, "misp--")
			if !ok {
				continue
			}
			ind := graph.SourceNode(graph.KindIndicator, "indicator--"+id)
			obs := basedOn(stixSink, ind.Ref())
			if len(obs) == 0 {
				continue
			}
			// A to_ids attribute is the export's indicator (same id),
			// based on its observables; any other the observable.
			targets := []graph.Ref{n.Ref()}
			if n.Kind == graph.KindIndicator {
				require.Equal(t, ind.ID, n.ID, "the attribute's indicator is the export's")
				targets = basedOn(mispSink, n.Ref())
				if sameRefs(targets, obs) {
					sameIndicator = append(sameIndicator, n.Name)
				} else {
					otherIndicator = append(otherIndicator, n.Name)
				}
			}
			for _, r := range targets {
				tn, ok := mispSink.byID(r)
				require.True(t, ok)
				entry := string(tn.Kind) + " " + tn.Name
				if contains(obs, r) {
					matched = append(matched, entry)
				} else {
					unmatched = append(unmatched, entry)
				}
			}
		}
	}
	t.Logf("indicators based on the same observables in both formats (%d), on others (%d): %s",
		len(sameIndicator), len(otherIndicator), strings.Join(otherIndicator, "; "))
	sort.Strings(matched)
	sort.Strings(unmatched)
	t.Logf("one node in both formats (%d): %s", len(matched), strings.Join(matched, "; "))
	t.Logf("indicator patterns naming other observables (%d): %s", len(unmatched), strings.Join(unmatched, "; "))
	for _, want := range []string{"hash MD5:", "hash SHA-1:", "hash SHA-256:", "domain-name www.circl.lu", "url https://www.circl.lu/team",
		"mutex no idea", "mac-addr 5e:ff:56:a2:af:15", "ipv4-addr 1.2.3.4", "autonomous-system AS66642", "email-addr src@email.test"} {
		found := false
		for _, m := range matched {
			found = found || strings.HasPrefix(m, want)
		}
		require.True(t, found, "%q is one node in both formats", want)
	}
}

// sameRefs reports whether a and b hold the same refs.
func sameRefs(a, b []graph.Ref) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		if !contains(b, r) {
			return false
		}
	}
	return true
}

func contains(refs []graph.Ref, ref graph.Ref) bool {
	for _, r := range refs {
		if r == ref {
			return true
		}
	}
	return false
}

// TestCrossFormatFileIndicatorOneRule: a to_ids filename|sha256
// attribute is misp-stix's indicator [file:name = … AND
// file:hashes.'SHA-256' = …]; the MISP loader and the STIX loader, given
// that indicator, base it on the same nodes (the file of that name and
// hash, and the hash) and link the file has-hash its hash: one rule
// (stix.PatternGraph). Before, the MISP loader read the pattern with
// stix.PatternObservables and based its indicator on the hash alone.
func TestCrossFormatFileIndicatorOneRule(t *testing.T) {
	t.Parallel()
	doc := event(u(1), "file indicator", []string{idsAttr(u(2), "filename|sha256", "a.exe|"+sha256a)})
	_, mispSink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	ind := graph.SourceNode(graph.KindIndicator, "indicator--"+u(2))
	pattern := "[file:name = 'a.exe' AND file:hashes.'SHA-256' = '" + sha256a + "']"
	stixSink := loadSTIX(t, `{"type": "bundle", "id": "bundle--7d1f5b3c-3c1e-4f6a-9d45-0c1c2b3a4d5e", "objects": [
 {"type": "indicator", "spec_version": "2.1", "id": "indicator--`+u(2)+`", "labels": ["misp:type=\"filename|sha256\""],
  "created": "2020-09-13T12:26:40.000Z", "modified": "2020-09-13T12:26:40.000Z", "valid_from": "2020-09-13T12:26:40Z",
  "pattern_type": "stix", "pattern": "`+pattern+`"}]}`, "stix-feed")
	got, ok := mispSink.byID(ind.Ref())
	require.True(t, ok)
	require.Equal(t, pattern, got.Props["pattern"], "misp-stix's pattern")

	want := basedOn(stixSink, ind.Ref())
	require.Len(t, want, 2, "the STIX loader: the file and its hash")
	require.True(t, sameRefs(want, basedOn(mispSink, ind.Ref())), "the same based-on links from MISP: %v", basedOn(mispSink, ind.Ref()))
	file, _, _ := graph.FileNode(map[string]string{"SHA-256": sha256a}, "a.exe")
	hash := graph.HashNode("SHA-256", sha256a)
	require.Contains(t, want, file.Ref())
	for _, sink := range []*captureSink{mispSink, stixSink} {
		require.True(t, hasRelation(sink, file.Ref(), graph.RelHasHash, hash.Ref()))
	}
}

// TestFileObjectIndicatorIsBasedOnItsFile: a file object (name, MD5,
// SHA-1, SHA-256) whose MD5 and SHA-256 alone are to_ids is the
// indicator [file:hashes.MD5 = … AND file:hashes.'SHA-256' = …], which
// describes a file by two hashes (stix.PatternGraph): that file is the
// object's, keyed by all its hashes and its name, so the indicator is
// based on the object's file and its two hashes, and no second, nameless
// file of the two hashes is written. Likewise a filename|sha256 attribute
// whose file the event joins with its other hashes of that name
// (TestHashAttributesOfOneFileNameAreOneFile).
func TestFileObjectIndicatorIsBasedOnItsFile(t *testing.T) {
	t.Parallel()
	const sha1 = "0af6bde11eaa699604aa92cce9a6210dfce70f42"
	obj := `{"uuid": "` + u(10) + `", "name": "file", "timestamp": "1600000000", "Attribute": [
	  {"uuid": "` + u(11) + `", "type": "filename", "object_relation": "filename", "value": "drop.exe", "timestamp": "1600000000"},
	  {"uuid": "` + u(12) + `", "type": "md5", "object_relation": "md5", "value": "` + md5a + `", "to_ids": true, "timestamp": "1600000000"},
	  {"uuid": "` + u(13) + `", "type": "sha1", "object_relation": "sha1", "value": "` + sha1 + `", "timestamp": "1600000000"},
	  {"uuid": "` + u(14) + `", "type": "sha256", "object_relation": "sha256", "value": "` + sha256a + `", "to_ids": true, "timestamp": "1600000000"}]}`
	rep, sink, err := loadString(t, event(u(1), "file object", nil, `"Object": [`+obj+`]`), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	file, hashes, _ := graph.FileNode(map[string]string{"MD5": md5a, "SHA-1": sha1, "SHA-256": sha256a}, "drop.exe")
	var files []string
	sink.mu.Lock()
	for _, n := range sink.nodes {
		if n.Kind == graph.KindFile && !slices.Contains(files, n.Key) {
			files = append(files, n.Key)
		}
	}
	sink.mu.Unlock()
	require.Equal(t, []string{file.Key}, files, "one file: the object's")
	ind := graph.SourceNode(graph.KindIndicator, "indicator--"+u(10))
	want := []graph.Ref{file.Ref()}
	for _, h := range hashes {
		if h.Key != graph.HashNode("SHA-1", sha1).Key {
			want = append(want, h.Ref())
		}
	}
	require.True(t, sameRefs(want, basedOn(sink, ind.Ref())), "based on %v", basedOn(sink, ind.Ref()))
}

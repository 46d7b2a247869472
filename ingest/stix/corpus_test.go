package stix

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/stretchr/testify/require"
)

// corpusProblems lists, per corpus file, every record the loader must drop
// ("drop <reason> <id>") and every loaded record it must warn about ("warn
// <property> <id>"). Files not listed must load without either. Each entry
// was checked against the file: these are the "valid JSON, invalid STIX"
// records of the corpus.
var corpusProblems = map[string][]string{
	// An indicator pattern compares domain-name:value with
	// 'domain autuo.xicp.net' (a space: no domain name), which gives no
	// node: a counted drop of that part of the indicator.
	"oasis-schemas-examples/poisonivy.json": {"part invalid-pattern-value indicator--4e4c4ad7-4909-456a-b6fa-e24a6f682a40"},
	// modified (2015) before created (2016).
	"validator/v21_invalid_timestamp.json": {"drop invalid-timestamp identity--8c6af861-7b20-41ef-9b59-6344fd872a8f"},
	// Five related-to relationships without target_ref; six object_refs
	// that are unconverted STIX 1 ids ("mandiant:ttp-…").
	"elevator/2.0_Mandiant_APT1_Report.json": {
		"drop missing-property relationship--69475e21-a330-426e-a998-017f73a16e74",
		"drop missing-property relationship--79915fc4-d041-480b-8383-7ccb5d923e6b",
		"drop missing-property relationship--80cf163d-8032-437b-97ca-302afc1da2f3",
		"drop missing-property relationship--824b64ec-04e2-446d-aed3-0d22578f7395",
		"drop missing-property relationship--d2f13554-26ed-4499-b204-f8ece8b2ab90",
		"warn object_refs report--e33ffe07-2f4c-48d8-b0af-ee2619d765cf",
		"warn object_refs report--e33ffe07-2f4c-48d8-b0af-ee2619d765cf",
		"warn object_refs report--e33ffe07-2f4c-48d8-b0af-ee2619d765cf",
		"warn object_refs report--e33ffe07-2f4c-48d8-b0af-ee2619d765cf",
		"warn object_refs report--e33ffe07-2f4c-48d8-b0af-ee2619d765cf",
		"warn object_refs report--e33ffe07-2f4c-48d8-b0af-ee2619d765cf",
	},
	// An "indicates" relationship without target_ref.
	"elevator/2.1-custom_snort-test-mechanism.json": {"drop missing-property relationship--f91501c1-6c21-4d28-913a-e64bd31e7402"},
	// The pattern is made of unconverted STIX 1 terms.
	"elevator/2.0_custom_object.json": {"part invalid-pattern indicator--2cb76e88-2734-4a6c-a28c-52ae05f627be"},
	// observed_data_refs holds an unconverted STIX 1 id.
	"elevator/2.0_sighting.json":            {"warn observed_data_refs sighting--58c58bc1-7129-404f-ab5f-96cb2fcd3487"},
	"elevator/2.1-extensions_sighting.json": {"warn observed_data_refs sighting--20fdcca1-5ab1-4b46-b404-1941c8714aad"},
	// A relationship modified a month before it was created.
	"opencti/client-python_DATA-TEST-STIX2_v2.json": {"drop invalid-timestamp relationship--10f2228d-cc68-45e3-bce2-53b1841b01c2"},
	// source_ref is an OpenCTI internal id, not a STIX identifier.
	"opencti/client-python_bundle_with_internal_ids.json": {"drop invalid-reference relationship--10e8c71d-a1b4-4e35-bca8-2e4a3785ea04"},
	// created_by_ref "identity--not-available".
	"opencti/client-python_missing_refs.json": {
		"warn created_by_ref relationship--10e8c71d-a1b4-4e35-bca8-2e4a3785ea04",
		"warn created_by_ref relationship--10e8c71d-a1b4-4e35-bca8-2e4a3785ea05",
	},
	"opencti/client-python_mono-bundle-relationship.json": {"warn created_by_ref relationship--10e8c71d-a1b4-4e35-bca8-2e4a3785ea04"},
}

// corpusMalformed are the corpus files that are not JSON.
var corpusMalformed = []string{"validator/v21_invalid_braces.json", "validator/v21_invalid_comma.json"}

// independentCount is what the test counts in a file with encoding/json,
// without the loader.
type independentCount struct {
	records int
	// ids are the distinct ids per type of the top-level objects.
	ids map[string]map[string]bool
	// triples are the (source_ref, relationship_type, target_ref) of each
	// relationship id (its last version in the file, modified as written
	// in versions).
	triples  map[string]string
	versions map[string]string
	// objects counts, per observed-data id, the embedded objects (STIX
	// 2.0 "objects") and object_refs (2.1) per type.
	objects map[string]map[string]int
}

// countIndependently decodes a corpus file whole with encoding/json.
func countIndependently(t *testing.T, data []byte) (independentCount, error) {
	t.Helper()
	var top any
	dec := stdjson.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&top); err != nil {
		return independentCount{}, err
	}
	var objs []any
	switch x := top.(type) {
	case []any:
		objs = x
	case map[string]any:
		if o, ok := x["objects"].([]any); ok && x["type"] == "bundle" {
			objs = o
		} else {
			objs = []any{x}
		}
	}
	c := independentCount{records: len(objs), ids: map[string]map[string]bool{}, objects: map[string]map[string]int{}, triples: map[string]string{}, versions: map[string]string{}}
	for _, e := range objs {
		m := e.(map[string]any)
		typ, id := m["type"].(string), m["id"].(string)
		if c.ids[typ] == nil {
			c.ids[typ] = map[string]bool{}
		}
		c.ids[typ][id] = true
		if typ == "relationship" {
			src, _ := m["source_ref"].(string)
			rt, _ := m["relationship_type"].(string)
			dst, _ := m["target_ref"].(string)
			c.triples[id] = src + " " + strings.ToLower(rt) + " " + dst
			c.versions[id], _ = m["modified"].(string)
		}
		if typ != "observed-data" {
			continue
		}
		per := map[string]int{}
		if emb, ok := m["objects"].(map[string]any); ok {
			for _, o := range emb {
				per[o.(map[string]any)["type"].(string)]++
			}
		}
		if refs, ok := m["object_refs"].([]any); ok {
			for _, r := range refs {
				per[strings.SplitN(r.(string), "--", 2)[0]]++
			}
		}
		c.objects[id] = per
	}
	return c, nil
}

// problemsFrom turns the captured log into corpusProblems entries.
func problemsFrom(logs []logRecord) []string {
	var out []string
	for _, l := range logs {
		switch l.msg {
		case "record dropped":
			out = append(out, fmt.Sprintf("drop %v %v", l.attrs["reason"], l.attrs["id"]))
		case "part of a record dropped; the record loaded without it":
			out = append(out, fmt.Sprintf("part %v %v", l.attrs["reason"], l.attrs["id"]))
		case "stix record loaded with a problem":
			out = append(out, fmt.Sprintf("warn %v %v", l.attrs["property"], l.attrs["id"]))
		}
	}
	sort.Strings(out)
	return out
}

func TestCorpusSweep(t *testing.T) {
	t.Parallel()
	dir, files := corpusFiles(t)
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			want, jsonErr := countIndependently(t, data)

			sink := &recordingSink{}
			log, logs := newCapture()
			rep, err := Load(context.Background(), bytes.NewReader(data), sink,
				Options{Feed: name, Workers: 2, BatchSize: 50, Logger: log})

			if jsonErr != nil {
				// Not JSON: the load stops at the offset encoding/json
				// names (or a little before it: jsontext reports the start
				// of the bad token), with nothing loaded.
				require.Contains(t, corpusMalformed, name)
				var se *stdjson.SyntaxError
				require.ErrorAs(t, jsonErr, &se)
				var oe *engine.OffsetError
				require.ErrorAs(t, err, &oe)
				require.ErrorIs(t, err, engine.ErrSyntax)
				require.Equal(t, name, oe.Feed)
				require.LessOrEqual(t, oe.Offset, se.Offset)
				require.Less(t, se.Offset-oe.Offset, int64(8), "offset %d vs encoding/json %d", oe.Offset, se.Offset)
				require.Contains(t, rep.Error, fmt.Sprintf("at byte %d", oe.Offset))
				return
			}
			require.NoError(t, err)
			require.NotContains(t, corpusMalformed, name)

			problems := problemsFrom(logs())
			wantProblems := append([]string(nil), corpusProblems[name]...)
			sort.Strings(wantProblems)
			require.Equal(t, wantProblems, problems)
			dropped := map[string]bool{}
			var drops, parts int64
			for _, p := range problems {
				switch f := strings.Fields(p); f[0] {
				case "drop":
					dropped[f[2]] = true
					drops++
				case "part":
					parts++
				}
			}
			require.Equal(t, parts, rep.PartsDroppedTotal(), "each part dropped is counted")

			require.EqualValues(t, want.records, rep.RecordsRead)
			require.Equal(t, drops, rep.DroppedTotal())
			require.Equal(t, rep.RecordsRead-drops, rep.RecordsMapped)
			require.EqualValues(t, len(data), rep.Bytes)

			// Every object that was not dropped arrived, per type: a node
			// with its id as an alias, or (relationships) a relation from
			// source_ref to target_ref.
			aliases := sink.byAlias()
			triples := map[string]bool{}
			for _, r := range sink.relations {
				if !strings.HasPrefix(string(r.Src), "node--") {
					triples[string(r.Src)+" "+r.Type+" "+string(r.Dst)] = true
				}
			}
			wantByType, gotByType := map[string]int{}, map[string]int{}
			wantTriples := map[string]bool{}
			for typ, ids := range want.ids {
				for id := range ids {
					if dropped[id] {
						continue
					}
					if typ == "relationship" {
						wantTriples[want.triples[id]] = true
						continue
					}
					wantByType[typ]++
					if _, ok := aliases[id]; ok {
						gotByType[typ]++
					}
				}
			}
			require.Equal(t, wantByType, gotByType)
			require.Equal(t, wantTriples, triples, "one relation per relationship (source, type, target)")

			// Every observed-data links to its embedded objects (2.0) or
			// object_refs (2.1), per type.
			for odID, perType := range want.objects {
				od, ok := aliases[odID]
				require.True(t, ok, odID)
				got := map[string]int{}
				for _, r := range sink.relations {
					if r.Src == od.Ref() && r.Type == "object" {
						got[strings.SplitN(string(r.Dst), "--", 2)[0]]++
					}
				}
				if len(perType) == 0 {
					perType = map[string]int{}
				}
				require.Equal(t, perType, got, odID)
			}
			require.EqualValues(t, len(sink.nodes), rep.Nodes)
			require.EqualValues(t, len(sink.relations), rep.Relations)
		})
	}
}

// TestCorpusDrySink loads every well-formed corpus file through the
// dry-run sink (what `intel ingest stix --dry-run` does).
func TestCorpusDrySink(t *testing.T) {
	t.Parallel()
	dir, files := corpusFiles(t)
	for _, name := range files {
		if contains(corpusMalformed, name) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, name))
		require.NoError(t, err)
		rep, err := Load(context.Background(), f, &engine.DrySink{}, Options{Feed: name, Logger: quietLogger})
		_ = f.Close() // read-only
		require.NoError(t, err, name)
		require.Equal(t, rep.Nodes, rep.Written.NodesInserted+rep.Written.NodesMerged, name)
		require.Equal(t, rep.Relations, rep.Written.RelationsInserted+rep.Written.RelationsPending, name)
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// TestCorpusTruncated cuts corpus files at many offsets: each load stops
// with an *engine.OffsetError at the cut, after loading exactly the objects that
// ended before it.
func TestCorpusTruncated(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t)
	for _, name := range []string{"oasis-schemas-examples/poisonivy.json", "python-stix2/sco-examples-bundle.json", "unit42/2024-02-08-Pikabot.json"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		ends := objectEnds(t, data)
		for i := 1; i <= 20; i++ {
			cut := int64(len(data)) * int64(i) / 21
			complete := 0
			for _, e := range ends {
				if e <= cut {
					complete++
				}
			}
			sink := &recordingSink{}
			rep, err := Load(context.Background(), bytes.NewReader(data[:cut]), sink, Options{Feed: name, Logger: quietLogger, BatchSize: 7})
			var oe *engine.OffsetError
			require.ErrorAs(t, err, &oe, "%s cut at %d", name, cut)
			require.ErrorIs(t, err, engine.ErrSyntax)
			require.LessOrEqual(t, oe.Offset, cut)
			require.Greater(t, oe.Offset, cut-64, "error offset %d near the cut %d", oe.Offset, cut)
			require.EqualValues(t, complete, rep.RecordsRead, "%s cut at %d", name, cut)
			require.EqualValues(t, complete, rep.RecordsMapped)
			require.NotEmpty(t, rep.Error)
			if complete > 0 {
				require.NotEmpty(t, sink.nodes, "everything before the cut is written")
			}
		}
	}
}

// objectEnds returns the end offsets of the elements of the top-level array
// or bundle "objects" array, found with encoding/json's streaming decoder.
func objectEnds(t *testing.T, data []byte) []int64 {
	t.Helper()
	dec := stdjson.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	require.NoError(t, err)
	if tok == stdjson.Delim('{') {
		for {
			tok, err = dec.Token()
			require.NoError(t, err)
			if tok == "objects" {
				_, err = dec.Token() // [
				require.NoError(t, err)
				break
			}
			var skip stdjson.RawMessage
			require.NoError(t, dec.Decode(&skip))
		}
	}
	var ends []int64
	for dec.More() {
		var raw stdjson.RawMessage
		require.NoError(t, dec.Decode(&raw))
		ends = append(ends, dec.InputOffset())
	}
	return ends
}

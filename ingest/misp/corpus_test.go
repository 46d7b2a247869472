package misp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ransomeye/intel/ingest/engine"
	"github.com/stretchr/testify/require"
)

// independent counts a MISP document decoded whole with encoding/json, by
// the rules the MISP formats set: the count the streaming reader's Tally is
// held against.
type independent struct {
	Tally
	// topGalaxies counts the galaxies of event-level attributes only, as
	// SOURCES.md's Galaxy(attr) does.
	topGalaxies int64
}

func countDocument(t *testing.T, data []byte) *independent {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&v))
	c := &independent{}
	c.AttributeTypes = map[string]int64{}
	c.ObjectNames = map[string]int64{}
	switch x := v.(type) {
	case map[string]any:
		c.frame(x, false)
	case []any:
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				c.frame(m, false)
			}
		}
	}
	return c
}

// asList reads a member that is an array of objects or a single object.
func asList(v any) []map[string]any {
	switch x := v.(type) {
	case map[string]any:
		return []map[string]any{x}
	case []any:
		var out []map[string]any
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				out = append(out, m)
			}
		}
		return out
	}
	return nil
}

func (c *independent) frame(m map[string]any, wrapped bool) {
	event := wrapped
	for _, k := range []string{"info", "date", "threat_level_id", "analysis", "published", "attribute_count", "Orgc", "Org"} {
		if _, ok := m[k]; ok {
			event = true
		}
	}
	if event {
		c.Events++
		c.EventTags += int64(len(asList(m["Tag"])))
	}
	for _, e := range asList(m["Event"]) {
		c.frame(e, true)
	}
	for _, e := range asList(m["response"]) {
		c.frame(e, false)
	}
	for _, a := range asList(m["Attribute"]) {
		c.Attributes++
		c.topGalaxies += int64(len(asList(a["Galaxy"])))
		c.attribute(a)
	}
	for _, o := range asList(m["Object"]) {
		c.Objects++
		c.ObjectNames[str(o["name"])]++
		c.References += int64(len(asList(o["ObjectReference"])))
		for _, a := range asList(o["Attribute"]) {
			c.ObjectAttributes++
			c.attribute(a)
		}
	}
	for _, g := range asList(m["Galaxy"]) {
		c.Galaxies++
		c.Clusters += int64(len(asList(g["GalaxyCluster"])))
	}
	if cl, ok := m["GalaxyCluster"]; ok {
		c.Galaxies++
		c.Clusters += int64(len(asList(cl)))
	}
	c.Clusters += int64(len(asList(m["values"])))
	c.Sightings += int64(len(asList(m["Sighting"])))
}

func (c *independent) attribute(a map[string]any) {
	c.AttributeTypes[str(a["type"])]++
	c.AttributeTags += int64(len(asList(a["Tag"])))
	c.Sightings += int64(len(asList(a["Sighting"])))
	for _, g := range asList(a["Galaxy"]) {
		c.AttributeGalaxies++
		c.AttributeClusters += int64(len(asList(g["GalaxyCluster"])))
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// trailingComma matches a comma before a closing bracket, the one defect of
// the ESET export; removing it in memory is how SOURCES.md counted it.
var trailingComma = regexp.MustCompile(`,(\s*[\]}])`)

// sourcesCounts are the counts SOURCES.md gives for one file.
type sourcesCounts struct {
	counts map[string]int64 // "Event", "Attribute", "Object.Attribute", "cluster values", ...
	types  map[string]int64 // the commonest attribute types
	names  map[string]int64 // the commonest object names
}

// readSources parses the "Counts:" line of every misp/ entry of SOURCES.md.
func readSources(t *testing.T, root string) map[string]sourcesCounts {
	t.Helper()
	f, err := os.Open(filepath.Join(root, "SOURCES.md"))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	out := map[string]sourcesCounts{}
	pair := regexp.MustCompile(`^(.+?) (\d+)$`)
	parse := func(list string, into map[string]int64) {
		for _, item := range strings.Split(list, ", ") {
			item = strings.TrimSpace(item)
			if i := strings.Index(item, " ("); i >= 0 {
				item = item[:i]
			}
			if m := pair.FindStringSubmatch(item); m != nil {
				n, _ := strconv.ParseInt(m[2], 10, 64)
				into[m[1]] = n
			}
		}
	}
	var file string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "### "); ok {
			file = strings.TrimSpace(h)
			continue
		}
		rest, ok := strings.CutPrefix(line, "- Counts: ")
		if !ok || !strings.HasPrefix(file, "misp/") {
			continue
		}
		sc := sourcesCounts{counts: map[string]int64{}, types: map[string]int64{}, names: map[string]int64{}}
		parts := strings.Split(rest, "; ")
		parse(parts[0], sc.counts)
		for _, p := range parts[1:] {
			switch {
			case strings.HasPrefix(p, "attribute types: "):
				parse(strings.TrimPrefix(p, "attribute types: "), sc.types)
			case strings.HasPrefix(p, "object names: "):
				parse(strings.TrimPrefix(p, "object names: "), sc.names)
			}
		}
		out[file] = sc
	}
	require.NoError(t, sc.Err())
	return out
}

// expectedDrops are the records of the corpus that are dropped, and why.
var expectedDrops = map[string]map[engine.Reason]int64{
	// PyMISP test fixtures built without uuids, or with "a" and "b" for
	// uuids: the custom object "a" cannot be identified (a uuid given and
	// not valid; a file and a url object load as their observables,
	// without alias), nor the reference to "b". Their events, given no
	// uuid, are keyed by their creator, info and date (derivedEventUUID).
	"misp/pymisp/mispevent_misp_custom_obj.json":    {engine.ReasonMissingID: 1},
	"misp/pymisp/mispevent_event_obj_attr_tag.json": {engine.ReasonMissingID: 1},
}

// TestCorpusFiles loads every MISP file of the corpus (the feed directory
// has its own test) and holds what the reader counted against an
// independent count with encoding/json and against SOURCES.md.
func TestCorpusFiles(t *testing.T) {
	t.Parallel()
	root := sharedCorpus(t)
	sources := readSources(t, root)
	files, err := filepath.Glob(filepath.Join(root, "misp", "*", "*.json"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join(root, "misp", "galaxy", "*", "*.json"))
	require.NoError(t, err)
	files = append(files, more...)
	require.GreaterOrEqual(t, len(files), 57)
	for _, path := range files {
		rel, err := filepath.Rel(root, path)
		require.NoError(t, err)
		rel = filepath.ToSlash(rel)
		if strings.HasPrefix(rel, "misp/feed-misp-core-tests/") {
			continue
		}
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			rep, sink, tally, err := loadFile(t, path, quiet(nil))
			require.NoError(t, err)
			requireBalanced(t, rep)
			want := expectedDrops[rel]
			if want == nil {
				want = map[engine.Reason]int64{}
			}
			require.Equal(t, want, rep.Dropped)

			data, err := os.ReadFile(path)
			require.NoError(t, err)
			data = trailingComma.ReplaceAll(data, []byte("$1"))
			ind := countDocument(t, data)
			requireTallyEqual(t, &ind.Tally, tally)

			src, ok := sources[rel]
			require.True(t, ok, "SOURCES.md has no counts for %s", rel)
			c := src.counts
			for key, n := range map[string]int64{
				"Event": tally.Events, "Attribute": tally.Attributes, "Object": tally.Objects,
				"Object.Attribute": tally.ObjectAttributes, "ObjectReference": tally.References,
				"Tag(event)": tally.EventTags, "Tag(attr)": tally.AttributeTags,
				"Galaxy": tally.Galaxies, "Galaxy(attr)": ind.topGalaxies, "Sighting": tally.Sightings,
			} {
				require.Equal(t, c[key], n, "SOURCES.md %s", key)
			}
			if v, ok := c["cluster values"]; ok {
				require.Equal(t, v, tally.Clusters, "SOURCES.md cluster values")
			} else {
				require.Equal(t, c["GalaxyCluster"], tally.Clusters, "SOURCES.md GalaxyCluster")
			}
			for typ, n := range src.types {
				require.Equal(t, n, tally.AttributeTypes[typ], "SOURCES.md attribute type %s", typ)
			}
			for name, n := range src.names {
				require.Equal(t, n, tally.ObjectNames[name], "SOURCES.md object name %s", name)
			}
			info, err := os.Stat(path)
			require.NoError(t, err)
			require.Equal(t, info.Size(), rep.Bytes)
			requireNodesValid(t, sink)
		})
	}
}

// requireTallyEqual compares two tallies field by field.
func requireTallyEqual(t *testing.T, want, got *Tally) {
	t.Helper()
	for name, pair := range map[string][2]int64{
		"events": {want.Events, got.Events}, "attributes": {want.Attributes, got.Attributes},
		"object attributes": {want.ObjectAttributes, got.ObjectAttributes}, "objects": {want.Objects, got.Objects},
		"references": {want.References, got.References}, "event tags": {want.EventTags, got.EventTags},
		"attribute tags": {want.AttributeTags, got.AttributeTags}, "galaxies": {want.Galaxies, got.Galaxies},
		"clusters": {want.Clusters, got.Clusters}, "attribute galaxies": {want.AttributeGalaxies, got.AttributeGalaxies},
		"attribute clusters": {want.AttributeClusters, got.AttributeClusters}, "sightings": {want.Sightings, got.Sightings},
	} {
		require.Equal(t, pair[0], pair[1], name)
	}
	require.Equal(t, nonEmpty(want.AttributeTypes), nonEmpty(got.AttributeTypes), "attribute types")
	require.Equal(t, nonEmpty(want.ObjectNames), nonEmpty(got.ObjectNames), "object names")
}

func nonEmpty(m map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// requireNodesValid checks every node and relation written.
func requireNodesValid(t *testing.T, sink *captureSink) {
	t.Helper()
	for _, n := range sink.nodes {
		require.NoError(t, n.Validate())
		require.NotEmpty(t, n.Sources, "node %s %s has no source", n.Kind, n.Key)
	}
	for _, r := range sink.relations {
		require.NoError(t, r.Validate())
		require.NotEmpty(t, r.Sources, "relation %s -%s-> %s has no source", r.Src, r.Type, r.Dst)
	}
}

package misp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

func TestDocumentShapes(t *testing.T) {
	t.Parallel()
	a1 := attr(u(11), "domain", "one.example")
	a2 := attr(u(12), "domain", "two.example")
	bareEvent := fmt.Sprintf(`{"Attribute": [%s], "Tag": [{"name": "tlp:red"}], "date": "2020-01-01", "info": "bare, sorted keys", "timestamp": "1600000000", "uuid": %q}`, a1, u(1))
	cases := []struct {
		name          string
		doc           string
		events, attrs int64
		linked        bool
	}{
		{"wrapped event", event(u(1), "wrapped", []string{a1, a2}), 1, 2, true},
		{"bare event with sorted keys", bareEvent, 1, 1, true},
		{"REST response of wrapped events", `{"response": [` + event(u(1), "a", []string{a1}) + `,` + event(u(2), "b", []string{a2}) + `]}`, 2, 2, true},
		{"REST response of bare events", `{"response": [` + bareEvent + `]}`, 1, 1, true},
		{"bare array of events", `[` + event(u(1), "a", []string{a1}) + `,` + event(u(2), "b", []string{a2}) + `]`, 2, 2, true},
		{"event list under Event", `{"Event": [{"uuid": "` + u(1) + `", "info": "x", "Attribute": [` + a1 + `]}]}`, 1, 1, true},
		{"attribute search", `{"response": {"Attribute": [` + a1 + `,` + a2 + `]}}`, 0, 2, false},
		{"single attribute", `{"Attribute": ` + a1 + `}`, 0, 1, false},
		{"concatenated events", event(u(1), "a", []string{a1}) + "\n" + event(u(2), "b", []string{a2}), 2, 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tally := &Tally{}
			opts := quiet(nil)
			opts.Tally = tally
			rep, sink, err := loadString(t, c.doc, opts)
			require.NoError(t, err)
			requireBalanced(t, rep)
			require.Empty(t, rep.Dropped)
			require.Equal(t, c.events, tally.Events)
			require.Equal(t, c.attrs, tally.Attributes)
			n, ok := sink.byAlias(alias(u(11)))
			require.True(t, ok)
			require.Equal(t, graph.KindDomainName, n.Kind)
			if c.linked {
				require.True(t, hasRelation(sink, graph.SourceNode(graph.KindReport, alias(u(1))).Ref(), RelObject, n.Ref()))
			}
		})
	}
	t.Run("bare event keeps its tags", func(t *testing.T) {
		t.Parallel()
		_, sink, err := loadString(t, bareEvent, quiet(nil))
		require.NoError(t, err)
		ev, ok := sink.byAlias(alias(u(1)))
		require.True(t, ok)
		require.Equal(t, graph.TLP("red"), ev.TLP)
		require.Equal(t, "bare, sorted keys", ev.Name)
	})
}

func TestNotMISP(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"", "   ", `"a string"`, `42`} {
		_, _, err := loadString(t, doc, quiet(nil))
		require.ErrorIs(t, err, ErrNotMISP, "%q", doc)
	}
	// JSON objects that hold no MISP record load nothing, without error.
	rep, _, err := loadString(t, `{"description": "a galaxy definition", "type": "x", "uuid": "`+u(1)+`"}`, quiet(nil))
	require.NoError(t, err)
	require.Zero(t, rep.RecordsRead)
}

// TestSyntaxErrorKeepsWhatPrecedes: a file cut in the middle of an event
// keeps the attributes read and the event node, and names the offset.
func TestSyntaxErrorKeepsWhatPrecedes(t *testing.T) {
	t.Parallel()
	var attrs []string
	for i := range 50 {
		attrs = append(attrs, attr(u(100+i), "domain", fmt.Sprintf("d%d.example", i)))
	}
	doc := event(u(1), "cut", attrs)
	cut := strings.Index(doc, u(140)) - 20
	for _, tail := range []string{"", "}}}}", "@"} {
		broken := doc[:cut] + tail
		var results []EventResult
		opts := quiet(nil)
		opts.OnEvent = func(r EventResult) { results = append(results, r) }
		rep, sink, err := loadString(t, broken, opts)
		require.ErrorIs(t, err, engine.ErrSyntax, "tail %q", tail)
		var se *engine.OffsetError
		require.ErrorAs(t, err, &se)
		require.GreaterOrEqual(t, se.Offset, int64(cut-1), "tail %q: %v", tail, err)
		require.LessOrEqual(t, se.Offset, int64(len(broken)), "tail %q: %v", tail, err)
		requireBalanced(t, rep)
		for i := range 39 {
			_, ok := sink.byAlias(alias(u(100 + i)))
			require.True(t, ok, "attribute %d before the break", i)
		}
		ev, ok := sink.byAlias(alias(u(1)))
		require.True(t, ok, "the event cut short is written")
		require.Equal(t, "cut", ev.Name)
		require.Len(t, results, 1)
		require.ErrorIs(t, results[0].Err, engine.ErrSyntax)
	}
}

func TestRecordLimits(t *testing.T) {
	t.Parallel()
	big := attr(u(3), "text", strings.Repeat("x", 4096))
	doc := event(u(1), "limits", []string{attr(u(2), "domain", "ok.example"), big, `"not an object"`, `[1, 2]`, attr(u(4), "domain", "ok2.example")})
	opts := quiet(nil)
	opts.MaxRecordBytes = 1024
	tally := &Tally{}
	opts.Tally = tally
	rep, sink, err := loadString(t, doc, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, map[engine.Reason]int64{engine.ReasonTooLarge: 1, engine.ReasonNotObject: 2}, rep.Dropped)
	require.Equal(t, int64(5), tally.Attributes)
	for _, id := range []string{u(2), u(4)} {
		_, ok := sink.byAlias(alias(id))
		require.True(t, ok)
	}
}

// TestObjectsGalaxiesSightings maps an event with a file object and its
// reference, an event galaxy, a galaxy tag on an attribute and a sighting.
func TestObjectsGalaxiesSightings(t *testing.T) {
	t.Parallel()
	object := fmt.Sprintf(`{"uuid": %q, "name": "file", "meta-category": "file", "timestamp": "1600000000", "Attribute": [
		{"uuid": %q, "type": "md5", "object_relation": "md5", "value": %q, "timestamp": "1600000000"},
		{"uuid": %q, "type": "sha256", "object_relation": "sha256", "value": %q, "timestamp": "1600000000"},
		{"uuid": %q, "type": "filename", "object_relation": "filename", "value": "a.exe", "timestamp": "1600000000"},
		{"uuid": %q, "type": "size-in-bytes", "object_relation": "size-in-bytes", "value": "1234", "timestamp": "1600000000"},
		{"uuid": %q, "type": "ip-dst", "object_relation": "ip", "value": "not an ip", "timestamp": "1600000000"}],
		"ObjectReference": [{"uuid": %q, "referenced_uuid": %q, "relationship_type": "communicates-with"}, {"uuid": %q, "relationship_type": "x"}]}`,
		u(20), u(21), md5a, u(22), sha256a, u(23), u(24), u(25), u(26), u(2), u(27))
	galaxy := `{"type": "mitre-intrusion-set", "name": "Intrusion Set", "GalaxyCluster": [
		{"uuid": "bef4c620-0787-42a8-a96d-b7eb6e85917c", "type": "mitre-intrusion-set", "value": "APT28 - G0007", "tag_name": "misp-galaxy:mitre-intrusion-set=\"APT28 - G0007\"",
		 "meta": {"external_id": ["G0007"], "synonyms": ["Sofacy", "Fancy Bear"]}}]}`
	sighted := idsAttr(u(2), "ip-dst", "198.51.100.7",
		`"Tag": [{"name": "tlp:amber"}, {"name": "misp-galaxy:mitre-attack-pattern=\"Spearphishing Attachment - T1193\""}]`,
		`"Sighting": [{"uuid": "`+u(30)+`", "date_sighting": "1600000100", "type": "0", "source": "sensor", "Organisation": {"name": "SOC", "uuid": "`+u(31)+`"}}]`)
	doc := event(u(1), "objects", []string{sighted}, `"Object": [`+object+`]`, `"Galaxy": [`+galaxy+`]`, `"Tag": [{"name": "tlp:green"}, {"name": "type:OSINT"}]`)
	rep, sink, err := loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidValue: 1, engine.ReasonMissingID: 1}, rep.Dropped)
	require.Equal(t, int64(1), rep.Sightings)
	requireNodesValid(t, sink)
	ev, _ := sink.byAlias(alias(u(1)))
	require.Equal(t, graph.TLP("green"), ev.TLP)
	require.Equal(t, []string{"tlp:green", "type:OSINT"}, ev.Labels)

	// The file object is the file of its hashes and name.
	file, ok := sink.byAlias(alias(u(20)))
	require.True(t, ok)
	require.Equal(t, graph.ObservableID(graph.KindFile, stixID(`{"hashes":{"MD5":"`+strings.ToLower(md5a)+`"},"name":"a.exe"}`)), file.ID, "MD5 is the hash STIX prefers for the id")
	require.Equal(t, map[string]any{"size": "1234"}, file.Props)
	for _, h := range []graph.Node{graph.HashNode("MD5", md5a), graph.HashNode("SHA-256", sha256a)} {
		require.True(t, hasRelation(sink, file.Ref(), graph.RelHasHash, h.Ref()))
	}
	link, ok := findRelation(sink, ev.Ref(), RelObject, file.Ref())
	require.True(t, ok)
	require.Equal(t, map[string]any{u(20): map[string]any{"misp_object": "file", "meta_category": "file", "size-in-bytes": "1234", "filename": "a.exe"}}, link.Props)
	// Its name is the file's: no link to the file of that name alone,
	// which every a.exe would share; the filename attribute names the file.
	named, _, _ := graph.FileNode(nil, "a.exe")
	require.False(t, hasRelation(sink, file.Ref(), RelHasAttribute, named.Ref()))
	_, written := sink.byID(named.Ref())
	require.False(t, written, "the name-only file node is not written")
	require.Contains(t, file.Aliases, alias(u(23)))
	require.True(t, hasRelation(sink, file.Ref(), "communicates-with", graph.Ref(alias(u(2)))), "the reference names its target by alias")

	// The event galaxy merges with ATT&CK's APT28 (keyed by its ATT&CK id).
	apt28 := graph.NamedNode(graph.KindIntrusionSet, "APT28", "G0007")
	require.Equal(t, "G0007", apt28.Key)
	require.True(t, hasRelation(sink, ev.Ref(), RelObject, apt28.Ref()))
	n, ok := sink.byID(apt28.Ref())
	require.True(t, ok)
	require.Equal(t, "APT28", n.Name)
	require.Contains(t, n.Aliases, alias("bef4c620-0787-42a8-a96d-b7eb6e85917c"))

	// The attribute's galaxy tag: the attack pattern keyed by technique id,
	// indicated by the to_ids attribute; its TLP from its own tag.
	ip, _ := sink.byAlias(alias(u(2)))
	require.Equal(t, graph.TLP("amber"), ip.TLP)
	require.Equal(t, []string{"tlp:amber"}, ip.Labels)
	require.True(t, hasRelation(sink, ip.Ref(), graph.RelIndicates, graph.NamedNode(graph.KindAttackPattern, "x", "T1193").Ref()))

	// The sighting.
	sg, ok := sink.byAlias(alias(u(30)))
	require.True(t, ok)
	require.Equal(t, graph.KindSighting, sg.Kind)
	require.Equal(t, "sighting", sg.Props["type"])
	require.True(t, hasRelation(sink, sg.Ref(), graph.RelSightingOf, ip.Ref()))
	org := graph.SourceNode(graph.KindIdentity, "identity--"+u(31))
	require.True(t, hasRelation(sink, sg.Ref(), graph.RelWhereSighted, org.Ref()))
}

// TestSightingTypesAreNotAllSightings: MISP sighting types 1 (false
// positive) and 2 (expiration) report on the value; they never saw it.
// Only type 0 (and a type MISP may add) is a sighting-of and counts as a
// sighting; the others link false-positive-of and expiration-of, so a walk
// shows a false-positive report as what it is and does not follow an
// expiration (lifecycle).
func TestSightingTypesAreNotAllSightings(t *testing.T) {
	t.Parallel()
	sighting := func(id, typ string) string {
		return `{"uuid": "` + id + `", "date_sighting": "1600000100", "type": "` + typ + `", "Organisation": {"name": "SOC", "uuid": "` + u(31) + `"}}`
	}
	sighted := attr(u(2), "ip-dst", "198.51.100.7", `"Sighting": [`+
		sighting(u(30), "0")+`, `+sighting(u(32), "1")+`, `+sighting(u(33), " 2")+`, `+sighting(u(34), "7")+`]`)
	rep, sink, err := loadString(t, event(u(1), "sightings", []string{sighted}), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Equal(t, int64(2), rep.Sightings, "type 0 and an unknown type are sightings; 1 and 2 are not")
	ip, ok := sink.byAlias(alias(u(2)))
	require.True(t, ok)
	for id, want := range map[string]string{u(30): graph.RelSightingOf, u(32): graph.RelFalsePositiveOf,
		u(33): graph.RelExpirationOf, u(34): graph.RelSightingOf} {
		sg, ok := sink.byAlias(alias(id))
		require.True(t, ok)
		for _, r := range []string{graph.RelSightingOf, graph.RelFalsePositiveOf, graph.RelExpirationOf} {
			require.Equal(t, r == want, hasRelation(sink, sg.Ref(), r, ip.Ref()), "sighting %s: %s", id, r)
		}
	}
	require.Equal(t, graph.ClassIntelligence, graph.ClassOf(graph.RelFalsePositiveOf))
	require.Equal(t, graph.ClassLifecycle, graph.ClassOf(graph.RelExpirationOf))
}

// TestWorkersSameGraph: one worker or four, large batches or small, the
// same nodes (merged) and relations reach the sink.
func TestWorkersSameGraph(t *testing.T) {
	t.Parallel()
	path := sharedCorpus(t) + "/misp/eset/windigo_ebury.misp.json"
	graphOf := func(workers, batch int) (map[string]string, []string) {
		opts := quiet(nil)
		opts.Workers, opts.BatchSize, opts.Feed = workers, batch, "windigo"
		rep, sink, _, err := loadFile(t, path, opts)
		require.NoError(t, err)
		requireBalanced(t, rep)
		nodes := map[string]string{}
		for _, n := range graph.MergeNodes(sink.nodes) {
			nodes[n.ID.String()] = fmt.Sprintf("%s %s %q %v %v %s %v %v", n.Kind, n.Key, n.Name, n.Aliases, n.Labels, n.TLP, n.FirstSeen, n.LastSeen)
		}
		var rels []string
		for _, r := range sink.relations {
			rels = append(rels, fmt.Sprintf("%s %s %s %v %v %v", r.Src, r.Type, r.Dst, r.Props, r.FirstSeen, r.LastSeen))
		}
		sort.Strings(rels)
		return nodes, slices.Compact(rels)
	}
	n1, r1 := graphOf(1, 10000)
	n4, r4 := graphOf(4, 7)
	require.Equal(t, n1, n4)
	require.Equal(t, r1, r4)
}

func TestCommaReader(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, out string }{
		{`[1,2,]`, `[1,2 ]`},
		{`{"a":1,}`, `{"a":1 }`},
		{"[1,\r\n  ]", "[1 \r\n  ]"},
		{`["a,]", "b\",}",]`, `["a,]", "b\",}" ]`},
		{`[1,2]`, `[1,2]`},
		{`[1,`, `[1,`},
		{`{"a\\":1,}`, `{"a\\":1 }`},
	}
	for _, c := range cases {
		var fixes []int64
		r := newCommaReader(strings.NewReader(c.in), func(off int64) { fixes = append(fixes, off) })
		got, err := io.ReadAll(iotestOneByte(r))
		require.NoError(t, err)
		require.Equal(t, c.out, string(got), "%q", c.in)
		require.Len(t, got, len(c.in), "offsets are kept")
		for _, f := range fixes {
			require.Equal(t, byte(','), c.in[f])
		}
	}
	// A long run of white space after a comma is let through unchanged.
	in := "[1," + strings.Repeat(" ", maxHeldSpace+10) + "2]"
	got, err := io.ReadAll(newCommaReader(strings.NewReader(in), nil))
	require.NoError(t, err)
	require.Equal(t, in, string(got))
}

// iotestOneByte reads one byte at a time from r, the worst split for the
// comma reader's state machine.
func iotestOneByte(r io.Reader) io.Reader { return &oneByte{r} }

type oneByte struct{ r io.Reader }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// TestProgressAndCancel: progress is reported, and a cancelled context
// stops the load.
func TestProgressAndCancel(t *testing.T) {
	t.Parallel()
	var attrs []string
	for i := range 200 {
		attrs = append(attrs, attr(u(100+i), "domain", fmt.Sprintf("d%d.example", i)))
	}
	doc := event(u(1), "progress", attrs)
	var last [2]int64
	opts := quiet(nil)
	opts.Progress = func(bytes, records int64) { last = [2]int64{bytes, records} }
	_, _, err := loadString(t, doc, opts)
	require.NoError(t, err)
	require.Equal(t, int64(len(doc)), last[0])
	require.GreaterOrEqual(t, last[1], int64(200))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = LoadFile(ctx, strings.NewReader(doc), &captureSink{}, quiet(nil))
	require.ErrorIs(t, err, context.Canceled)
}

// failingSink fails every write.
type failingSink struct{}

var errSink = errors.New("sink down")

func (failingSink) Write(context.Context, graph.Batch) (graph.WriteStats, error) {
	return graph.WriteStats{}, errSink
}

func TestSinkFailureStops(t *testing.T) {
	t.Parallel()
	var attrs []string
	for i := range 500 {
		attrs = append(attrs, attr(u(100+i), "domain", fmt.Sprintf("d%d.example", i)))
	}
	opts := quiet(nil)
	opts.BatchSize = 10
	_, err := LoadFile(context.Background(), bytes.NewReader([]byte(event(u(1), "fail", attrs))), failingSink{}, opts)
	require.ErrorIs(t, err, errSink)
}

// TestEventTLPMarksItsOwnContent: a tlp:red event's own content (a text
// attribute, a yara rule, a person object, a sighting: nodes keyed by the
// uuids of its records) is red too, also when the event's tags come after
// its attributes (as MISP exports them) and when an attribute has a weaker
// tag of its own; the observables and identities other events share (an
// address, an e-mail address, the organisation) are not; an event without
// a TLP marks nothing.
func TestEventTLPMarksItsOwnContent(t *testing.T) {
	t.Parallel()
	object := `{"uuid": "` + u(20) + `", "name": "person", "meta-category": "misc", "timestamp": "1600000000", "Attribute": [
		{"uuid": "` + u(21) + `", "type": "first-name", "object_relation": "first-name", "value": "John", "timestamp": "1600000000"},
		{"uuid": "` + u(22) + `", "type": "email-src", "object_relation": "email", "value": "john.doe@acme.example", "timestamp": "1600000000"}]}`
	attrs := []string{
		attr(u(2), "text", "victim: ACME Bank", `"Tag": [{"name": "tlp:clear"}]`),
		attr(u(3), "yara", "rule acme_only { condition: true }"),
		attr(u(4), "ip-dst", "198.51.100.60",
			`"Sighting": [{"uuid": "`+u(30)+`", "date_sighting": "1600000100", "type": "0", "Organisation": {"name": "SOC", "uuid": "`+u(31)+`"}}]`),
	}
	for _, tc := range []struct {
		name string
		tags []string
		want graph.TLP
	}{
		{"tags after the attributes", []string{`"Object": [` + object + `]`, `"Tag": [{"name": "tlp:red"}]`}, "red"},
		{"tags first", []string{`"Tag": [{"name": "tlp:amber"}]`, `"Object": [` + object + `]`}, "amber"},
		{"no tlp", []string{`"Object": [` + object + `]`, `"Tag": [{"name": "type:OSINT"}]`}, graph.TLPNone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := event(u(1), "private", attrs, tc.tags...)
			if tc.name == "tags first" {
				doc = strings.Replace(doc, `"Attribute": [`, tc.tags[0]+`, "Attribute": [`, 1)
				doc = strings.Replace(doc, `, `+tc.tags[0]+`, "Object"`, `, "Object"`, 1)
				require.Less(t, strings.Index(doc, `"Tag"`), strings.Index(doc, `"Attribute"`))
			}
			rep, sink, err := loadString(t, doc, quiet(nil))
			require.NoError(t, err)
			requireBalanced(t, rep)
			tlpOf := map[string]graph.TLP{}
			for _, n := range graph.MergeNodes(sink.nodes) {
				tlpOf[n.Key] = n.TLP
			}
			want := tc.want
			for _, key := range []string{"x-misp-attribute--" + u(2), "indicator--" + u(3), alias(u(20)), alias(u(30)), alias(u(1))} {
				if key == "x-misp-attribute--"+u(2) && want == graph.TLPNone {
					require.Equal(t, graph.TLP("clear"), tlpOf[key], "its own tag only")
					continue
				}
				require.Contains(t, tlpOf, key)
				require.Equal(t, want, tlpOf[key], "%s is the event's own", key)
			}
			ip, _ := sink.byAlias(alias(u(4)))
			org := graph.SourceNode(graph.KindIdentity, "identity--"+u(31))
			shared := 0
			for _, id := range []uuid.UUID{ip.ID, graph.ObservableID(graph.KindEmailAddr, stixID(`{"value":"john.doe@acme.example"}`)), org.ID} {
				for _, n := range graph.MergeNodes(sink.nodes) {
					if n.ID == id {
						require.Equal(t, graph.TLPNone, n.TLP, "%s %s is shared: no event TLP", n.Kind, n.Key)
						shared++
					}
				}
			}
			require.Equal(t, 3, shared)
		})
	}
}

// A sighting written without a uuid (PyMISP's add_sighting before the
// sighting reaches a MISP server, scripts writing feeds, old exports) was
// dropped (missing-id): the value was seen, and the graph said nothing.
// It is kept, keyed by what it says (what was sighted, when, of which
// type, by which source and organisation), so a reload gives the same node
// and two sightings that differ are two.
func TestSightingWithoutUUIDIsKept(t *testing.T) {
	t.Parallel()
	sighting := func(date, typ, org string) string {
		return `{"date_sighting": "` + date + `", "type": "` + typ + `", "source": "sensor", "Organisation": {"name": "` + org + `"}}`
	}
	sighted := attr(u(2), "ip-dst", "198.51.100.7", `"Sighting": [`+
		sighting("1600000100", "0", "SOC")+`, `+sighting("1600000200", "0", "SOC")+`, `+
		sighting("1600000100", "0", "CERT")+`, `+sighting("1600000100", "1", "SOC")+`]`)
	doc := event(u(1), "sightings", []string{sighted},
		`"Sighting": [{"attribute_uuid": "`+u(2)+`", "date_sighting": "1600000300", "type": "0"}]`)
	sightingsOf := func() (map[string]string, int64) {
		rep, sink, err := loadString(t, doc, quiet(nil))
		require.NoError(t, err)
		requireBalanced(t, rep)
		require.Empty(t, rep.Dropped)
		ip, ok := sink.byAlias(alias(u(2)))
		require.True(t, ok)
		got := map[string]string{}
		for _, r := range sink.relations {
			if (r.Dst == ip.Ref() || r.Dst == graph.Ref(alias(u(2)))) && (r.Type == graph.RelSightingOf || r.Type == graph.RelFalsePositiveOf) {
				sg, ok := sink.byID(r.Src)
				require.True(t, ok)
				require.Len(t, sg.Aliases, 1)
				got[sg.Aliases[0]] = r.Type + " " + sg.LastSeen.UTC().String()
			}
		}
		return got, rep.Sightings
	}
	first, n := sightingsOf()
	require.Equal(t, int64(4), n, "four sightings, one false positive")
	require.Len(t, first, 5, "each sighting its own node: %v", first)
	again, _ := sightingsOf()
	require.Equal(t, first, again, "the same keys on every load")
}

// An object written without a uuid (VMRay's MISP feed generator writes its
// sandbox-report and sb-signature objects so, as PyMISP's MISPObject is
// before a server saves it) was dropped (missing-id) with what it held as
// props: the sandbox's verdict, its permalink and every signature it
// fired. It is kept, keyed by what it says (its event's uuid, its name, its
// attributes), so a reload gives the same node and another object of
// other content is another node. A uuid given and not valid still drops
// the object (mispevent_misp_custom_obj.json, TestCorpusFiles).
func TestObjectWithoutUUIDIsKept(t *testing.T) {
	t.Parallel()
	path := filepath.Join(testdata, "vmray_misp_event_excerpt.json")
	objects := func(path string) map[graph.Kind]graph.Node {
		rep, sink, _, err := loadFile(t, path, quiet(nil))
		require.NoError(t, err)
		requireBalanced(t, rep)
		require.Empty(t, rep.Dropped)
		got := map[graph.Kind]graph.Node{}
		for _, n := range sink.nodes {
			if strings.HasPrefix(string(n.Kind), KindObjectPrefix) {
				m, ok := sink.byID(n.Ref())
				require.True(t, ok)
				got[n.Kind] = m
			}
		}
		return got
	}
	first := objects(path)
	require.Len(t, first, 2, "the sandbox-report and sb-signature objects: %v", first)
	report, sig := first[KindObjectPrefix+"sandbox-report"], first[KindObjectPrefix+"sb-signature"]
	require.Equal(t, "malicious", report.Props["score"])
	require.Equal(t, "vmray", report.Props["on-premise-sandbox"])
	require.Len(t, sig.Props["signature"], 2)
	require.Contains(t, fmt.Sprint(sig.Props["signature"]), `resolves host name "www.disney.com"`)
	require.Len(t, sig.Aliases, 1, "keyed by a uuid derived from what it says")

	again := objects(path)
	for k, n := range first {
		require.Equal(t, n.ID, again[k].ID, "%s: the same node on every load", k)
	}

	// Another signature: another object.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	other := filepath.Join(t.TempDir(), "other.json")
	require.NoError(t, os.WriteFile(other, []byte(strings.Replace(string(raw), "Mutex_N\\u00f6_0", "Mutex_N\\u00f6_9", 1)), 0o600))
	changed := objects(other)
	require.NotEqual(t, sig.ID, changed[KindObjectPrefix+"sb-signature"].ID)
	require.Equal(t, report.ID, changed[KindObjectPrefix+"sandbox-report"].ID)
}

// An event written without a uuid (VMRay's MISP feed) was dropped
// (missing-id) with its tags, creator and links: the analysis's ATT&CK
// techniques (misp-galaxy tags), VMRay as its creator and what the event
// holds were nowhere, its objects loading unlinked. It is kept, keyed by
// its creator, info and date, so a reload gives the same event, and an
// event of another info (another submission) is another.
func TestEventWithoutUUIDIsKept(t *testing.T) {
	t.Parallel()
	path := filepath.Join(testdata, "vmray_misp_event_excerpt.json")
	const info = "VMRay Platform report for submission 12"
	event := func(path, info string) (graph.Node, map[string][]string) {
		rep, sink, _, err := loadFile(t, path, quiet(nil))
		require.NoError(t, err)
		requireBalanced(t, rep)
		require.Empty(t, rep.Dropped)
		var ev graph.Node
		for _, n := range sink.nodes {
			if n.Kind == graph.KindReport && n.Name == info {
				ev = n
			}
		}
		require.NotEmpty(t, ev.Kind, "the event is a node")
		links := map[string][]string{}
		for _, r := range sink.relations {
			if r.Src != ev.Ref() {
				continue
			}
			dst, ok := sink.byID(r.Dst)
			require.True(t, ok, "%s -%s-> %s", r.Src, r.Type, r.Dst)
			links[r.Type] = append(links[r.Type], string(dst.Kind)+" "+dst.Name)
		}
		for _, l := range links {
			slices.Sort(l)
		}
		return ev, links
	}
	ev, links := event(path, info)
	require.Equal(t, []string{
		"attack-pattern Modify Registry", "attack-pattern System Network Configuration Discovery",
		"domain-name api.ipify.org", "domain-name www.etes.de",
		KindObjectPrefix + "sandbox-report sandbox-report", KindObjectPrefix + "sb-signature sb-signature",
	}, links[RelObject])
	require.Equal(t, []string{"identity VMRay"}, links[RelCreatedBy])
	require.Contains(t, ev.Labels, `vmray:verdict="malicious"`)

	again, _ := event(path, info)
	require.Equal(t, ev.ID, again.ID, "the same event on every load")

	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	other := filepath.Join(t.TempDir(), "other.json")
	require.NoError(t, os.WriteFile(other, []byte(strings.Replace(string(raw), "submission 12", "submission 13", 1)), 0o600))
	next, _ := event(other, "VMRay Platform report for submission 13")
	require.NotEqual(t, ev.ID, next.ID, "another submission, another event")
}

package misp

import (
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// corpusInputs lists the MISP files of the corpus and its feed directory.
func corpusInputs(t *testing.T) (files []string, feedDir string) {
	t.Helper()
	root := sharedCorpus(t)
	files, err := filepath.Glob(filepath.Join(root, "misp", "*", "*.json"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join(root, "misp", "galaxy", "*", "*.json"))
	require.NoError(t, err)
	feedDir = filepath.Join(root, "misp", "feed-misp-core-tests")
	var out []string
	for _, f := range append(files, more...) {
		if !strings.HasPrefix(f, feedDir) {
			out = append(out, f)
		}
	}
	return out, feedDir
}

// storeLoad loads one corpus input (a file, or the feed directory) into
// store.
func storeLoad(t *testing.T, store *store.Store, path, feedDir string) graph.WriteStats {
	t.Helper()
	ctx := context.Background()
	opts := quiet(nil)
	opts.Feed = "corpus/" + filepath.Base(filepath.Dir(path)) + "/" + filepath.Base(path)
	if path == feedDir {
		rep, err := LoadDir(ctx, path, store, opts)
		require.NoError(t, err)
		return rep.Written
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	rep, err := LoadFile(ctx, f, store, opts)
	require.NoError(t, err, path)
	requireBalanced(t, rep)
	return rep.Written
}

// TestStoreCorpus loads the whole MISP corpus into one PostgreSQL database:
// every file loads, every kind the mapping makes is there, and a record
// is found by the alias of its MISP uuid.
func TestStoreCorpus(t *testing.T) {
	t.Parallel()
	files, feedDir := corpusInputs(t)
	store := store.NewStore(pgtest.Pool(t))
	ctx := context.Background()
	var total graph.WriteStats
	for _, path := range append(files, feedDir) {
		total.Add(storeLoad(t, store, path, feedDir))
	}
	counts, err := store.Counts(ctx)
	require.NoError(t, err)
	require.Equal(t, total.NodesInserted, counts.Nodes)
	for _, kind := range []string{"report", "hash", "file", "ipv4-addr", "domain-name", "url", "intrusion-set", "threat-actor",
		"malware", "attack-pattern", "identity", "sighting", string(KindAttribute), KindObjectPrefix + "pe"} {
		require.Positive(t, counts.NodesByKind[kind], kind)
	}
	t.Logf("corpus: %+v; graph: %d nodes, %d relations, %d pending", total, counts.Nodes, counts.Relations, counts.PendingRelations)

	// The Regin event's first md5 (to_ids), found by its attribute's
	// alias: its indicator, based on the hash.
	n, err := store.ResolveNode(ctx, alias("548847d8-9db0-4df6-8206-15bb950d210b"))
	require.NoError(t, err)
	require.Equal(t, graph.KindIndicator, n.Kind)
	var hashes int
	require.NoError(t, store.Pool().QueryRow(ctx, `SELECT count(*) FROM relations r JOIN nodes d ON d.id = r.dst_id
		WHERE r.src_id = $1 AND r.relation = $2 AND d.kind = $3`, n.ID, graph.RelBasedOn, string(graph.KindHash)).Scan(&hashes))
	require.Equal(t, 1, hashes)
}

// twiceInputs are the corpus inputs TestStoreCorpusTwice loads twice: every
// shape the reader knows (wrapped, REST-wrapped, bare with sorted keys, feed
// directory, galaxy file), objects and references, composites, sightings,
// galaxies, CRLF and the ESET trailing comma. (One database each: loading
// them all costs a minute.)
var twiceInputs = []string{
	"misp/eset/windigo_ebury.misp.json",
	"misp/eset/pypi_backdoor_malicious_pypi_packages.misp-event.json",
	"misp/eset/invisimole_misp_invisimole.json",
	"misp/eset/moustachedbouncer_misp-moustachedbouncer.event.json",
	"misp/citizenlab/202006_DarkBasin_misp.json",
	"misp/misp-core/stixtest_misp_indicators_test.json",
	"misp/pymisp/mispevent_existing_event.json",
	"misp/pymisp/reportlab_long_event.json",
	"misp/pymisp/reportlab_sighting_1.json",
	"misp/misp-stix/test_events_collection_1.json",
	"misp/feed-misp-core-tests",
	"misp/galaxy/clusters/mitre-intrusion-set.json",
}

// TestStoreCorpusTwice loads corpus inputs twice, each into a database of
// its own: the second load of events changes nothing, because every node
// and relation of an event carries the event's or the record's own times
// and what is particular to a record sits under its uuid on the link to
// the shared node. Inputs without any time (galaxy cluster files) are
// stamped with the time of loading, so a second load moves their last seen
// forward; it inserts nothing.
//
// Not idempotent by nature, and so not here: inputs whose records disagree
// about one entity, rewritten by each load in input order
// (reportlab_japanese_test_heavy.json gives one attribute uuid to two
// values; across files, ATT&CK's renamed T1059).
func TestStoreCorpusTwice(t *testing.T) {
	t.Parallel()
	root := sharedCorpus(t)
	feedDir := filepath.Join(root, "misp", "feed-misp-core-tests")
	for _, rel := range twiceInputs {
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(root, rel)
			store := store.NewStore(pgtest.Pool(t))
			first := storeLoad(t, store, path, feedDir)
			second := storeLoad(t, store, path, feedDir)
			require.NotZero(t, first.NodesInserted)
			if strings.Contains(rel, "/galaxy/") {
				require.Zero(t, second.NodesInserted+second.RelationsInserted, "%+v", second)
				return
			}
			requireNoChange(t, second)
		})
	}
}

// requireNoChange checks that a load inserted, merged and left pending
// nothing.
func requireNoChange(t *testing.T, w graph.WriteStats) {
	t.Helper()
	require.Zero(t, w.NodesInserted+w.NodesMerged+w.RelationsInserted+w.RelationsMerged+w.RelationsPending+w.RelationsReleased, "%+v", w)
}

// TestStoreCrossFormat: the MISP events of misp-stix's tests and their STIX
// export share domain circl.lu and AS174; loaded into one store, each is one
// node carrying both feeds as sources. The constructed pair does the same
// for an address, a hash, a file and a domain.
func TestStoreCrossFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := store.NewStore(pgtest.Pool(t))

	opts := quiet(nil)
	opts.Feed = "misp-events"
	f, err := os.Open(filepath.Join(testdata, "test_events_collection_1.json"))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	_, err = LoadFile(ctx, f, store, opts)
	require.NoError(t, err)
	sf, err := os.Open(filepath.Join(testdata, "stix_test_events_collection_stix21.json"))
	require.NoError(t, err)
	defer sf.Close() //nolint:errcheck // read-only
	_, err = stix.Load(ctx, sf, store, stix.Options{Feed: "stix-export", Logger: quiet(nil).Logger})
	require.NoError(t, err)

	for _, ref := range []string{alias("4bb235a7-7d25-4aef-802f-2c6b45c5eceb"), "domain-name--4bb235a7-7d25-4aef-802f-2c6b45c5eceb",
		alias("2972c3a2-dda3-4de7-aca1-e96cf7ce5544"), "autonomous-system--2972c3a2-dda3-4de7-aca1-e96cf7ce5544"} {
		n, err := store.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.ElementsMatch(t, []string{"misp-events", "stix-export"}, n.Sources, ref)
	}
	domain, err := store.GetNode(ctx, graph.ObservableID(graph.KindDomainName, stixID(`{"value":"circl.lu"}`)))
	require.NoError(t, err)
	require.Equal(t, "circl.lu", domain.Key)

	opts.Feed = "misp-constructed"
	_, err = LoadFile(ctx, strings.NewReader(event(u(1), "cross-format", []string{
		attr(u(2), "ip-dst", "198.51.100.7"),
		attr(u(3), "sha256", sha256a),
		attr(u(4), "filename|sha256", "a.exe|"+sha256a),
		attr(u(5), "domain", "evil.example.com"),
	})), store, opts)
	require.NoError(t, err)
	_, err = stix.Load(ctx, strings.NewReader(constructedSTIX), store, stix.Options{Feed: "stix-constructed", Logger: quiet(nil).Logger})
	require.NoError(t, err)
	for _, id := range []string{
		graph.ObservableID(graph.KindIPv4Addr, stixID(`{"value":"198.51.100.7"}`)).String(),
		graph.HashNode("SHA-256", sha256a).ID.String(),
		graph.ObservableID(graph.KindFile, stixID(`{"hashes":{"SHA-256":"`+strings.ToLower(sha256a)+`"},"name":"a.exe"}`)).String(),
		graph.ObservableID(graph.KindDomainName, stixID(`{"value":"evil.example.com"}`)).String(),
	} {
		n, err := store.ResolveNode(ctx, id)
		require.NoError(t, err, id)
		require.ElementsMatch(t, []string{"misp-constructed", "stix-constructed"}, n.Sources, "%s %s", n.Kind, n.Key)
	}
}

// TestStoreFeedDirectoryTwice: a feed directory loaded twice writes nothing
// the second time.
func TestStoreFeedDirectoryTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := store.NewStore(pgtest.Pool(t))
	dir := filepath.Join(testdata, "feed")
	first, err := LoadDir(ctx, dir, store, quiet(nil))
	require.NoError(t, err)
	require.NotZero(t, first.Written.NodesInserted)
	second, err := LoadDir(ctx, dir, store, quiet(nil))
	require.NoError(t, err)
	requireNoChange(t, second.Written)
}

// TestStoreSTIX2PatternAttribute: a MISP stix2-pattern attribute
// (testdata/adv/misp-stix2-pattern.json) is an indicator based on the
// observables its pattern compares, as the same pattern in a STIX feed is:
// the walk from the address a STIX feed gives reaches it.
func TestStoreSTIX2PatternAttribute(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := store.NewStore(pgtest.Pool(t))
	f, err := os.Open(filepath.Join("..", "..", "testdata", "adv", "misp-stix2-pattern.json"))
	require.NoError(t, err)
	defer f.Close() //nolint:errcheck // read-only
	opts := quiet(nil)
	opts.Feed = "misp-stix2-pattern"
	_, err = LoadFile(ctx, f, st, opts)
	require.NoError(t, err)
	_, err = stix.Load(ctx, strings.NewReader(`{"type":"bundle","id":"bundle--00000000-0000-4000-8000-0000000000b1","objects":[
		{"type":"ipv4-addr","spec_version":"2.1","id":"ipv4-addr--00000000-0000-4000-8000-0000000000b2","value":"198.51.100.61"}]}`),
		st, stix.Options{Feed: "stix-sco", Logger: quiet(nil).Logger})
	require.NoError(t, err)

	ip, err := st.ResolveNode(ctx, "ipv4-addr--00000000-0000-4000-8000-0000000000b2")
	require.NoError(t, err)
	nb, err := st.FindRelated(ctx, ip.ID, graph.RelatedOptions{Depth: 1})
	require.NoError(t, err)
	ind, err := st.ResolveNode(ctx, alias("5e1f0000-0000-4000-8000-000000001301"))
	require.NoError(t, err)
	var reached []string
	for _, n := range nb.Nodes {
		reached = append(reached, string(n.Kind)+" "+n.Key)
	}
	require.Contains(t, reached, "indicator "+ind.Key, "the address reaches the MISP indicator")
	dom, err := st.ResolveNode(ctx, "domain-name:stix2pat.example")
	require.NoError(t, err)
	require.Equal(t, []string{"misp-stix2-pattern"}, dom.Sources)
}

// A copy of an event without its Attribute and Object lists (MISP's
// metadata-only search results; the Event a ZMQ misp_json_attribute
// message carries, MISP's documentation) loaded after the event, with a
// newer timestamp, superseded every link the event held: `intel related`
// of the event gave nothing. Such a copy says nothing of the event's
// members, so it states no version of its links; a copy that gives them
// empty (Attribute: [], Object: []) still says the event holds nothing
// now, and supersedes them.
func TestStoreEventMetadataCopyKeepsLinks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_event.json"))
	require.NoError(t, err)
	var doc map[string]map[string]any
	require.NoError(t, jsonUnmarshal(raw, &doc))
	ev := doc["Event"]
	const evUUID = "59259036-fcd0-4749-8a6c-4d88950d210f"
	copyOf := func(members map[string]any) string {
		c := map[string]any{}
		for k, v := range ev {
			switch k {
			case "Attribute", "Object", "ShadowAttribute", "RelatedEvent", "Galaxy", "Tag":
			default:
				c[k] = v
			}
		}
		for k, v := range members {
			c[k] = v
		}
		c["timestamp"] = "1505760000" // newer than the event's 1505755565
		b, err := stdjson.Marshal(map[string]any{"Event": c})
		require.NoError(t, err)
		return string(b)
	}
	members := func(copyDoc string) []string {
		st := store.NewStore(pgtest.Pool(t))
		opts := quiet(nil)
		opts.Feed = "zmq"
		_, err := LoadFile(ctx, strings.NewReader(string(raw)), st, opts)
		require.NoError(t, err)
		opts.Feed = "zmq-copy"
		_, err = LoadFile(ctx, strings.NewReader(copyDoc), st, opts)
		require.NoError(t, err)
		n, err := st.ResolveNode(ctx, alias(evUUID))
		require.NoError(t, err)
		nb, err := st.FindRelated(ctx, n.ID, graph.RelatedOptions{Depth: 1})
		require.NoError(t, err)
		var got []string
		for _, m := range nb.Nodes {
			if m.ID != n.ID && m.Kind != graph.KindIdentity {
				got = append(got, string(m.Kind)+" "+m.Name)
			}
		}
		slices.Sort(got)
		return got
	}
	// The http-request object, whose uri is to_ids, is the indicator
	// misp-stix exports of it (TestPropertyObjectsAreIndicators).
	require.Equal(t, []string{"file tmpzuni0skf",
		"indicator [network-traffic:extensions.'http-request-ext'.request_method = 'POST' AND network-traffic:extensions.'http-request-ext'.request_value = '/test.php']"},
		members(copyOf(nil)), "a metadata-only copy keeps the event's links")
	require.Empty(t, members(copyOf(map[string]any{"Attribute": []any{}, "Object": []any{}})),
		"a copy giving no attributes and no objects supersedes them")
}

// TestZMQAttributeMessageIsLinkedAsItsEventLinksIt: a ZMQ
// misp_json_attribute message (MISP's documentation's edit example,
// testdata/misp/zmq_misp_json_attribute.json: {"Attribute": …, "Event":
// …} with the attribute and a copy of its event beside it) links the
// attribute from its event as the event itself does: the to_ids domain's
// indicator, relation object, from the event, with the props the event's
// Attribute list gives it. Loaded with the event holding the attribute
// (zmq_misp_json_event.json with that attribute added, as MISP publishes
// it after the edit), in either order, the tables are the same. Before,
// the attribute and the event loaded unlinked (the link was kept for an
// event that never came, and lost).
func TestZMQAttributeMessageIsLinkedAsItsEventLinksIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	msg, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_attribute.json"))
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(testdata, "zmq_misp_json_event.json"))
	require.NoError(t, err)
	var m struct{ Attribute map[string]any }
	require.NoError(t, jsonUnmarshal(msg, &m))
	var doc map[string]map[string]any
	require.NoError(t, jsonUnmarshal(raw, &doc))
	doc["Event"]["Attribute"] = append(doc["Event"]["Attribute"].([]any), m.Attribute)
	full, err := stdjson.Marshal(doc)
	require.NoError(t, err)

	const ev, ind = "misp--59259036-fcd0-4749-8a6c-4d88950d210f", "indicator--59b8114b-1c80-4149-be3a-03e9c0a83832"
	type input struct{ feed, doc string }
	zmq, event := input{"zmq", string(msg)}, input{"event", string(full)}
	load := func(inputs ...input) (*pgxpool.Pool, string) {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool)
		for _, in := range inputs {
			opts := quiet(nil)
			opts.Feed = in.feed
			rep, err := LoadFile(ctx, strings.NewReader(in.doc), st, opts)
			require.NoError(t, err)
			requireBalanced(t, rep)
		}
		var props string
		err := pool.QueryRow(ctx, `SELECT r.props::text FROM relations r
			JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
			WHERE s.key = $1 AND r.relation = $2 AND d.key = $3`, ev, RelObject, ind).Scan(&props)
		require.NoError(t, err, "the event links the attribute's indicator")
		return pool, props
	}
	_, alone := load(zmq)
	_, inEvent := load(event)
	require.Equal(t, inEvent, alone, "the same props as the event's own link")
	p1, _ := load(zmq, event)
	p2, _ := load(event, zmq)
	require.Equal(t, pgtest.Dump(t, p1, pgtest.GraphQueries...), pgtest.Dump(t, p2, pgtest.GraphQueries...),
		"the same tables in either order")
}

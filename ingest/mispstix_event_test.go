package ingest_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestMISPEventAndItsSTIXExportAreOneNode: a MISP event, the STIX 2.1
// grouping and the STIX 2.0 report misp-stix exports of it (labelled
// misp:tool="MISP-STIX-Converter", the event's uuid in their ids) are one
// report node keyed misp--<uuid>, found by each of the three ids, linked
// to what each of them lists; the graph is the same in every load order.
// Before, they were three nodes (report misp--…, grouping grouping--…,
// report report--…) with the same title.
func TestMISPEventAndItsSTIXExportAreOneNode(t *testing.T) {
	t.Parallel()
	misp := mispstixFeed("misp", "events-misp.json", "misp")
	s20 := mispstixFeed("stix20", "events-stix20.json", "stix")
	s21 := mispstixFeed("stix21", "events-stix21.json", "stix")
	var first string
	for _, order := range [][]ingest.Feed{{misp, s20, s21}, {s21, s20, misp}, {s20, misp, s21}, {s21, misp, s20}} {
		ctx := context.Background()
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, order)
		var reports, groupings int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'report'), count(*) FILTER (WHERE kind = 'grouping')
			FROM nodes WHERE kind IN ('report', 'grouping')`).Scan(&reports, &groupings))
		require.Equal(t, 4, reports, "one node per event (order %s, %s, %s)", order[0].Name, order[1].Name, order[2].Name)
		require.Zero(t, groupings)

		const uuid = "e2e6a6ea-f69b-4d93-8564-f51d67cafe51"
		var key, name string
		var aliases []string
		var linkedAS int
		require.NoError(t, pool.QueryRow(ctx, `SELECT n.key, n.name,
			  (SELECT array_agg(a.source_id ORDER BY a.source_id) FROM node_aliases a WHERE a.node_id = n.id),
			  (SELECT count(*) FROM relations r JOIN nodes d ON d.id = r.dst_id
			   WHERE r.src_id = n.id AND r.relation = 'object' AND d.kind = 'autonomous-system')
			FROM nodes n WHERE n.kind = 'report' AND n.key = 'misp--' || $1`, uuid).Scan(&key, &name, &aliases, &linkedAS))
		require.Equal(t, "MISP-STIX-Converter test event with AS attribute", name)
		require.Equal(t, []string{"grouping--" + uuid, "misp--" + uuid, "report--" + uuid}, aliases)
		require.Equal(t, 1, linkedAS, "the event's attribute, one node whichever file named it")

		var pending int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pending_relations").Scan(&pending))
		require.Zero(t, pending)

		dump := pgtest.Dump(t, pool,
			"SELECT id, kind, key, name, props::text, labels, confidence, tlp, sources FROM nodes ORDER BY id",
			"SELECT src_id, relation, dst_id, sources, props::text FROM relations ORDER BY 1, 2, 3")
		if first == "" {
			first = dump
		}
		require.Equal(t, first, dump, "the same graph in every load order")
	}
}

// TestMISPAttributeAndItsSTIXIndicatorAreOneSetOfRecords: a to_ids
// attribute (misp-stix's domain circl.lu, 4bb235a7…, to_ids true) and the
// indicator misp-stix exports it as (indicator--<attribute uuid>, pattern
// [domain-name:value = 'circl.lu'], listed by the event's grouping;
// testdata/mispstix/event-domain-stix21-indicator-only.json, the export as
// misp-stix writes a to_ids attribute, an indicator alone) give one set of
// records whichever is loaded, alone or together: the event links the
// indicator, the indicator is based on the domain. Before, the MISP event
// linked the domain itself and no indicator: loaded with the export, the
// event listed the attribute twice, as the domain and as the indicator.
// Loaded together, in either order, the graph is the same, tables and
// aliases included.
func TestMISPAttributeAndItsSTIXIndicatorAreOneSetOfRecords(t *testing.T) {
	t.Parallel()
	misp := mispstixFeed("misp", "events-misp.json", "misp")
	stix := mispstixFeed("stix21", "event-domain-stix21-indicator-only.json", "stix")
	const event, attribute = "misp--d402185f-c129-4f65-8678-43edb2cee1cf", "4bb235a7-7d25-4aef-802f-2c6b45c5eceb"
	// links states the event's and the attribute's object and based-on
	// links as "<src key> <relation> <dst key>".
	links := func(ctx context.Context, pool *pgxpool.Pool) []string {
		return keyedLinks(ctx, t, pool, `s.key IN ($1, 'indicator--' || $2) AND r.relation IN ('object', 'based-on')`, event, attribute)
	}
	want := []string{
		"indicator--" + attribute + " based-on circl.lu",
		event + " object indicator--" + attribute,
	}
	var dumps []string
	for _, order := range [][]ingest.Feed{{misp}, {stix}, {misp, stix}, {stix, misp}} {
		ctx := context.Background()
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, order)
		require.Equal(t, want, links(ctx, pool), "one set of records (%s first, %d files)", order[0].Name, len(order))
		n, err := st.ResolveNode(ctx, "misp--"+attribute)
		require.NoError(t, err)
		require.Equal(t, "indicator--"+attribute, n.Key, "the attribute is the indicator")
		if len(order) == 2 {
			require.Contains(t, n.Sources, "misp")
			require.Contains(t, n.Sources, "stix21")
			dumps = append(dumps, pgtest.Dump(t, pool, pgtest.GraphQueries...))
		}
	}
	require.Equal(t, dumps[0], dumps[1], "the same tables in either order")
}

// TestMISPObjectAndItsSTIXIndicatorAreOneSetOfRecords: a MISP object with
// to_ids attributes (misp-stix's objects collection: a file object whose
// name and hashes are to_ids, an e-mail object whose sender is) is the
// one indicator misp-stix exports it as (indicator--<object uuid>,
// pattern ANDing the to_ids attributes, testdata/mispstix/objects-stix21.json
// as misp-stix wrote it, with the observed-data it wrote beside the
// indicator then; objects-stix21-indicators-only.json, its two indicators
// alone, as misp-stix writes such an object now): misp--<object uuid>
// finds the indicator, which is based on what its pattern compares
// (the file's hashes, the sender's address), whichever file is loaded,
// alone or together, and the tables are the same in either order. Before,
// the object was its file node (keyed by the hashes) or an
// x-misp-object-email node, and loading the export beside it gave a
// second node, the indicator, for the same object.
func TestMISPObjectAndItsSTIXIndicatorAreOneSetOfRecords(t *testing.T) {
	t.Parallel()
	misp := mispstixFeed("misp", "objects-misp.json", "misp")
	only := mispstixFeed("stix21", "objects-stix21-indicators-only.json", "stix")
	full := mispstixFeed("stix21-full", "objects-stix21.json", "stix")
	const file, email = "5e384ae7-672c-4250-9cda-3b4da964451a", "5e396622-2a54-4c8d-b61d-159da964451a"
	// links are the indicators' based-on links to what their patterns
	// compare (the older export's relationships to its observed-data
	// left out).
	links := func(ctx context.Context, pool *pgxpool.Pool) []string {
		return keyedLinks(ctx, t, pool, `s.key IN ('indicator--' || $1, 'indicator--' || $2) AND r.relation = 'based-on'
			AND d.kind <> 'observed-data'`, file, email)
	}
	// The pattern describes one file by its name and hashes: the
	// indicator is based on that file too, which has-hash them — one rule
	// in both loaders (stix.PatternGraph). Before, the MISP loader read the
	// pattern it writes through stix.PatternObservables: MISP alone gave
	// no based-on link to the file, the export one more.
	oui, _, _ := graph.FileNode(map[string]string{"MD5": "8764605c6f388c89096b534d33565802",
		"SHA-1": "46aba99aa7158e4609aaa72b50990842fd22ae86", "SHA-256": "ec5aedf5ecc6bdadd4120932170d1b10f6cfa175cfda22951dfd882928ab279b"}, "oui")
	want := []string{
		"indicator--" + file + " based-on " + graph.HashNode("MD5", "8764605c6f388c89096b534d33565802").Key,
		"indicator--" + file + " based-on " + graph.HashNode("SHA-1", "46aba99aa7158e4609aaa72b50990842fd22ae86").Key,
		"indicator--" + file + " based-on " + graph.HashNode("SHA-256", "ec5aedf5ecc6bdadd4120932170d1b10f6cfa175cfda22951dfd882928ab279b").Key,
		"indicator--" + file + " based-on " + oui.Key,
		"indicator--" + email + " based-on donald.duck@disney.com",
	}
	slices.Sort(want)
	dumps := map[string][]string{}
	for _, order := range [][]ingest.Feed{{misp}, {only}, {misp, only}, {only, misp}, {misp, full}, {full, misp}} {
		ctx := context.Background()
		st, pool := newStore(t)
		loadOneByOne(ctx, t, st, order)
		require.Equal(t, want, links(ctx, pool), "one set of records (%s first, %d files)", order[0].Name, len(order))
		for _, u := range []string{file, email} {
			n, err := st.ResolveNode(ctx, "misp--"+u)
			require.NoError(t, err, "%s first, %d files", order[0].Name, len(order))
			require.Equal(t, "indicator--"+u, n.Key, "the object is the indicator")
			if len(order) == 2 {
				require.Contains(t, n.Sources, "misp")
			}
		}
		var indicators int
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM nodes WHERE kind = 'indicator' AND key IN ('indicator--' || $1, 'indicator--' || $2)`,
			file, email).Scan(&indicators))
		require.Equal(t, 2, indicators)
		if len(order) == 2 {
			var other string
			if order[0] == misp {
				other = order[1].Name
			} else {
				other = order[0].Name
			}
			dumps[other] = append(dumps[other], pgtest.Dump(t, pool, pgtest.GraphQueries...))
		}
	}
	for other, d := range dumps {
		require.Equal(t, d[0], d[1], "the same tables in either order (misp and %s)", other)
	}
}

// keyedLinks are the relations the condition where (on relations r, their
// source node s and destination node d) selects, as "<src key> <relation>
// <dst key>", sorted.
func keyedLinks(ctx context.Context, t *testing.T, pool *pgxpool.Pool, where string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT s.key || ' ' || r.relation || ' ' || d.key FROM relations r
		JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id
		WHERE `+where+` ORDER BY 1`, args...)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return got
}

// mispstixFeed is the feed of a file of testdata/mispstix.
func mispstixFeed(name, file, format string) ingest.Feed {
	return ingest.Feed{Name: name, Path: filepath.Join("..", "testdata", "mispstix", file), Format: format}
}

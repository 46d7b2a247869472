package stix

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// uuidHex matches the UUID part of a STIX identifier.
var uuidHex = regexp.MustCompile(`--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// withUUIDCase rewrites the UUID part of every STIX identifier in s with f
// (strings.ToUpper, strings.ToLower), leaving everything else as written.
func withUUIDCase(s string, f func(string) string) string {
	return uuidHex.ReplaceAllStringFunc(s, f)
}

// graphRelations lists the relations between nodes as "kind relation kind
// name-or-key", sorted, and the number of pending relations.
func graphRelations(t *testing.T, pool *pgxpool.Pool) ([]string, int) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `SELECT s.kind || ' ' || r.relation || ' ' || d.kind || ' ' || coalesce(nullif(d.name, ''), d.key)
		FROM relations r JOIN nodes s ON s.id = r.src_id JOIN nodes d ON d.id = r.dst_id ORDER BY 1`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	var pending int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM pending_relations`).Scan(&pending))
	return got, pending
}

// TestUUIDCaseFile: testdata/adv/uuid-case.json names a malware whose id
// has an upper-case UUID in lower case, and a lower-case tool in upper
// case. UUID hex digits are case-insensitive (RFC 4122), so the
// relationship links the two; before, it stayed in pending_relations.
func TestUUIDCaseFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "adv", "uuid-case.json"))
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	rep, err := Load(ctx, strings.NewReader(string(data)), st, Options{Feed: "uuid-case", Logger: quietLogger})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)
	_, err = st.ReleasePending(ctx)
	require.NoError(t, err)
	got, pending := graphRelations(t, pool)
	require.Zero(t, pending, "nothing waits for an endpoint named in another case")
	require.Equal(t, []string{"malware uses tool Lower Tool"}, got)

	var upper []string
	rows, err := pool.Query(ctx, `SELECT source_id FROM node_aliases WHERE source_id ~ '--.*[A-F]'
		UNION ALL SELECT source_id FROM relation_ids WHERE source_id || src_ref || dst_ref ~ '--.*[A-F]'`)
	require.NoError(t, err)
	upper, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, upper, "identifiers are stored lower-case")

	// The relationship's id is found in any case.
	rec, err := st.RelationByID(ctx, "relationship--ABCDEF00-0000-4000-8000-0000000002A4")
	require.NoError(t, err)
	require.NotNil(t, rec.SrcNode)
	require.NotNil(t, rec.DstNode)
	require.Equal(t, "Upper Mal", rec.SrcNode.Name)
	for _, ref := range []string{"malware--ABCDEF00-0000-4000-8000-0000000002A2", "malware--abcdef00-0000-4000-8000-0000000002a2", "ABCDEF00-0000-4000-8000-0000000002A2"} {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, "Upper Mal", n.Name, ref)
	}
}

// TestUUIDCaseAcrossFiles: objects defined with ids in one case and named
// in the other by a second feed (relationship ends, report object_refs
// naming objects and a relationship, created_by_ref, a sighting's
// sighting_of_ref, where_sighted_refs and observed_data_refs, an
// observed-data's object_refs) are linked, whichever file loads first and
// whichever case defines, and the graph is the same in every order.
func TestUUIDCaseAcrossFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		org   = "identity--abcdef00-0000-4000-8000-0000000003b1"
		mal   = "malware--abcdef00-0000-4000-8000-0000000003b2"
		tool  = "tool--abcdef00-0000-4000-8000-0000000003b3"
		uses  = "relationship--abcdef00-0000-4000-8000-0000000003b4"
		od    = "observed-data--abcdef00-0000-4000-8000-0000000003b5"
		ip    = "ipv4-addr--abcdef00-0000-4000-8000-0000000003b6"
		rep   = "report--abcdef00-0000-4000-8000-0000000003c1"
		sight = "sighting--abcdef00-0000-4000-8000-0000000003c2"
		comm  = "relationship--abcdef00-0000-4000-8000-0000000003c3"
		ts    = `"created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z"`
	)
	defs := bundle(
		`{"type":"identity","spec_version":"2.1","id":"`+org+`",`+ts+`,"name":"Case Org","identity_class":"organization"}`,
		`{"type":"malware","spec_version":"2.1","id":"`+mal+`",`+ts+`,"name":"Case Mal","is_family":true}`,
		`{"type":"tool","spec_version":"2.1","id":"`+tool+`",`+ts+`,"name":"Case Tool"}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+uses+`",`+ts+`,"relationship_type":"uses","source_ref":"`+mal+`","target_ref":"`+tool+`"}`,
		`{"type":"ipv4-addr","spec_version":"2.1","id":"`+ip+`","value":"198.51.100.23"}`,
		`{"type":"observed-data","spec_version":"2.1","id":"`+od+`",`+ts+`,"first_observed":"2021-01-01T00:00:00Z","last_observed":"2021-01-01T00:00:00Z","number_observed":1,"object_refs":["`+ip+`"]}`,
	)
	refs := bundle(
		`{"type":"report","spec_version":"2.1","id":"`+rep+`",`+ts+`,"name":"Case Report","published":"2021-01-01T00:00:00Z","created_by_ref":"`+org+`","object_refs":["`+mal+`","`+uses+`"]}`,
		`{"type":"sighting","spec_version":"2.1","id":"`+sight+`",`+ts+`,"sighting_of_ref":"`+mal+`","where_sighted_refs":["`+org+`"],"observed_data_refs":["`+od+`"]}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+comm+`",`+ts+`,"relationship_type":"communicates-with","source_ref":"`+mal+`","target_ref":"`+ip+`"}`,
	)
	want := []string{
		"malware communicates-with ipv4-addr 198.51.100.23",
		"malware uses tool Case Tool",
		"observed-data object ipv4-addr 198.51.100.23",
		"report created-by identity Case Org",
		"report object malware Case Mal",
		"report object tool Case Tool",
		"sighting observed observed-data " + od,
		"sighting sighting-of malware Case Mal",
		"sighting where-sighted identity Case Org",
	}
	for _, tc := range []struct {
		name          string
		first, second string
	}{
		{"upper definitions first", withUUIDCase(defs, strings.ToUpper), withUUIDCase(refs, strings.ToLower)},
		{"lower references first", withUUIDCase(refs, strings.ToLower), withUUIDCase(defs, strings.ToUpper)},
		{"lower definitions first", withUUIDCase(defs, strings.ToLower), withUUIDCase(refs, strings.ToUpper)},
		{"upper references first", withUUIDCase(refs, strings.ToUpper), withUUIDCase(defs, strings.ToLower)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pool := pgtest.Pool(t)
			st := store.NewStore(pool, store.WithLogger(quietLogger))
			for i, feed := range []string{tc.first, tc.second} {
				r, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: []string{"first", "second"}[i], Logger: quietLogger})
				require.NoError(t, err)
				require.Empty(t, r.Dropped)
			}
			_, err := st.ReleasePending(ctx)
			require.NoError(t, err)
			got, pending := graphRelations(t, pool)
			require.Zero(t, pending, "nothing waits for an endpoint named in another case")
			require.Equal(t, want, got)
			rec, err := st.RelationByID(ctx, withUUIDCase(uses, strings.ToUpper))
			require.NoError(t, err)
			require.Equal(t, uses, rec.ID, "the relationship id is kept lower-case")
			require.Equal(t, graph.Ref(mal), rec.Src, "the references are kept lower-case")
		})
	}
}

// TestUUIDCaseMapping: every identifier the mapper reads is canonical, the
// UUID part lower-case, at any depth: an object's id, relationship ends,
// embedded references (nested ones in extensions too), a predefined TLP
// marking named in upper case (object_marking_refs, granular_markings), a
// custom marking definition named in another case than it was defined,
// and the references an observable's deterministic id is computed over. An
// identifier whose type part is not lower case is no STIX identifier.
func TestUUIDCaseMapping(t *testing.T) {
	t.Parallel()
	const (
		dir    = "directory--abcdef00-0000-4000-8000-0000000004a1"
		custom = "marking-definition--abcdef00-0000-4000-8000-0000000004a2"
		ts     = `"created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z"`
	)
	up := func(s string) string { return withUUIDCase(s, strings.ToUpper) }
	feed := func(ref string) string {
		return bundle(
			`{"type":"marking-definition","spec_version":"2.1","id":"`+up(custom)+`","created":"2021-01-01T00:00:00Z","definition_type":"tlp","name":"TLP:RED","definition":{"tlp":"red"}}`,
			`{"type":"directory","spec_version":"2.1","id":"`+up(dir)+`","path":"C:\\Temp"}`,
			`{"type":"file","spec_version":"2.1","id":"file--ABCDEF00-0000-4000-8000-0000000004A3","name":"a.exe","parent_directory_ref":"`+ref+`",
			  "extensions":{"x-ext":{"nested":{"sample_refs":["`+ref+`"]}}}}`,
			`{"type":"malware","spec_version":"2.1","id":"malware--ABCDEF00-0000-4000-8000-0000000004A4",`+ts+`,"name":"Marked","is_family":true,
			  "object_marking_refs":["MARKING-DEFINITION--abcdef00-0000-4000-8000-0000000004a9","`+up("marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da")+`"],
			  "granular_markings":[{"marking_ref":"`+up("marking-definition--f88d31f6-486f-44da-b317-01333bde0b82")+`","selectors":["name"]}]}`,
			`{"type":"indicator","spec_version":"2.1","id":"indicator--ABCDEF00-0000-4000-8000-0000000004A5",`+ts+`,"pattern":"[file:name = 'x']","pattern_type":"stix","valid_from":"2021-01-01T00:00:00Z",
			  "object_marking_refs":["`+strings.ToLower(custom)+`"]}`,
			`{"type":"MALWARE","spec_version":"2.1","id":"MALWARE--ABCDEF00-0000-4000-8000-0000000004A6",`+ts+`,"name":"Shouting","is_family":true}`,
		)
	}
	lower, _, _ := load(t, feed(dir))
	sink, rep, _ := load(t, feed(up(dir)))
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidID: 1}, rep.Dropped, "MALWARE--… is no STIX identifier")
	nodes := sink.byAlias()

	f, ok := nodes["file--abcdef00-0000-4000-8000-0000000004a3"]
	require.True(t, ok, "the file's id is an alias in lower case")
	lf := lower.byAlias()["file--abcdef00-0000-4000-8000-0000000004a3"]
	require.Equal(t, lf.ID, f.ID, "a reference in upper case gives the deterministic id the lower-case one gives")
	require.ElementsMatch(t, []string{dir}, relationsOf(sink, f, "parent-directory"))
	require.ElementsMatch(t, []string{dir}, relationsOf(sink, f, "sample"), "a nested reference is canonical")
	require.Equal(t, nodes[dir].ID, lower.byAlias()[dir].ID)

	m := nodes["malware--abcdef00-0000-4000-8000-0000000004a4"]
	require.Equal(t, graph.TLPAmber, m.TLP, "predefined TLP markings named in upper case count")
	require.Equal(t, []string{"MARKING-DEFINITION--abcdef00-0000-4000-8000-0000000004a9"}, m.Props["object_marking_refs"],
		"a marking reference whose type is not lower case is kept as written")
	ind := nodes["indicator--abcdef00-0000-4000-8000-0000000004a5"]
	require.Equal(t, graph.TLPRed, ind.TLP, "a custom marking defined in upper case, named in lower case")
	for _, a := range append(f.Aliases, m.Aliases...) {
		require.Equal(t, withUUIDCase(a, strings.ToLower), a)
	}
}

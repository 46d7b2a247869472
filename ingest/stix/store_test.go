package stix

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// snapshot returns every row of the graph tables as text, timestamps
// included.
func snapshot(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	const updated = ", updated_at"
	var out strings.Builder
	for _, q := range []string{
		"SELECT id, kind, key, name, props, labels, confidence, tlp, first_seen, last_seen, sources, created_at" + updated + " FROM nodes ORDER BY id",
		"SELECT source_id, node_id, source, created_at FROM node_aliases ORDER BY source_id",
		"SELECT src_id, relation, dst_id, confidence, first_seen, last_seen, sources, props, created_at" + updated + " FROM relations ORDER BY 1, 2, 3",
		"SELECT src_ref, relation, dst_ref, confidence, first_seen, last_seen, sources, props, created_at FROM pending_relations ORDER BY 1, 2, 3",
	} {
		rows, err := pool.Query(context.Background(), q)
		require.NoError(t, err)
		for rows.Next() {
			vals, err := rows.Values()
			require.NoError(t, err)
			fmt.Fprintln(&out, vals...)
		}
		require.NoError(t, rows.Err())
	}
	return out.String()
}

// TestCorpusIntoStore loads every well-formed corpus file, one after the
// other, into one database through the real graph Store (feeds meeting in
// one graph), and checks that every object that was not dropped is there:
// its id in node_aliases, or (relationships) its relation resolved or
// pending (to both ends of a relationship it names by id).
func TestCorpusIntoStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir, files := corpusFiles(t)
	pool := pgtest.Pool(t)
	store := store.NewStore(pool, store.WithLogger(quietLogger))
	// The newest version of each relationship id loaded so far: only its
	// relation is walked (an older version's, of another type or other
	// ends, is superseded: stix2arango's sro-updated.json and
	// duplicate-objects-properties-different.json give newer versions of
	// sro-original.json's relationship).
	type relVersion struct {
		at     time.Time
		triple string
	}
	newestRel := map[string]relVersion{}
	for _, name := range files {
		if contains(corpusMalformed, name) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		start := time.Now()
		rep, err := Load(ctx, bytes.NewReader(data), store, Options{Feed: name, Logger: quietLogger, BatchSize: 5000})
		require.NoError(t, err, name)
		t.Logf("%s: %d records, %d nodes, %d relations in %s", name, rep.RecordsRead, rep.Nodes, rep.Relations, time.Since(start))

		want, err := countIndependently(t, data)
		require.NoError(t, err)
		dropped := map[string]bool{}
		for _, p := range corpusProblems[name] {
			if f := strings.Fields(p); f[0] == "drop" {
				dropped[f[2]] = true
			}
		}
		var ids []string
		var triples []string
		for typ, set := range want.ids {
			for id := range set {
				switch {
				case dropped[id]:
				case typ == "relationship":
					at, _ := time.Parse(time.RFC3339Nano, want.versions[id])
					if n, ok := newestRel[id]; !ok || !at.Before(n.at) {
						newestRel[id] = relVersion{at, want.triples[id]}
					}
					triples = append(triples, newestRel[id].triple)
				default:
					ids = append(ids, id)
				}
			}
		}
		var resolved int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM node_aliases WHERE source_id = ANY($1)", ids).Scan(&resolved))
		require.Equal(t, len(ids), resolved, name)
		var srcs, types, dsts []string
		for _, tr := range triples {
			f := strings.Fields(tr)
			srcs, types, dsts = append(srcs, f[0]), append(types, f[1]), append(dsts, f[2])
		}
		var missing []string
		// A relationship naming a relationship id (an indicator that
		// indicates a relationship) links to both ends of that relationship.
		rows, err := pool.Query(ctx, `
			SELECT DISTINCT t.src || ' ' || t.rel || ' ' || t.dst
			FROM unnest($1::text[], $2::text[], $3::text[]) AS t(src, rel, dst)
			CROSS JOIN LATERAL (
				SELECT t.src AS s, t.dst AS d
				WHERE NOT EXISTS (SELECT 1 FROM relation_ids i WHERE i.source_id IN (t.src, t.dst))
				UNION ALL
				SELECT t.src, x FROM relation_ids i, unnest(ARRAY[i.src_ref, i.dst_ref]) AS x WHERE i.source_id = t.dst
				UNION ALL
				SELECT x, t.dst FROM relation_ids i, unnest(ARRAY[i.src_ref, i.dst_ref]) AS x WHERE i.source_id = t.src
			) AS e
			WHERE NOT EXISTS (SELECT 1 FROM relations r
			                  WHERE r.src_id = resolve_ref(e.s) AND r.relation = t.rel AND r.dst_id = resolve_ref(e.d))
			  AND NOT EXISTS (SELECT 1 FROM pending_relations p
			                  WHERE p.src_ref = e.s AND p.relation = t.rel AND p.dst_ref = e.d)`, srcs, types, dsts)
		require.NoError(t, err)
		for rows.Next() {
			var m string
			require.NoError(t, rows.Scan(&m))
			missing = append(missing, m)
		}
		require.NoError(t, rows.Err())
		require.Empty(t, missing, "%s: relations neither stored nor pending", name)
	}
}

// twiceFiles are the corpus files TestLoadTwiceChangesNothing loads twice:
// bundles of every shape and STIX version, SCOs with extensions, embedded
// 2.0 observables, sightings, markings, and large real feeds.
var twiceFiles = []string{
	"oasis-schemas-examples/poisonivy.json",
	"oasis-schemas-examples/apt1.json",
	"oasis-docs-examples/sighting-of-observed-data.json",
	"oasis-docs-examples/using-granular-markings.json",
	"python-stix2/sco-examples-bundle.json",
	"misp-stix/test_objects_collection_stix20.json",
	"elevator/2.1-extensions_issue-271.json",
	"elevator/2.1-extensions_email-links-observable.json",
	"opencti/client-python_DATA-TEST-STIX2_v2.json",
	"opencti/client-python_cyclic-bundle.json",
	"unit42/statelytaurus.json",
	"misp-core/stixtest_stix2_observables_test.json",
	// Several objects mapping to one node or relation with different
	// properties: malware named alike with different descriptions, a CVE
	// described twice, a relationship repeated with different x_ props.
	"mitre-attack/ics-attack-18.1.json",
	"misp-core/stixtest_stix2_indicators_test.json",
	"unit42/revil-ransomware.json",
}

// TestLoadTwiceChangesNothing loads a corpus file into an empty database,
// then again: the second load inserts and merges nothing and no row
// changes, updated_at included.
func TestLoadTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	dir := corpusDir(t)
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, name := range twiceFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			data, err := os.ReadFile(filepath.Join(dir, name))
			require.NoError(t, err)
			pool := pgtest.Pool(t)
			store := store.NewStore(pool, store.WithClock(func() time.Time { return clock }), store.WithLogger(quietLogger))
			opts := Options{Feed: name, Logger: quietLogger, Workers: 2, BatchSize: 500}

			first, err := Load(ctx, bytes.NewReader(data), store, opts)
			require.NoError(t, err)
			require.Positive(t, first.Written.NodesInserted)

			before := snapshot(t, pool)
			second, err := Load(ctx, bytes.NewReader(data), store, opts)
			require.NoError(t, err)
			require.Zero(t, second.Written.NodesInserted, "second load inserts no node")
			require.Zero(t, second.Written.NodesMerged, "second load changes no node")
			require.Zero(t, second.Written.RelationsInserted)
			require.Zero(t, second.Written.RelationsMerged, "second load changes no relation")
			require.Zero(t, second.Written.RelationsReleased)
			require.Equal(t, before, snapshot(t, pool), "no row changed")
		})
	}
}

package store_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/corpus"
	"github.com/ransomeye/intel/internal/feedtest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// identityFeeds are the corpus feeds of the #14 acceptance: ATT&CK for
// ICS, the ESET MISP events and the MISP threat-actor and ATT&CK
// intrusion-set galaxies.
var identityFeeds = []string{
	"stix/mitre-attack/ics-attack-18.1.json",
	"misp/eset",
	"misp/galaxy/clusters/threat-actor.json",
	"misp/galaxy/clusters/mitre-intrusion-set.json",
}

// loadInOrder loads feeds one at a time in the order given.
func loadInOrder(t *testing.T, feeds []ingest.Feed) (*store.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)
	res, err := ingest.Run(context.Background(), st, feeds, ingest.Options{Concurrency: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
	}
	return st, pool
}

// TestCorpusIdentity checks entity resolution on real feeds, loaded
// forward and in reverse: the same alias claims and relationship ids
// either way; ICS's deprecated Bad Rabbit (S1001) is not the live one
// (S0606) and does not overwrite it; revoked groups resolve to their
// replacements; MISP threat-actor clusters whose synonyms name an ATT&CK
// group are that group; ambiguity is recorded, never merged.
func TestCorpusIdentity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := corpus.Dir(t)
	var feeds []ingest.Feed
	for _, rel := range identityFeeds {
		feeds = append(feeds, feedtest.FeedsUnder(t, dir, filepath.Join(dir, rel))...)
	}
	st, pool := loadInOrder(t, feeds)
	back := slices.Clone(feeds)
	slices.Reverse(back)
	_, reversed := loadInOrder(t, back)
	for _, q := range []string{
		`SELECT alias, node_id::text FROM alias_claims ORDER BY 1, 2`,
		`SELECT source_id || ' ' || src_ref || ' ' || relation || ' ' || dst_ref, source FROM relation_ids ORDER BY 1`,
		`SELECT alias, node_id::text FROM name_uses ORDER BY 1, 2`,
		`SELECT node_id::text, coalesce(entity_id::text, '-') || ' ' || reason FROM node_entities ORDER BY 1`,
		`SELECT alias, '' FROM ambiguous_aliases ORDER BY 1`,
	} {
		require.Equal(t, tableRows(t, pool, q), tableRows(t, reversed, q), "order matters for %s", q)
	}

	// Bad Rabbit: S0606 live, S1001 deprecated (not revoked), two nodes.
	live, err := st.ResolveNode(ctx, "malware:S0606")
	require.NoError(t, err)
	require.Equal(t, "S0606", live.Key)
	require.Equal(t, "Bad Rabbit", live.Name)
	require.Empty(t, graph.Lifecycle(live.Props), "the live Bad Rabbit is not marked withdrawn")
	old, err := st.ResolveNode(ctx, "malware:S1001")
	require.NoError(t, err)
	require.Equal(t, "S1001", old.Key)
	require.Equal(t, graph.LifecycleDeprecated, graph.Lifecycle(old.Props))
	byName, err := st.ResolveNode(ctx, "malware:bad rabbit")
	require.NoError(t, err)
	require.Equal(t, live.ID, byName.ID, "the name finds the live one")

	// Revoked groups resolve to their replacements, by id, key or a
	// galaxy's "Name - G…".
	for ref, want := range map[string]string{
		"intrusion-set:G0057": "G0049", "G0057": "G0049", "intrusion-set:APT34": "G0049",
		"intrusion-set:G0074": "G0035", "intrusion-set:Dragonfly 2.0": "G0035", "intrusion-set:berserk bear": "G0035",
	} {
		r, err := st.Resolve(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, want, r.Node.Key, ref)
	}
	r, err := st.Resolve(ctx, "intrusion-set:G0057")
	require.NoError(t, err)
	require.Equal(t, "G0057 revoked by G0049", r.Note())

	// A MISP threat-actor whose synonyms name an ATT&CK group is that group.
	oilrig, err := st.ResolveNode(ctx, "intrusion-set:G0049")
	require.NoError(t, err)
	require.Contains(t, oilrig.Sources, "misp/galaxy/clusters/threat-actor.json")
	require.Contains(t, oilrig.Sources, "stix/mitre-attack/ics-attack-18.1.json")
	d, err := st.NodeDetails(ctx, oilrig.ID)
	require.NoError(t, err)
	require.Contains(t, briefKeys(d.Replaces), "G0057")
	for _, a := range d.Ambiguous {
		for _, o := range a.Others {
			require.NotEqual(t, "G0057", o.Key, "a replaced group is the same entity, not an ambiguity")
		}
	}

	// MISP threat-actor clusters keyed by their name whose names one
	// ATT&CK group claims are that group: in lookups and in walks.
	rows, err := pool.Query(ctx, `SELECT n.name, g.key FROM node_entities e
		JOIN nodes n ON n.id = e.node_id JOIN nodes g ON g.id = e.entity_id
		WHERE e.reason = 'alias' AND n.kind IN ('threat-actor', 'intrusion-set') ORDER BY 1`)
	require.NoError(t, err)
	same, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Name, Key string }])
	require.NoError(t, err)
	t.Logf("%d name-keyed actor clusters are an ATT&CK group, e.g. %v", len(same), same[:min(len(same), 8)])
	require.NotEmpty(t, same)
	for _, c := range same {
		require.True(t, graph.IsATTACKID(c.Key), "%s stands for %s, keyed by no ATT&CK id", c.Name, c.Key)
		r, err := st.Resolve(ctx, "threat-actor:"+c.Name)
		if errors.Is(err, store.ErrAmbiguous) {
			continue // its name alone is another entity's too; its synonyms decided
		}
		require.NoError(t, err, c.Name)
		require.Equal(t, c.Key, r.Node.Key, c.Name)
	}
	requireLinksShowOnEntity(t, st, pool)
	var amb int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM node_entities WHERE reason = 'ambiguous'`).Scan(&amb))
	t.Logf("%d name-keyed clusters name two or more entities: recorded, not merged", amb)

	// The threat-actor galaxy gives "Grizzly Steppe" to APT28 (G0007) and
	// APT29 (G0016): ambiguous, refused with both, neither merged.
	_, err = st.ResolveNode(ctx, "intrusion-set:Grizzly Steppe")
	require.ErrorIs(t, err, store.ErrAmbiguous)
	require.ErrorContains(t, err, "(G0007)")
	require.ErrorContains(t, err, "(G0016)")
	apt28, err := st.ResolveNode(ctx, "intrusion-set:G0007")
	require.NoError(t, err)
	d, err = st.NodeDetails(ctx, apt28.ID)
	require.NoError(t, err)
	require.Contains(t, d.Ambiguous, graph.AmbiguousAlias{Alias: "intrusion-set:grizzly steppe", Others: []graph.NodeBrief{
		{ID: graph.NamedID(graph.KindIntrusionSet, "G0016"), Kind: graph.KindIntrusionSet, Key: "G0016", Name: "APT29"}}})

	// Every ambiguous alias names nodes with ids of their own, never merged.
	rows, err = pool.Query(ctx, `SELECT c.alias, n.key FROM alias_claims c JOIN nodes n ON n.id = c.node_id
		WHERE c.alias IN (SELECT alias FROM alias_claims GROUP BY alias HAVING count(*) > 1) ORDER BY 1, 2`)
	require.NoError(t, err)
	claims, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Alias, Key string }])
	require.NoError(t, err)
	t.Logf("%d claims on ambiguous aliases, e.g. %v", len(claims), claims[:min(len(claims), 6)])
	for _, c := range claims {
		require.True(t, graph.IsATTACKID(c.Key), "%s claimed by %s, which is keyed by no ATT&CK id", c.Alias, c.Key)
	}
}

func briefKeys(bs []graph.NodeBrief) []string {
	out := []string{}
	for _, b := range bs {
		out = append(out, b.Key)
	}
	return out
}

// tableRows reads a two-column query as "a\tb" lines.
func tableRows(t *testing.T, pool *pgxpool.Pool, q string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), q)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var a, b string
		err := r.Scan(&a, &b)
		return a + "\t" + b, err
	})
	require.NoError(t, err)
	return out
}

// requireLinksShowOnEntity checks, for the nodes that stand for an entity
// (node_entities) and have walkable links to live nodes, that a default
// walk of one hop from the entity reaches those nodes and never the node
// standing for it.
func requireLinksShowOnEntity(t *testing.T, st *store.Store, pool *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT e.reason, e.entity_id, e.node_id, array_agg(DISTINCT p.peer)
		FROM node_entities e
		CROSS JOIN LATERAL (
			SELECT r.dst_id AS peer, r.relation FROM relations r WHERE r.src_id = e.node_id
			UNION ALL SELECT r.src_id, r.relation FROM relations r WHERE r.dst_id = e.node_id) AS p
		JOIN nodes n ON n.id = p.peer
		WHERE e.entity_id IS NOT NULL AND p.peer <> e.entity_id AND NOT node_withdrawn(n.props)
		  AND p.relation <> ALL($1::text[]) AND NOT EXISTS (SELECT 1 FROM node_entities x WHERE x.node_id = p.peer)
		GROUP BY 1, 2, 3 ORDER BY 1, 2, 3`, graph.RelatedOptions{}.SkippedRelations())
	require.NoError(t, err)
	type member struct {
		Reason         string
		Entity, Member uuid.UUID
		Peers          []uuid.UUID
	}
	members, err := pgx.CollectRows(rows, pgx.RowToStructByPos[member])
	require.NoError(t, err)
	checked := map[string]int{}
	for _, m := range members {
		if checked[m.Reason] == 10 || len(m.Peers) > 50 {
			continue
		}
		checked[m.Reason]++
		nb, err := st.FindRelated(ctx, m.Entity, graph.RelatedOptions{Depth: 1, Fanout: 1000, MaxNodes: 5000})
		require.NoError(t, err)
		got := map[uuid.UUID]bool{}
		for _, n := range nb.Nodes {
			got[n.ID] = true
		}
		require.False(t, got[m.Member], "%s: the node standing for %s is not returned", m.Reason, m.Entity)
		for _, p := range m.Peers {
			require.True(t, got[p], "%s: %s's link to %s shows on %s", m.Reason, m.Member, p, m.Entity)
		}
	}
	t.Logf("links shown on their entity: checked %v of %d nodes standing for one", checked, len(members))
	require.NotZero(t, checked["revoked-by"]+checked["alias"])
}

package stix

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestPatternNotUnderstoodIsACountedDrop: an indicator whose STIX pattern
// is not understood ([file:hashes."SHA-256" = '…'], double quotes, invalid
// STIX patterning) loads without the observables of its pattern. That was
// only a WARN line: the load report counted nothing, so the loss was
// silent in the report and intel feeds. It is now a counted drop of a
// part (Report.PartsDropped, invalid-pattern), beside the indicator whose
// pattern is read (its hash node written), and records read = mapped +
// dropped still holds.
func TestPatternNotUnderstoodIsACountedDrop(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const good = "0000000000000000000000000000000000000000000000000000000000000001"
	const bad = "0000000000000000000000000000000000000000000000000000000000000002"
	feed := bundle(
		`{"type":"indicator","spec_version":"2.1","id":"indicator--a0000000-0000-4000-8000-000000000001","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","pattern":"[file:hashes.'SHA-256' = '`+good+`']"}`,
		`{"type":"indicator","spec_version":"2.1","id":"indicator--a0000000-0000-4000-8000-000000000002","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","pattern":"[file:hashes.\"SHA-256\" = '`+bad+`']"}`,
	)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	log, logs := newCapture()
	rep, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: "patterns", Logger: log})
	require.NoError(t, err)

	var hashes []string
	rows, err := pool.Query(ctx, `SELECT key FROM nodes WHERE kind = $1 ORDER BY key`, string(graph.KindHash))
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		hashes = append(hashes, k)
	}
	require.NoError(t, rows.Err())
	require.Len(t, hashes, 1, "the good pattern's hash alone is written: %v", hashes)
	require.Contains(t, hashes[0], good)

	require.EqualValues(t, 2, rep.RecordsRead)
	require.EqualValues(t, rep.RecordsRead, rep.RecordsMapped+rep.DroppedTotal(), "both indicators load")
	require.EqualValues(t, 1, rep.PartsDropped[ReasonInvalidPattern], "the pattern not understood is counted: %+v", rep.PartsDropped)
	require.EqualValues(t, 1, rep.PartsDroppedTotal())
	var warned int
	for _, l := range logs() {
		if fmt.Sprint(l.attrs["reason"]) == string(ReasonInvalidPattern) && fmt.Sprint(l.attrs["id"]) == "indicator--a0000000-0000-4000-8000-000000000002" {
			warned++
		}
	}
	require.Equal(t, 1, warned, "logged once, with its typed reason and the indicator's id")
}

// TestPatternDropInNestedBundleNamesItsIndicator: an indicator whose
// pattern is not understood, in a bundle read as one record (a saved TAXII
// page in a JSON array), is a counted part drop named by the indicator's
// id and type, as at the top level; it was named by the bundle's (the
// drop's id and type were the record's, the bundle).
func TestPatternDropInNestedBundleNamesItsIndicator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const bad = "0000000000000000000000000000000000000000000000000000000000000002"
	feed := "[" + bundle(
		`{"type":"indicator","spec_version":"2.1","id":"indicator--a0000000-0000-4000-8000-000000000012","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","pattern":"[file:hashes.\"SHA-256\" = '`+bad+`']"}`,
	) + "]"
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	log, logs := newCapture()
	rep, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: "nested-patterns", Logger: log})
	require.NoError(t, err)
	require.EqualValues(t, 1, rep.RecordsRead)
	require.EqualValues(t, 1, rep.PartsDropped[ReasonInvalidPattern], "%+v", rep.PartsDropped)
	var named []string
	for _, l := range logs() {
		if fmt.Sprint(l.attrs["reason"]) == string(ReasonInvalidPattern) {
			named = append(named, fmt.Sprint(l.attrs["id"])+" "+fmt.Sprint(l.attrs["type"]))
		}
	}
	require.Equal(t, []string{"indicator--a0000000-0000-4000-8000-000000000012 indicator"}, named)
}

// TestNegatedPatternsGiveNoBasedOn: an indicator whose pattern puts NOT
// before an object path ([NOT domain-name:value = 'evil.example'], no
// STIX patterning: NOT negates an operator) loads with its pattern kept
// and a counted invalid-pattern drop, and no based-on link; valid negated
// comparisons (NOT =, NOT LIKE, NOT IN, !=) never give a based-on link to
// the value they exclude. Before, the invalid pattern was read as the
// comparison after the NOT: the indicator was based on evil.example, the
// one domain it excludes.
func TestNegatedPatternsGiveNoBasedOn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ind := func(n int, pattern string) string {
		return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--b0000000-0000-4000-8000-00000000000%d","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","pattern":%q}`, n, pattern)
	}
	feed := bundle(
		ind(1, "[NOT domain-name:value = 'evil.example']"),
		ind(2, "[domain-name:value NOT = 'evil.example']"),
		ind(3, "[domain-name:value NOT LIKE 'evil.example']"),
		ind(4, "[domain-name:value NOT IN ('evil.example', 'worse.example')]"),
		ind(5, "[domain-name:value != 'evil.example' AND domain-name:value = 'good.example']"),
	)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	log, logs := newCapture()
	rep, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: "negated", Logger: log})
	require.NoError(t, err)
	require.EqualValues(t, 5, rep.RecordsMapped, "every indicator loads")

	rows, err := pool.Query(ctx, `SELECT i.key, d.key FROM relations r JOIN nodes i ON i.id = r.src_id JOIN nodes d ON d.id = r.dst_id
		WHERE r.relation = $1 ORDER BY 1, 2`, graph.RelBasedOn)
	require.NoError(t, err)
	var based []string
	for rows.Next() {
		var i, d string
		require.NoError(t, rows.Scan(&i, &d))
		based = append(based, i+" -> "+d)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"indicator--b0000000-0000-4000-8000-000000000005 -> good.example"}, based,
		"no indicator is based on a value it excludes")

	var pattern string
	require.NoError(t, pool.QueryRow(ctx, `SELECT props->>'pattern' FROM nodes WHERE key = 'indicator--b0000000-0000-4000-8000-000000000001'`).Scan(&pattern))
	require.Equal(t, "[NOT domain-name:value = 'evil.example']", pattern, "the invalid pattern is kept")
	require.EqualValues(t, 1, rep.PartsDropped[ReasonInvalidPattern], "%+v", rep.PartsDropped)
	var warned int
	for _, l := range logs() {
		if fmt.Sprint(l.attrs["reason"]) == string(ReasonInvalidPattern) && fmt.Sprint(l.attrs["id"]) == "indicator--b0000000-0000-4000-8000-000000000001" {
			warned++
		}
	}
	require.Equal(t, 1, warned, "logged with its reason and id")
}

// TestHashThroughAReferenceIsTheHash: a pattern comparing a hash of the
// file a reference names — a process's executable
// ([process:binary_ref.hashes.'SHA-256' = '…'], STIX 2.0's binary_ref, as
// stix-shifter's CrowdStrike observables give a process; image_ref in
// 2.1), an e-mail attachment (body_multipart[*].body_raw_ref.hashes.MD5),
// a file's content (content_ref.hashes.'MD5', MISP core's STIX export of a
// malware-sample, stix/misp-core/stixtest_stix2_indicators_test.json) — is
// based on that hash node, the one a file object of that hash has-hash;
// a hash there that is not valid for its algorithm is a counted
// invalid-pattern-value drop, as under file:hashes. Before, such a
// comparison named no observable: the indicators were based on nothing and
// a walk from the file's hash never reached them.
func TestHashThroughAReferenceIsTheHash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	const md5 = "8764605c6f388c89096b534d33565802"
	ind := func(n int, pattern string) string {
		return fmt.Sprintf(`{"type":"indicator","spec_version":"2.1","id":"indicator--b1000000-0000-4000-8000-00000000000%d","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","pattern":%q}`, n, pattern)
	}
	feed := bundle(
		`{"type":"file","spec_version":"2.1","id":"file--b1000000-0000-4000-8000-000000000009","name":"evil.exe","hashes":{"SHA-256":"`+strings.ToUpper(sha)+`","MD5":"`+md5+`"}}`,
		ind(1, "[process:binary_ref.hashes.'SHA-256' = '"+sha+"']"),
		ind(2, "[email-message:body_multipart[*].body_raw_ref.hashes.MD5 = '"+md5+"']"),
		ind(3, "[file:content_ref.hashes.'MD5' = '"+md5+"' AND file:content_ref.name = 'oui']"),
		ind(4, "[process:parent_ref.image_ref.hashes.MD5 = '"+md5[:31]+"']"),
		ind(5, "[process:binary_ref.name = 'evil.exe']"),
	)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	rep, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: "ref-hashes", Logger: quietLogger})
	require.NoError(t, err)
	require.EqualValues(t, 6, rep.RecordsMapped)
	got, _ := graphRelations(t, pool)
	require.Equal(t, []string{
		"file has-hash hash MD5:" + md5,
		"file has-hash hash SHA-256:" + sha,
		"indicator based-on hash MD5:" + md5,
		"indicator based-on hash MD5:" + md5,
		"indicator based-on hash SHA-256:" + sha,
	}, got)
	require.Equal(t, map[engine.Reason]int64{ReasonInvalidPatternValue: 1}, rep.PartsDropped)
}

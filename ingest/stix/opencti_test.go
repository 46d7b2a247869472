package stix

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestOpenCTIStixIDsAcrossFeeds: OpenCTI lists the other STIX ids an
// object had (after a merge in OpenCTI) in x_opencti_stix_ids, or in
// stix_ids of its extension, and deduplicates by them. A relationship or
// report of another feed naming an old id (of a relationship too) reaches
// the object, whichever feed loads first, and nothing waits; the old id
// finds the node (intel show malware--<old>).
func TestOpenCTIStixIDsAcrossFeeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		old     = "malware--00000000-0000-4000-8000-00000000a001"
		newMal  = "malware--00000000-0000-4000-8000-00000000a002"
		oldTool = "tool--00000000-0000-4000-8000-00000000a003"
		newTool = "tool--00000000-0000-4000-8000-00000000a004"
		set     = "intrusion-set--00000000-0000-4000-8000-00000000a005"
		rel     = "relationship--00000000-0000-4000-8000-00000000a006"
		report  = "report--00000000-0000-4000-8000-00000000a007"
		oldRel  = "relationship--00000000-0000-4000-8000-00000000a008"
		newRel  = "relationship--00000000-0000-4000-8000-00000000a009"
		ts      = `"created":"2023-01-01T00:00:00Z","modified":"2023-01-01T00:00:00Z"`
	)
	naming := bundle(
		`{"type":"intrusion-set","spec_version":"2.1","id":"`+set+`",`+ts+`,"name":"Octi Set"}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+rel+`",`+ts+`,"relationship_type":"uses","source_ref":"`+set+`","target_ref":"`+old+`"}`,
		`{"type":"report","spec_version":"2.1","id":"`+report+`",`+ts+`,"name":"Octi Report","published":"2023-01-01T00:00:00Z","object_refs":["`+old+`","`+oldTool+`","`+oldRel+`"]}`,
	)
	// The old malware id in upper case: OpenCTI ids compare as identifiers do.
	defining := bundle(
		`{"type":"malware","spec_version":"2.1","id":"`+newMal+`",`+ts+`,"name":"Octi Malware","is_family":true,
		  "x_opencti_stix_ids":["`+old[:9]+strings.ToUpper(old[9:])+`"]}`,
		`{"type":"tool","spec_version":"2.1","id":"`+newTool+`",`+ts+`,"name":"Octi Tool",
		  "extensions":{"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba":{"extension_type":"property-extension","stix_ids":["`+oldTool+`"]}}}`,
		`{"type":"relationship","spec_version":"2.1","id":"`+newRel+`",`+ts+`,"relationship_type":"delivers","source_ref":"`+newTool+`","target_ref":"`+newMal+`",
		  "x_opencti_stix_ids":["`+oldRel+`"]}`,
	)
	want := []string{
		"intrusion-set uses malware Octi Malware",
		"report object malware Octi Malware",
		"report object tool Octi Tool",
		"tool delivers malware Octi Malware",
	}
	for i, order := range [][2]string{{naming, defining}, {defining, naming}} {
		pool := pgtest.Pool(t)
		st := store.NewStore(pool, store.WithLogger(quietLogger))
		for j, feed := range order {
			rep, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: []string{"a", "b"}[j], Logger: quietLogger})
			require.NoError(t, err)
			require.Empty(t, rep.Dropped)
		}
		_, err := st.ReleasePending(ctx)
		require.NoError(t, err)
		got, pending := graphRelations(t, pool)
		require.Equal(t, want, got, "order %d", i)
		require.Zero(t, pending, "order %d: nothing waits for an old id", i)
		for ref, name := range map[string]string{old: "Octi Malware", oldTool: "Octi Tool"} {
			r, err := st.Resolve(ctx, ref)
			require.NoError(t, err, "order %d: %s", i, ref)
			require.Equal(t, name, r.Node.Name)
		}
	}
}

// TestOpenCTIStixIDsOfARenamedObject: when another feed defines the old id
// itself under another name (the copy OpenCTI merged), the two nodes share
// that source id, as a renamed object's versions do: the old id resolves
// to the object listing it, the older copy is an older version of it, and
// its links are walked from the object.
func TestOpenCTIStixIDsOfARenamedObject(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const (
		old = "malware--00000000-0000-4000-8000-00000000b001"
		set = "intrusion-set--00000000-0000-4000-8000-00000000b002"
	)
	first := bundle(
		`{"type":"malware","spec_version":"2.1","id":"`+old+`","created":"2023-01-01T00:00:00Z","modified":"2023-01-01T00:00:00Z","name":"Alpha Copy","is_family":true}`,
		`{"type":"intrusion-set","spec_version":"2.1","id":"`+set+`","created":"2023-01-01T00:00:00Z","modified":"2023-01-01T00:00:00Z","name":"Copy Set"}`,
		`{"type":"relationship","spec_version":"2.1","id":"relationship--00000000-0000-4000-8000-00000000b003","created":"2023-01-01T00:00:00Z","modified":"2023-01-01T00:00:00Z",
		  "relationship_type":"uses","source_ref":"`+set+`","target_ref":"`+old+`"}`,
	)
	merged := bundle(
		`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-00000000b004","created":"2023-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","name":"Beta Merged","is_family":true,
		  "extensions":{"extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba":{"extension_type":"property-extension","stix_ids":["` + old + `"]}}}`,
	)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	for i, feed := range []string{first, merged} {
		_, err := Load(ctx, strings.NewReader(feed), st, Options{Feed: []string{"first", "merged"}[i], Logger: quietLogger})
		require.NoError(t, err)
	}
	r, err := st.Resolve(ctx, old)
	require.NoError(t, err)
	require.Equal(t, "Beta Merged", r.Node.Name)
	d, err := st.NodeDetails(ctx, r.Node.ID)
	require.NoError(t, err)
	require.Len(t, d.OlderVersions, 1)
	require.Equal(t, "Alpha Copy", d.OlderVersions[0].Name)
}

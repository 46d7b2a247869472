package misp

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/stix"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// hashDigest is a digest of MISP hash type t of the form the type takes,
// different for each type (i).
func hashDigest(t string, i int) string {
	hex := func(n int) string {
		return strings.Repeat(fmt.Sprintf("%02x", 0xa0+i), n/2)
	}
	switch t {
	case "md5", "imphash":
		return hex(32)
	case "sha1", "pehash", "cdhash":
		return hex(40)
	case "sha224", "sha512/224", "sha3-224":
		return hex(56)
	case "sha256", "sha512/256", "sha3-256", "authentihash":
		return hex(64)
	case "sha384", "sha3-384":
		return hex(96)
	case "sha512", "sha3-512":
		return hex(128)
	case "tlsh":
		return "t1" + hex(70)
	case "ssdeep":
		return fmt.Sprintf("%d:Ab%dcD:Ef%dgH", 3+i, i, i)
	}
	return fmt.Sprintf("%s-digest-%d", strings.ReplaceAll(t, "/", ""), i)
}

// mispSTIXHashName is the hash name misp-stix writes in the patterns and
// file hashes of its STIX 2.1 export (misp_to_stix2.py _define_hash_type:
// the type without hyphens, in upper case: SHA1, SHA3224, SSDEEP, …).
// sha512/224 and sha512/256 it writes SHA224 and SHA256, the names of
// other algorithms: left out.
func mispSTIXHashName(t string) (string, bool) {
	if strings.Contains(t, "/") {
		return "", false
	}
	return strings.ToUpper(strings.ReplaceAll(t, "-", "")), true
}

// TestOneDigestIsOneHashNodeInEverySpelling: a digest of each hash type
// MISP has, given by an event's attribute, a file object, an lnk object
// (the hash types misp-stix compares for it), misp-stix's STIX export
// (patterns and a file's hashes, misp-stix's spelling: SHA1, SHA3224, …)
// and a STIX feed in the STIX vocabulary's spelling ('SHA-1', 'SHA3-224',
// …), is one hash node. Before, misp-stix's SHA3224 and SHA3384 (and a
// STIX feed's SHA512/224, SHA512/256 without the hyphen) were hash nodes
// of their own beside MISP's SHA3-224, SHA3-384, SHA-512/224 and
// SHA-512/256 (graph.NormalizeHashAlgorithm knew SHA3256 and SHA3512
// only).
func TestOneDigestIsOneHashNodeInEverySpelling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool)

	types := make([]string, 0, len(hashAlgorithms))
	for ht := range hashAlgorithms {
		types = append(types, ht)
	}
	slices.Sort(types)
	var attrs, fileAttrs, lnkAttrs, objs []string
	for i, ht := range types {
		d := hashDigest(ht, i)
		attrs = append(attrs, attr(u(100+i), ht, d))
		fileAttrs = append(fileAttrs, fmt.Sprintf(`{"uuid": %q, "type": %q, "object_relation": %q, "value": %q, "to_ids": true, "timestamp": "1600000000"}`,
			u(200+i), ht, ht, d))
		if slices.Contains(lnkHashTypes, ht) {
			lnkAttrs = append(lnkAttrs, fmt.Sprintf(`{"uuid": %q, "type": %q, "object_relation": %q, "value": %q, "to_ids": true, "timestamp": "1600000000"}`,
				u(300+i), ht, ht, d))
		}
		n := fmt.Sprintf(`"%s"`, strings.ToUpper(ht))
		if alg, ok := hashAlgorithms[ht]; ok {
			n = fmt.Sprintf(`"%s"`, alg)
		}
		patterns := []string{"[file:hashes." + hashPath(strings.Trim(n, `"`)) + " = '" + d + "']"}
		hashes := []string{}
		if ms, ok := mispSTIXHashName(ht); ok {
			patterns = append(patterns, "[file:hashes."+ms+" = '"+d+"']")
			hashes = append(hashes, fmt.Sprintf(`%q: %q`, ms, d))
		}
		// The other spelling STIX producers write: no hyphen, in lower
		// case (sha512/224, sha3224).
		patterns = append(patterns, "[file:hashes.'"+strings.ReplaceAll(ht, "-", "")+"' = '"+d+"']")
		for j, p := range patterns {
			objs = append(objs, fmt.Sprintf(`{"type": "indicator", "spec_version": "2.1", "id": "indicator--%s", "created": "2020-09-13T00:00:00.000Z",
				"modified": "2020-09-13T00:00:00.000Z", "valid_from": "2020-09-13T00:00:00Z", "pattern_type": "stix", "pattern": %q}`,
				u(1000+10*i+j), p))
		}
		if len(hashes) > 0 {
			objs = append(objs, fmt.Sprintf(`{"type": "file", "spec_version": "2.1", "id": "file--%s", "hashes": {%s}}`,
				u(2000+i), strings.Join(hashes, ", ")))
		}
	}
	doc := event(u(1), "hash spellings", attrs, `"Object": [`+
		fmt.Sprintf(`{"uuid": %q, "name": "file", "timestamp": "1600000000", "Attribute": [%s]}, `, u(2), strings.Join(fileAttrs, ", "))+
		fmt.Sprintf(`{"uuid": %q, "name": "lnk", "timestamp": "1600000000", "Attribute": [%s]}]`, u(3), strings.Join(lnkAttrs, ", ")))
	opts := quiet(nil)
	opts.Feed = "misp"
	rep, err := LoadFile(ctx, strings.NewReader(doc), st, opts)
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Zero(t, rep.DroppedTotal(), "every hash loads: %v", rep.Dropped)
	bundle := `{"type": "bundle", "id": "bundle--` + u(4) + `", "objects": [` + strings.Join(objs, ",\n") + `]}`
	srep, err := stix.Load(ctx, strings.NewReader(bundle), st, stix.Options{Feed: "stix", Logger: quiet(nil).Logger})
	require.NoError(t, err)
	require.Zero(t, srep.DroppedTotal(), "every pattern loads: %v", srep.Dropped)

	for i, ht := range types {
		d := hashDigest(ht, i)
		rows, err := pool.Query(ctx, `SELECT key, sources FROM nodes WHERE kind = 'hash' AND lower(key) LIKE '%:' || lower($1) ORDER BY key`, d)
		require.NoError(t, err)
		var got []string
		for rows.Next() {
			var key string
			var sources []string
			require.NoError(t, rows.Scan(&key, &sources))
			got = append(got, fmt.Sprintf("%s %v", key, sources))
		}
		require.NoError(t, rows.Err())
		require.Equal(t, []string{graph.HashKey(hashAlgorithms[ht], d) + " [misp stix]"}, got, ht)
	}
}

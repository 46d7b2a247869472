package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// TestNodeLookupNamesShapes pins what node_lookup_names (the trigram
// index's expression) makes of every shape the lax path queries accept:
// a scalar where an array is expected, nested arrays, objects, non-strings,
// blank and padded names. The expected strings are what the SQL function of
// migration 00011 returned; migration 00021 rewrote it (inlinable) and it
// must return the same for every input but a hashes-led JSON key beside a
// name (TestSearchFindsHashesByDigest).
func TestNodeLookupNamesShapes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	for _, c := range []struct{ props, want string }{
		{`{}`, "\nname\nkey\n"},
		{`{"aliases": ["APT28", " Sofacy ", "", "Fancy Bear"]}`, "\nname\nkey\napt28\nsofacy\n\nfancy bear\n"},
		{`{"aliases": "Lone"}`, "\nname\nkey\nlone\n"},
		{`{"aliases": [["nested", "pair"], ["deep", ["deeper"]], 7, null, true, {"k": "v"}, "flat"]}`, "\nname\nkey\nnested\npair\ndeep\nflat\n"},
		{`{"aliases": {"k": "obj"}, "synonyms": ["Strontium", 3]}`, "\nname\nkey\nstrontium\n"},
		{`{"x_mitre_aliases": ["T1"], "x_opencti_aliases": ["O1", ["O2"]], "synonyms": "Syn"}`, "\nname\nkey\nt1\no1\no2\nsyn\n"},
		{`{"external_references": [{"source_name": "mitre-attack", "external_id": "G0007"}, {"external_id": ["E1", ["E2"]]}, [{"external_id": "E3"}], {"external_id": 5}, "str"]}`,
			"\nname\nkey\ng0007\ne1\ne3\n"},
		{`{"external_references": {"external_id": "OBJ1"}}`, "\nname\nkey\nobj1\n"},
		{`{"meta": {"external_id": ["M1", " M2 ", ["M3"]]}, "x_mitre_old_attack_id": "MOB-S0001"}`, "\nname\nkey\nm1\nm2\nm3\nmob-s0001\n"},
		{`{"meta": {"external_id": "M4"}, "x_mitre_old_attack_id": ["OLD1", ["OLD2"]]}`, "\nname\nkey\nm4\nold1\n"},
		{`{"meta": [{"external_id": "M5"}], "x_mitre_old_attack_id": 12}`, "\nname\nkey\nm5\n"},
		{`{"aliases": ["Ünïcode", "MiXeD\nLine"], "description": "not read"}`, "\nname\nkey\nÜnïcode\nmixed\nline\n"},
	} {
		var got string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT node_lookup_names(' Name ', 'key', $1::jsonb)`, c.props).Scan(&got))
		require.Equal(t, c.want, got, c.props)
	}
	var blank *string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT node_lookup_names('', repeat('k', 257), '{}')`).Scan(&blank))
	require.NotNil(t, blank)
	require.Equal(t, "\n\n", *blank, "no name and a long key: nothing between the newlines")
}

// TestDeletedNodeTakesItsRelations checks that deleting a node (never
// done by the product, but possible by hand) removes the relations and
// relation records naming it at either end and its aliases, as the foreign
// keys' ON DELETE CASCADE did before migrations 00022 and 00024, and
// leaves the others.
func TestDeletedNodeTakesItsRelations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	a := graph.NamedNode(graph.KindIntrusionSet, "Alpha")
	m := graph.NamedNode(graph.KindMalware, "Mid")
	z := graph.NamedNode(graph.KindTool, "Zulu")
	a.Aliases = []string{"intrusion-set--alpha"}
	m.Aliases = []string{"malware--mid", "malware--mid-2"}
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{a, m, z}, Relations: []graph.Relation{
		{Src: a.Ref(), Type: "uses", Dst: m.Ref()},
		{Src: m.Ref(), Type: "uses", Dst: z.Ref()},
		{Src: a.Ref(), Type: "uses", Dst: z.Ref()},
	}})
	require.NoError(t, err)
	count := func(table string) int {
		var n int
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n))
		return n
	}
	require.Equal(t, 3, count("relations"))
	require.Equal(t, 3, count("relation_records"))
	require.Equal(t, 3, count("node_aliases"))
	_, err = b.pool.Exec(ctx, `DELETE FROM nodes WHERE id = $1`, m.ID)
	require.NoError(t, err)
	require.Equal(t, 1, count("relations"), "both relations of the deleted node go")
	require.Equal(t, 1, count("relation_records"))
	require.Equal(t, 1, count("node_aliases"), "the deleted node's aliases go")
	var src, dst string
	require.NoError(t, b.pool.QueryRow(ctx, `SELECT src_id::text, dst_id::text FROM relations`).Scan(&src, &dst))
	require.Equal(t, []string{a.ID.String(), z.ID.String()}, []string{src, dst})
}

// TestRefNodeShape checks which references ref_node (through resolve_ref)
// reads as node--<uuid>: exactly those the regular expression of migration
// 00016 accepted (lower-case hex digits, dashes in place, nothing around),
// which migration 00022 replaced by a translation.
func TestRefNodeShape(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t)
	n := graph.NamedNode(graph.KindMalware, "Shape")
	_, err := b.store.Write(ctx, graph.Batch{Nodes: []graph.Node{n}})
	require.NoError(t, err)
	id := n.ID.String()
	resolve := func(ref string) *string {
		var got *string
		require.NoError(t, b.pool.QueryRow(ctx, `SELECT resolve_ref($1)::text`, ref).Scan(&got))
		return got
	}
	require.NotNil(t, resolve("node--"+id))
	require.Equal(t, id, *resolve("node--" + id))
	for _, ref := range []string{
		"node--" + strings.ToUpper(id),                     // upper-case hex
		"node--" + id + "\n",                               // trailing newline
		"node--" + id[:35],                                 // one short
		"node--" + id + "0",                                // one long
		"node--" + strings.Replace(id, "-", "0", 1) + "-",  // dash moved
		"node--" + id[:8] + "-" + id[9:13] + "g" + id[14:], // a non-hex letter in a dash's place
		"node--" + id[:9] + "-" + id[10:],                  // a dash in a digit's place
		"Node--" + id,                                      // prefix case
		" node--" + id,                                     // leading space
		"node--{" + id + "}",                               // a form uuid_in takes, the shape not
		"node--" + strings.ReplaceAll(id, "-", ""),         // no dashes
		"node--" + id[:8] + "\u00e9" + id[9:],              // a multibyte character
	} {
		require.Nil(t, resolve(ref), "%q is not node--<uuid>", ref)
	}
}

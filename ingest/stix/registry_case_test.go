package stix

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestRegistryKeyInAnyCaseIsOneNode: Windows registry keys are
// case-insensitive, so HKLM\Software\Run\Evil from one feed,
// HKEY_LOCAL_MACHINE\SOFTWARE\run\evil from another and an indicator's
// pattern of hklm\software\RUN\EVIL are one key node, which both objects'
// ids find and the indicator is based on; another key stays another node;
// a key given with its values is one node whatever the order of the values
// and the case of their names. Before, the path was kept as written in the
// key (three nodes), and the values as listed (two).
func TestRegistryKeyInAnyCaseIsOneNode(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	for feed, doc := range map[string]string{
		"a": `{"type": "windows-registry-key", "spec_version": "2.1", "id": "windows-registry-key--5e300000-0000-4000-8000-000000000001",
		       "key": "HKLM\\Software\\Run\\Evil"}`,
		"b": `[{"type": "windows-registry-key", "spec_version": "2.1", "id": "windows-registry-key--5e300000-0000-4000-8000-000000000002",
		        "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\run\\evil"},
		       {"type": "windows-registry-key", "spec_version": "2.1", "id": "windows-registry-key--5e300000-0000-4000-8000-000000000003",
		        "key": "HKEY_CURRENT_USER\\SOFTWARE\\run\\evil"}]`,
		"c": `{"type": "indicator", "spec_version": "2.1", "id": "indicator--5e300000-0000-4000-8000-000000000004",
		       "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "valid_from": "2024-01-01T00:00:00Z",
		       "pattern_type": "stix", "pattern": "[windows-registry-key:key = 'hklm\\\\software\\\\RUN\\\\EVIL']"}`,
	} {
		loadFeed(t, st, feed, doc)
	}
	// One key with two values, listed in either order, their names in any
	// case (Windows compares value names case-insensitively; the data is
	// as written): one node.
	loadFeed(t, st, "d", `{"type": "windows-registry-key", "spec_version": "2.1", "id": "windows-registry-key--5e300000-0000-4000-8000-000000000005",
	  "key": "HKLM\\Software\\Run", "values": [{"name": "Evil", "data": "C:\\e.exe"}, {"name": "Other", "data": "x"}]}`)
	loadFeed(t, st, "e", `{"type": "windows-registry-key", "spec_version": "2.1", "id": "windows-registry-key--5e300000-0000-4000-8000-000000000006",
	  "key": "HKEY_LOCAL_MACHINE\\SOFTWARE\\run", "values": [{"name": "other", "data": "x"}, {"name": "EVIL", "data": "C:\\e.exe"}]}`)
	d, err := st.ResolveNode(ctx, "windows-registry-key--5e300000-0000-4000-8000-000000000005")
	require.NoError(t, err)
	e, err := st.ResolveNode(ctx, "windows-registry-key--5e300000-0000-4000-8000-000000000006")
	require.NoError(t, err)
	require.Equal(t, d.ID, e.ID, "one key of the same values")

	rows, err := pool.Query(ctx, `SELECT key FROM nodes WHERE kind = 'windows-registry-key' AND key NOT LIKE '{%' ORDER BY 1`)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{`HKEY_CURRENT_USER\SOFTWARE\RUN\EVIL`, `HKEY_LOCAL_MACHINE\SOFTWARE\RUN\EVIL`}, keys)

	a, err := st.ResolveNode(ctx, "windows-registry-key--5e300000-0000-4000-8000-000000000001")
	require.NoError(t, err)
	b, err := st.ResolveNode(ctx, "windows-registry-key--5e300000-0000-4000-8000-000000000002")
	require.NoError(t, err)
	require.Equal(t, a.ID, b.ID, "both feeds' objects are one key")
	got, _ := graphRelations(t, pool)
	require.Len(t, got, 1)
	require.True(t, strings.HasPrefix(got[0], "indicator based-on windows-registry-key "), got[0])
	var based string
	require.NoError(t, pool.QueryRow(ctx, `SELECT r.dst_id::text FROM relations r WHERE r.relation = 'based-on'`).Scan(&based))
	require.Equal(t, a.ID.String(), based, "the pattern names the same key")
}

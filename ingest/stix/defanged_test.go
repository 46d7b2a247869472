package stix

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// TestDefangedObservables: an observable whose object says its value is
// defanged ("defanged": true; testdata/adv/defanged.json) is the node of
// the refanged value, the one a MISP attribute, a pattern or telemetry
// names, not a node keyed "198.51.100[.]77"; its props keep the value as
// written.
func TestDefangedObservables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "testdata", "adv", "defanged.json"))
	require.NoError(t, err)
	pool := pgtest.Pool(t)
	st := store.NewStore(pool, store.WithLogger(quietLogger))
	rep, err := Load(ctx, strings.NewReader(string(data)), st, Options{Feed: "defanged", Logger: quietLogger})
	require.NoError(t, err)
	require.Empty(t, rep.Dropped)

	rows, err := pool.Query(ctx, `SELECT kind || ':' || key FROM nodes ORDER BY 1`)
	require.NoError(t, err)
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{
		"domain-name:defanged-sco.example", "email-addr:bad@defanged-sco.example",
		"ipv4-addr:198.51.100.77", "url:http://defanged-sco.example/x",
	}, keys)
	n, err := st.ResolveNode(ctx, "ipv4-addr:198.51.100.77")
	require.NoError(t, err)
	require.Equal(t, "198.51.100[.]77", n.Props["value"], "props keep the value as written")
}

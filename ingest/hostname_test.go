package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
)

// TestOpenCTIHostnameIsADomainName: OpenCTI's own hostname observable (and
// its older x-opencti-hostname), an indicator pattern on hostname:value and
// a MISP hostname attribute of one value are one domain-name node, found by
// the OpenCTI object's id. Before, the OpenCTI object was a "hostname" node
// keyed by its id, apart from MISP's domain-name, and the pattern linked
// to nothing.
func TestOpenCTIHostnameIsADomainName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	stixFile := filepath.Join(dir, "opencti.json")
	require.NoError(t, os.WriteFile(stixFile, []byte(`{"type": "bundle", "id": "bundle--6d1a4a3e-8f25-4a8e-9d40-54c07fbd2e11", "objects": [
{"type": "hostname", "spec_version": "2.1", "id": "hostname--3f7d2b8e-5a0c-5d6e-9f1a-2b3c4d5e6f70", "value": "C2.Evil.Example"},
{"type": "x-opencti-hostname", "spec_version": "2.1", "id": "x-opencti-hostname--4f7d2b8e-5a0c-5d6e-9f1a-2b3c4d5e6f70", "value": "c2.evil.example."},
{"type": "indicator", "spec_version": "2.1", "id": "indicator--5f7d2b8e-5a0c-4d6e-9f1a-2b3c4d5e6f70", "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
 "name": "c2", "pattern": "[hostname:value = 'c2.evil.example']", "pattern_type": "stix", "valid_from": "2024-01-01T00:00:00Z"}]}`), 0o600))
	mispFile := filepath.Join(dir, "event.json")
	require.NoError(t, os.WriteFile(mispFile, []byte(`{"Event": {"uuid": "6f7d2b8e-5a0c-4d6e-9f1a-2b3c4d5e6f70", "info": "c2", "date": "2024-03-01", "timestamp": "1709251200",
"Attribute": [{"uuid": "7f7d2b8e-5a0c-4d6e-9f1a-2b3c4d5e6f70", "type": "hostname", "category": "Network activity", "value": "c2.evil.example", "timestamp": "1709251200", "to_ids": true}]}}`), 0o600))
	st, pool := newStore(t)
	res, err := ingest.Run(ctx, st, []ingest.Feed{{Name: "octi", Path: stixFile}, {Name: "misp", Path: mispFile}},
		ingest.Options{Concurrency: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
	}
	var domains, hostnames int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'domain-name'), count(*) FILTER (WHERE kind LIKE '%hostname')
		FROM nodes`).Scan(&domains, &hostnames))
	require.Equal(t, 1, domains, "one domain-name for the value from every producer")
	require.Zero(t, hostnames)
	want := graph.ValueNode(graph.KindDomainName, "c2.evil.example").ID
	for _, ref := range []string{"hostname--3f7d2b8e-5a0c-5d6e-9f1a-2b3c4d5e6f70", "x-opencti-hostname--4f7d2b8e-5a0c-5d6e-9f1a-2b3c4d5e6f70"} {
		n, err := st.ResolveNode(ctx, ref)
		require.NoError(t, err, ref)
		require.Equal(t, want, n.ID, ref)
	}
	var based int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM relations WHERE relation = 'based-on' AND dst_id = $1`, want).Scan(&based))
	require.Equal(t, 2, based, "the indicator's hostname pattern, and the MISP to_ids hostname's indicator, are based on the domain")
	var sources []string
	require.NoError(t, pool.QueryRow(ctx, `SELECT sources FROM nodes WHERE id = $1`, want).Scan(&sources))
	require.Equal(t, []string{"misp", "octi"}, sources)
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// loadReport is the part of a load report these tests read.
type loadReport struct {
	RecordsRead   int64            `json:"records_read"`
	RecordsMapped int64            `json:"records_mapped"`
	Nodes         int64            `json:"nodes"`
	Relations     int64            `json:"relations"`
	Dropped       map[string]int64 `json:"dropped"`
	Written       struct {
		NodesInserted    int64            `json:"nodes_inserted"`
		NodesMerged      int64            `json:"nodes_merged"`
		NodesUnchanged   int64            `json:"nodes_unchanged"`
		NodesRefused     int64            `json:"nodes_refused"`
		RelationsPending int64            `json:"relations_pending"`
		Dropped          map[string]int64 `json:"dropped"`
	} `json:"written"`
}

func loadJSON(t *testing.T, args ...string) loadReport {
	t.Helper()
	var res []struct {
		Report loadReport `json:"report"`
	}
	out := runOK(t, append(args, "--format", "json")...)
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	return res[0].Report
}

func dropTotal(r loadReport) int64 {
	var n int64
	for _, c := range r.Dropped {
		n += c
	}
	return n
}

// TestLoadDropsValuesTooLargeForTheDatabase: a STIX malware whose name is
// too large for the name index (name_uses) is a counted too-large drop
// before the database sees it, the relationship naming it waits in
// pending_relations, counted pending (another record may give that node
// later), and the report adds up: read = mapped + dropped, nothing
// repeated. Before, the database
// refused the node (54000), the report counted it rejected-by-database and
// repeated, and the relationship waited in pending_relations.
func TestLoadDropsValuesTooLargeForTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	raw := make([]byte, 4500)
	_, _ = rand.Read(raw)
	big := hex.EncodeToString(raw) // 9,000 digits that do not compress
	obj := func(id, extra string) string {
		return `{"type":"malware","spec_version":"2.1","id":"` + id + `","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","is_family":true,` + extra + `}`
	}
	in := `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000000","objects":[` +
		obj("malware--00000000-0000-4000-8000-000000000001", `"name":"small"`) + `,` +
		`{"type":"relationship","spec_version":"2.1","id":"relationship--00000000-0000-4000-8000-000000000003","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","relationship_type":"variant-of","source_ref":"malware--00000000-0000-4000-8000-000000000001","target_ref":"malware--00000000-0000-4000-8000-000000000002"},` +
		obj("malware--00000000-0000-4000-8000-000000000002", `"name":"`+big+`"`) + `]}`
	path := filepath.Join(t.TempDir(), "too-large.json")
	require.NoError(t, os.WriteFile(path, []byte(in), 0o644))
	r := loadJSON(t, "--database-url="+dsn, "ingest", "stix", path)
	require.Equal(t, int64(3), r.RecordsRead)
	require.Equal(t, map[string]int64{"too-large": 1}, r.Dropped)
	require.Equal(t, r.RecordsRead, r.RecordsMapped+dropTotal(r), "read = mapped + dropped")
	require.Equal(t, r.Nodes, r.Written.NodesInserted+r.Written.NodesMerged+r.Written.NodesUnchanged, "nothing repeated")
	require.Zero(t, r.Written.NodesRefused)
	var pending int64
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM pending_relations").Scan(&pending))
	require.Equal(t, int64(1), pending, "the relation to the dropped node waits")
	require.Equal(t, pending, r.Written.RelationsPending, "and the report says so")
}

// TestReportRefusedIsNotRepeated: a node the database refuses although
// validation passed it (here a check constraint the test adds) is counted
// refused, by reason, not as a repeated node nor as a dropped record, so
// the totals still add up.
func TestReportRefusedIsNotRepeated(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	_, err := pool.Exec(context.Background(), `ALTER TABLE nodes ADD CONSTRAINT test_refuse CHECK (name <> 'refuse me')`)
	require.NoError(t, err)
	var lines []string
	for i, name := range []string{"kept", "refuse me", "kept too"} {
		lines = append(lines, fmt.Sprintf(`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-00000000000%d","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","is_family":true,"name":%q}`, i+1, name))
	}
	path := filepath.Join(t.TempDir(), "refused.ndjson")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644))
	db := "--database-url=" + dsn
	r := loadJSON(t, db, "ingest", "stix", path)
	require.Equal(t, int64(3), r.RecordsRead)
	require.Equal(t, r.RecordsRead, r.RecordsMapped+dropTotal(r), "read = mapped + dropped")
	require.Equal(t, int64(1), r.Written.NodesRefused)
	require.Equal(t, map[string]int64{"rejected-by-database": 1}, r.Written.Dropped)
	require.Equal(t, r.Nodes, r.Written.NodesInserted+r.Written.NodesMerged+r.Written.NodesUnchanged+r.Written.NodesRefused)

	table := runOK(t, db, "ingest", "stix", path, "--force")
	m := regexp.MustCompile(`nodes +(\d+) \(inserted \d+, merged \d+, unchanged \d+, repeated (\d+)\)`).FindStringSubmatch(table)
	require.NotNil(t, m, table)
	require.Equal(t, "0", m[2], "a refused node is not repeated: %s", table)
	require.Contains(t, table, "refused          1 nodes, 0 relations (not written; by reason: rejected-by-database 1)")
}

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestRolesCreateThenReaderAndWriterRunWithoutFlags: `intel roles create`
// is idempotent and says what it did; a reader runs `related` and a writer
// loads telemetry without --no-partition-maintenance, each with one notice
// that the startup upkeep was skipped; the writer's report counts the lines
// of a day without a partition.
func TestRolesCreateThenReaderAndWriterRunWithoutFlags(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	file := loadSmallGraph(t, dsn)
	adminDSN := pgtest.AdminDSN(t, dsn)
	admin := pgtest.PoolFor(t, adminDSN)
	prefix := fmt.Sprintf("c%08x", rand.Uint32())
	roles := []string{prefix + "_owner", prefix + "_writer", prefix + "_reader"}
	logins := []string{prefix + "_reader_login", prefix + "_writer_login"}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		all := append(append([]string{}, roles...), logins...)
		stmts := []string{"REASSIGN OWNED BY " + strings.Join(all, ", ") + " TO pgtdbuser"}
		for _, r := range all {
			stmts = append(stmts, "DROP OWNED BY "+r)
		}
		for _, stmt := range append(stmts, "DROP ROLE "+strings.Join(all, ", ")) {
			if _, err := admin.Exec(ctx, stmt); err != nil {
				t.Logf("clean up roles: %s: %v", stmt, err)
			}
		}
	})

	out := runOK(t, "--database-url="+adminDSN, "roles", "create", "--prefix", prefix)
	for _, r := range roles {
		require.Contains(t, out, "created role "+r+"\n")
	}
	require.Contains(t, out, "  ALTER TABLE telemetry_edges OWNER TO "+prefix+"_owner;\n")
	out = runOK(t, "--database-url="+adminDSN, "roles", "create", "--prefix", prefix)
	for _, r := range roles {
		require.Contains(t, out, "role "+r+" exists\n")
	}
	require.NotContains(t, out, "OWNER TO")

	as := func(login, role string) string {
		_, err := admin.Exec(context.Background(), fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw' IN ROLE %s", login, role))
		require.NoError(t, err)
		u, err := url.Parse(dsn)
		require.NoError(t, err)
		u.User = url.UserPassword(login, "pw")
		return "--database-url=" + u.String()
	}
	reader := as(logins[0], roles[2])
	writer := as(logins[1], roles[1])

	stdout, stderr, code := runCLI(t, reader, "related", file.ID.String())
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "intrusion-set Bitwise Spider")
	require.Equal(t, 1, strings.Count(stderr, "partition upkeep skipped"), stderr)

	_, stderr, code = runCLI(t, reader, "partitions", "ensure")
	require.Equal(t, exitFailure, code, "the reader does no upkeep")
	require.Contains(t, stderr, "insufficient privilege")

	path := t.TempDir() + "/t.ndjson"
	today := time.Now().UTC().Format(time.RFC3339)
	line := fmt.Sprintf(`{"src":"process:h:1","relation":"connects-to","dst":"ipv4-addr:198.51.100.1","agent_id":"h","observed_at":%q}`, today)
	require.NoError(t, os.WriteFile(path, []byte(line+"\n"), 0o600))
	stdout, stderr, code = runCLI(t, writer, "ingest", "telemetry", path)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 1, strings.Count(stderr, "partition upkeep skipped"), stderr)
	require.Regexp(t, `day without partition\s+1 `, stdout)
}

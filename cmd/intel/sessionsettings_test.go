package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestSessionSettingsOfTheDatabase: settings a server's owner gives the
// database (or the role) that change how values travel. pgx speaks UTF-8
// only, and reads times as text in ISO form when it reads text (the simple
// protocol, default_query_exec_mode=simple_protocol, as poolers are often
// given): before, `ALTER DATABASE … SET client_encoding = 'LATIN1'` made
// every command fail with "read the server's connection limits: read
// max_connections: simple protocol queries must be run with
// client_encoding=UTF8" (exit 1), and DateStyle = 'SQL, DMY' made every
// read of a time over the simple protocol fail ("list feeds: can't scan
// into dest[7] (col: last_loaded_at): invalid PostgreSQL date/time value
// "06/12/2026 14:01:23.939065 +14"", and a feed load failed recording its
// start). intel's sessions now start with client_encoding=UTF8 and
// DateStyle=ISO, which win over the database's and role's settings; the
// day partitions stay UTC days whatever the TimeZone.
func TestSessionSettingsOfTheDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	setForDatabase(t, dsn, "client_encoding", "LATIN1")
	setForDatabase(t, dsn, "DateStyle", "SQL, DMY")
	setForDatabase(t, dsn, "TimeZone", "Pacific/Kiritimati") // UTC+14: the local day is not the UTC day
	for _, url := range []string{dsn, dsn + "&default_query_exec_mode=simple_protocol"} {
		runOK(t, "--database-url="+url, "ingest", "stix", "--force", "../../testdata/demo/hellokitty-ransomware.json")
		out := runOK(t, "--database-url="+url, "feeds", "--format", "json")
		var feeds []struct {
			Name, Status string
		}
		require.NoError(t, json.Unmarshal([]byte(out), &feeds), out)
		require.Len(t, feeds, 1)
		require.Equal(t, "ok", feeds[0].Status)
		runOK(t, "--database-url="+url, "partitions", "check")
		runOK(t, "--database-url="+url, "search", "HelloKitty")
	}
}

// TestSearchPathWithoutASchema: a search_path that names no schema that
// exists (set for the database before its schema was made, or "$user"
// alone) is refused with the setting named. Before, every command said
// `read schema version: failed to get latest version: ERROR: relation
// "goose_db_version" does not exist` and migrate up `failed to create
// version table "goose_db_version": ERROR: no schema has been selected to
// create in`. The URL's own search_path wins over the database's.
func TestSearchPathWithoutASchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	setForDatabase(t, dsn, "search_path", "nothere")
	for _, args := range [][]string{{"search", "kitty"}, {"migrate", "up"}} {
		_, stderr, code := runCLI(t, append([]string{"--database-url=" + dsn}, args...)...)
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, "intel: the session's search_path (nothere) names no schema that exists", args)
		require.Contains(t, stderr, "(?search_path=public)")
	}
	runOK(t, "--database-url="+dsn+"&search_path=public", "search", "kitty")
}

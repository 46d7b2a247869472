package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/migrations"
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

// TestSearchPathPuttingAnotherSchemaFirst: a role or database whose
// search_path puts first a schema that exists but holds none of intel's
// tables (ALTER ROLE … SET search_path = empty, CREATE SCHEMA empty), on a
// database intel migrated in public. Before, every command said `database
// schema is at version 0 and has pending migrations: run 'intel migrate
// up' first`, and doing so began a second set of tables in that schema
// (failing at migration 11 with ten made: pg_trgm's operator class is in
// public). Now every command names the search_path and the schema
// holding intel's tables, and makes nothing; migrate warns so.
func TestSearchPathPuttingAnotherSchemaFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE SCHEMA empty")
	require.NoError(t, err)
	setForDatabase(t, dsn, "search_path", "empty")
	for _, args := range [][]string{{"search", "kitty"}, {"ingest", "stix", filepath.Join("..", "..", "testdata", "demo", "hellokitty-ransomware.json")}} {
		_, stderr, code := runCLI(t, append([]string{"--database-url=" + dsn}, args...)...)
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, "intel: the session's search_path (empty) puts first schema empty, which has none of intel's tables; "+
			"they are in schema public of this database", args)
		require.Contains(t, stderr, "?search_path=public in the URL")
	}
	var tables int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'empty'").Scan(&tables))
	require.Zero(t, tables)
	runOK(t, "--database-url="+dsn+"&search_path=public", "search", "kitty")
	// migrate up does as asked (a second intel in one database may mean
	// it), and says where the tables are.
	_, stderr, _ := runCLI(t, "--database-url="+dsn, "migrate", "status")
	require.Contains(t, stderr, "migrations make a new set of intel's tables in the first schema of the search_path: "+
		"the session's search_path (empty) puts first schema empty")
	// migrate up there needs pg_trgm, installed in public, which the path
	// leaves out: refused before it applies anything. Before, it applied
	// ten migrations into empty and failed at the eleventh (gin_trgm_ops),
	// and again on every rerun.
	_, stderr, code := runCLI(t, "--database-url="+dsn, "migrate", "up")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "intel: extension pg_trgm is installed in schema public, which the session's search_path (empty) leaves out")
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'empty' AND tablename <> 'goose_db_version'").Scan(&tables))
	require.Zero(t, tables, "nothing applied")
	// With public on the path (after empty), the second set is made.
	runOK(t, "--database-url="+dsn+"&search_path=empty,public", "migrate", "up")
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'empty' AND tablename = 'nodes'").Scan(&tables))
	require.Equal(t, 1, tables)
}

// TestRoleConnectionLimit: the role intel logs in as has a CONNECTION
// LIMIT (ALTER ROLE … CONNECTION LIMIT 2, as DBAs give application roles),
// one of them held by another session. Before, the pool was sized from
// max_connections alone (8 on the 2-core plan) and a command either failed
// at once, exit 1 (`partition upkeep on startup: failed to connect to
// …: FATAL: too many connections for role "…" (SQLSTATE 53300)`), or ran
// on retries of every refused connection (131 WARN lines for nine feeds).
// Now the pool takes what the role's (and the database's) limit leaves.
func TestRoleConnectionLimit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	admin, err := pgx.Connect(ctx, pgtest.AdminDSN(t, dsn))
	require.NoError(t, err)
	defer admin.Close(ctx)
	var owner string
	require.NoError(t, admin.QueryRow(ctx, `SELECT tableowner FROM pg_tables WHERE tablename = 'nodes'`).Scan(&owner))
	login := fmt.Sprintf("limited_%d", time.Now().UnixNano())
	_, err = admin.Exec(ctx, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD 'pw' CONNECTION LIMIT 2 IN ROLE %s", login, owner))
	require.NoError(t, err)
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), "DROP ROLE "+login); err != nil {
			t.Logf("drop role %s: %v", login, err)
		}
	})
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.User = url.UserPassword(login, "pw")
	held, err := pgx.Connect(ctx, u.String()) // another client of the role
	require.NoError(t, err)
	defer held.Close(ctx)

	list := filepath.Join(t.TempDir(), "feeds.yaml")
	demo, err := filepath.Abs("../../testdata/demo")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(list, []byte("concurrency: 2\nfeeds:\n"+
		"  - {name: hk, path: "+filepath.Join(demo, "hellokitty-ransomware.json")+"}\n"+
		"  - {name: zebrocy, path: "+filepath.Join(demo, "sednit_2018-11-20_Zebrocy.json")+"}\n"), 0o600))
	stdout, stderr, code := runCLI(t, "--database-url="+u.String(), "ingest", "feeds", list)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "hk: ok")
	require.Contains(t, stdout, "zebrocy: ok")
	require.Contains(t, stderr, "pool size clamped to the server's free connections")
	require.Contains(t, stderr, "role_connection_limit=2 role_connections=2")
	require.NotContains(t, stderr, "after a transient failure", "no connection refused")
}

// TestCommandOnAnEmptyDatabaseMakesNothing: a command other than migrate
// up on a database never migrated says so and leaves it as it was. Before,
// asking goose for the version made goose's version table there first.
func TestCommandOnAnEmptyDatabaseMakesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	_, stderr, code := runCLI(t, "--database-url="+dsn, "search", "x")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "intel: database schema is at version 0 and has pending migrations: run 'intel migrate up' first")
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var tables int
	require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").Scan(&tables))
	require.Zero(t, tables, "no table made")
}

// TestDatabaseOfAnotherEncoding: a database made with an encoding other
// than UTF8 (CREATE DATABASE … ENCODING 'LATIN1'), as legacy servers and
// copied scripts make them. The server converts intel's UTF-8 text into
// it and refuses every character it has no code for (22P05). Before,
// migrate up made the schema there, and a load of a feed naming a
// character outside Latin-1 (a typographic apostrophe, Cyrillic) ended
// `ok`, exit 0, with those nodes refused one by one (ATT&CK ICS: 49 of
// 453 nodes, 21 relations). Now migrate up refuses before making
// anything, and so does every command on a database migrated there
// before (by goose): the encoding is named, and what to do.
func TestDatabaseOfAnotherEncoding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	admin := pgtest.AdminDSN(t, pgtest.DSN(t))
	conn, err := pgx.Connect(ctx, admin)
	require.NoError(t, err)
	defer conn.Close(ctx)
	name := fmt.Sprintf("latin1_%d", time.Now().UnixNano())
	_, err = conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'")
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, admin)
		if err == nil {
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "DROP DATABASE "+name+" WITH (FORCE)")
		}
		if err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	require.NoError(t, err)
	u.Path = "/" + name
	dsn := u.String()
	latin1, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer latin1.Close(ctx)
	tables := func() (n int) {
		require.NoError(t, latin1.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n))
		return n
	}

	_, stderr, code := runCLI(t, "--database-url="+dsn, "migrate", "up")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "intel: database "+name+" is encoded LATIN1, which has no code for most of the characters feeds carry")
	require.Contains(t, stderr, "intel needs a UTF8 database")
	require.Zero(t, tables(), "nothing made")

	// Migrated there by goose itself, as a pipeline would: a load is
	// refused before it writes anything.
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	db := migrations.OpenDB(cfg)
	defer db.Close()
	p, err := migrations.NewProvider(db)
	require.NoError(t, err)
	_, err = p.Up(ctx)
	require.NoError(t, err)
	feed := filepath.Join(t.TempDir(), "cyrillic.json")
	require.NoError(t, os.WriteFile(feed, []byte(`{"type":"bundle","id":"bundle--6f1c6fd4-7a1e-4c51-9a43-6a2b4c0f1a01","objects":[
{"type":"malware","spec_version":"2.1","id":"malware--6f1c6fd4-7a1e-4c51-9a43-6a2b4c0f1a02","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","name":"Медведь Loader","is_family":true},
{"type":"malware","spec_version":"2.1","id":"malware--6f1c6fd4-7a1e-4c51-9a43-6a2b4c0f1a03","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","name":"Plain Loader","description":"the operators’ loader","is_family":true}]}`), 0o600))
	_, stderr, code = runCLI(t, "--database-url="+dsn, "ingest", "stix", feed)
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "intel: database "+name+" is encoded LATIN1")
	var nodes int
	require.NoError(t, latin1.QueryRow(ctx, "SELECT count(*) FROM nodes").Scan(&nodes))
	require.Zero(t, nodes)
}

// TestSearchWithPgTrgmOffThePath: pg_trgm installed in a schema of its own
// (extensions, as some managed services have it), which the session's
// search_path leaves out. migrate up refuses before it applies anything
// (as before); with the schema in the URL's search_path it migrates. A
// search from a session without it then said only `intel: search "kitty":
// ERROR: function word_similarity(text, text) does not exist (SQLSTATE
// 42883)`; it now names the extension's schema, the search_path and what
// to set.
func TestSearchWithPgTrgmOffThePath(t *testing.T) {
	t.Parallel()
	dsn := pgtest.EmptyDSN(t)
	execAsAdmin(t, dsn, "CREATE SCHEMA extensions; CREATE EXTENSION pg_trgm SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC")

	_, stderr, code := runCLI(t, "--database-url="+dsn, "migrate", "up")
	require.Equal(t, exitFailure, code, stderr)
	require.Contains(t, stderr, "intel: extension pg_trgm is installed in schema extensions, which the session's search_path")
	require.Contains(t, stderr, "migration 11 would fail")

	withPath := dsn + "&search_path=public,extensions"
	runOK(t, "--database-url="+withPath, "migrate", "up")
	runOK(t, "--database-url="+withPath, "ingest", "stix", filepath.Join("..", "..", "testdata", "demo", "hellokitty-ransomware.json"))
	require.Contains(t, runOK(t, "--database-url="+withPath, "search", "kitty"), "HelloKitty")

	_, stderr, code = runCLI(t, "--database-url="+dsn, "search", "kitty")
	require.Equal(t, exitFailure, code, stderr)
	require.Contains(t, stderr, `intel: search "kitty": extension pg_trgm is installed in schema extensions, `+
		`which the session's search_path ("$user", public) leaves out: intel's name search needs its operator class and functions; `+
		`add extensions to the search_path (ALTER ROLE … SET search_path = "$user", public, extensions`, stderr)
}

// execAsAdmin runs sql in the database of dsn as the server's
// administrative user.
func execAsAdmin(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.AdminDSN(t, dsn))
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	require.NoError(t, err)
}

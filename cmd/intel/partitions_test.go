package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
)

func TestWriteEnsureTableShowsRefusedDays(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, writeEnsureTable(&out, partman.Result{Parent: "public.telemetry_edges", Days: []partman.DayResult{},
		Refused: []time.Time{time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}}))
	require.Regexp(t, `2024-01-02\s+refused: before retention`, out.String())
}

func TestPartitionsPruneRecordsTheLateRowsPolicy(t *testing.T) {
	t.Parallel()
	_, stderr, code := runCLI(t, "partitions", "prune", "--keep", "30d", "--late-rows", "maybe")
	require.Equal(t, exitUsage, code)
	require.Contains(t, stderr, `--late-rows "maybe": want drop or keep`)

	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	out := runOK(t, db, "partitions", "prune", "--keep", "30d", "--mode", "drop", "--late-rows", "keep")
	require.Contains(t, out, "public.telemetry_edges: 0 removed (drop)")
	pool := pgtest.PoolFor(t, dsn)
	var keep int64
	var late string
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT keep_seconds, late_rows FROM partition_retention WHERE parent = 'public.telemetry_edges'").Scan(&keep, &late))
	require.Equal(t, int64(30*24*3600), keep)
	require.Equal(t, "keep", late)

	runOK(t, db, "partitions", "prune", "--keep", "10d")
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT keep_seconds, late_rows FROM partition_retention WHERE parent = 'public.telemetry_edges'").Scan(&keep, &late))
	require.Equal(t, int64(10*24*3600), keep)
	require.Equal(t, "drop", late, "drop is the default")
}

// TestCommandsRefuseASchemaNewerThanTheBinary: a database that a newer
// intel has migrated past the last migration this binary knows has nothing
// pending for goose, so the commands ran against it (and wrote to it)
// without a word; they refuse it, naming both versions.
func TestCommandsRefuseASchemaNewerThanTheBinary(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	_, err := pgtest.PoolFor(t, dsn).Exec(context.Background(),
		"INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)")
	require.NoError(t, err)
	for _, args := range [][]string{{"feeds"}, {"partitions", "list"}, {"search", "lockbit"}, {"migrate", "up"}, {"migrate", "down"}} {
		stdout, stderr, code := runCLI(t, append(args, "--database-url="+dsn, "--no-partition-maintenance")...)
		require.Equal(t, exitFailure, code, "intel %v\nstdout: %s\nstderr: %s", args, stdout, stderr)
		require.Contains(t, stderr, "database schema is at version 9999, newer than this intel knows", args)
	}
}

// TestMigrateStatusSaysTheSchemaIsNewer: status listed the migrations this
// intel knows, all applied, and version printed the number alone, so a
// schema a newer intel had migrated looked current to the one tool an
// operator asks before a rollback (every other command refuses it).
func TestMigrateStatusSaysTheSchemaIsNewer(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	_, err := pgtest.PoolFor(t, dsn).Exec(context.Background(),
		"INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)")
	require.NoError(t, err)
	out := runOK(t, "migrate", "status", "--database-url="+dsn)
	require.Regexp(t, `(?m)^9999\s+\(unknown to this intel: migrated by a newer one\)\s+applied`, out)
	require.Contains(t, out, "the database schema is at version 9999, newer than this intel knows")
	out = runOK(t, "migrate", "status", "--format", "json", "--database-url="+dsn)
	require.Contains(t, out, `"version": 9999`)
	out = runOK(t, "migrate", "version", "--database-url="+dsn)
	require.Contains(t, out, "9999 (newer than this intel knows")
	out = runOK(t, "migrate", "version", "--format", "json", "--database-url="+dsn)
	require.Contains(t, out, `"newer": true`)
}

// TestReadOnlyServerSkipsTheStartupUpkeep: against a hot standby or a
// server with default_transaction_read_only, the startup upkeep cannot make
// partitions; it is skipped with one notice and the reading commands run
// (they failed with "partition upkeep on startup: … read-only transaction"
// after an ERROR line per day).
func TestReadOnlyServerSkipsTheStartupUpkeep(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	file := loadSmallGraph(t, dsn)
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.RawQuery += "&options=-c%20default_transaction_read_only%3Don"
	db := "--database-url=" + u.String()

	stdout, stderr, code := runCLI(t, db, "related", file.ID.String())
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "intrusion-set Bitwise Spider")
	require.Equal(t, 1, strings.Count(stderr, "partition upkeep skipped: the server is read-only"), stderr)
	require.NotContains(t, stderr, "ERROR")

	_, stderr, code = runCLI(t, db, "partitions", "ensure")
	require.Equal(t, exitFailure, code, "ensure itself still says it cannot")
	require.Contains(t, stderr, "read-only transaction")
}

// TestReadOnlyServerRefusesLoadsInOneLine: a load against a database with
// default_transaction_read_only = on (as on a hot standby) failed at once,
// without retries, but said only the server's `ERROR: cannot execute
// INSERT in a read-only transaction (SQLSTATE 25006)`, and a STIX load
// logged a second ERROR line (`record feed failed ... cannot execute
// UPDATE in a read-only transaction`) for the same cause. It now fails
// (exit 1) with one line saying that the server is read-only and, when the
// setting is the cause, where it is set; nothing else is logged as an
// error.
func TestReadOnlyServerRefusesLoadsInOneLine(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	setForDatabase(t, dsn, "default_transaction_read_only", "on")
	db := "--database-url=" + dsn

	stix := filepath.Join("..", "..", "testdata", "stix", "indicators-for-C2-with-COA.json")
	_, stderr, code := runCLI(t, db, "ingest", "stix", stix, "--feed", "ro")
	require.Equal(t, exitFailure, code, stderr)
	require.NotContains(t, stderr, "level=ERROR", "one cause, said once")
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	require.Contains(t, lines[len(lines)-1], "intel: feed ro: the server is read-only (a hot standby, or default_transaction_read_only = on)", stderr)

	edges := filepath.Join(t.TempDir(), "edges.ndjson")
	require.NoError(t, os.WriteFile(edges, []byte(`{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:example.com","agent_id":"a1","observed_at":"2026-01-02T03:04:05Z"}`+"\n"), 0o600))
	_, stderr, code = runCLI(t, db, "ingest", "telemetry", edges)
	require.Equal(t, exitFailure, code, stderr)
	require.NotContains(t, stderr, "level=ERROR", stderr)
	lines = strings.Split(strings.TrimSpace(stderr), "\n")
	require.Contains(t, lines[len(lines)-1], "(default_transaction_read_only = on, set for this database", stderr)
}

// TestMigrateDownOnAReadOnlyServer: intel migrate down against a database
// with default_transaction_read_only = on quoted goose's "partial migration
// error" though nothing had been rolled back. It now says what failed, that
// the schema is unchanged, and what to do; the schema is indeed unchanged.
func TestMigrateDownOnAReadOnlyServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var before int64
	require.NoError(t, conn.QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&before))
	setForDatabase(t, dsn, "default_transaction_read_only", "on")
	db := "--database-url=" + dsn

	for _, args := range [][]string{{"migrate", "down"}, {"migrate", "down", "--to", "1"}} {
		_, stderr, code := runCLI(t, append([]string{db}, args...)...)
		t.Logf("%v: %s", args, stderr)
		require.Equal(t, exitFailure, code, stderr)
		require.NotContains(t, stderr, "partial migration", "nothing was rolled back")
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		last := lines[len(lines)-1]
		require.Contains(t, last, "nothing was rolled back: the schema is still at version", stderr)
		require.Contains(t, last, "read-only", stderr)
		require.Contains(t, last, "(default_transaction_read_only = on, set for this database", stderr)
	}
	var after int64
	require.NoError(t, conn.QueryRow(ctx, "SELECT max(version_id) FROM goose_db_version").Scan(&after))
	require.Equal(t, before, after)
}

// TestTelemetryFileLoadedAlreadyOnAReadOnlyServer: a telemetry file loaded
// to its end, loaded again against a read-only server (a hot standby, here
// default_transaction_read_only in the URL's options) has nothing to write,
// as the checkpoint the server still reads says; it exits 0 with the rerun's
// report. Before, it failed, exit 1, at its checkpoint's start (`start
// telemetry checkpoint of file:…: ERROR: cannot execute INSERT in a
// read-only transaction`), a write it does not need. The file appended to
// still fails: its new line needs a write.
func TestTelemetryFileLoadedAlreadyOnAReadOnlyServer(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	edges := filepath.Join(t.TempDir(), "edges.ndjson")
	line := func(agent string) string {
		return `{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:example.com","agent_id":"` +
			agent + `","observed_at":"` + time.Now().UTC().Format(time.RFC3339) + `"}` + "\n"
	}
	require.NoError(t, os.WriteFile(edges, []byte(line("a1")+line("a2")), 0o600))
	runOK(t, "ingest", "telemetry", edges, "--database-url="+dsn)

	ro := "--database-url=" + readOnlyURL(t, dsn)
	stdout, stderr, code := runCLI(t, ro, "ingest", "telemetry", edges)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "telemetry file already loaded: nothing new to store")
	require.Regexp(t, `already loaded\s+2 `, stdout)
	require.NotContains(t, stderr, "level=ERROR", stderr)

	f, err := os.OpenFile(edges, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString(line("a3"))
	require.NoError(t, err)
	require.NoError(t, f.Close())
	_, stderr, code = runCLI(t, ro, "ingest", "telemetry", edges)
	require.Equal(t, exitFailure, code, stderr)
	require.Contains(t, stderr, "read-only transaction", stderr)
}

// TestUnchangedFeedsOnAReadOnlyServer: intel ingest feeds of a list loaded
// already (STIX and telemetry feeds), against a read-only server (the URL's
// default_transaction_read_only, as a hot standby answers), skips every
// feed and exits 0, writing nothing, as intel ingest telemetry of a file
// loaded to its end does there. Before, each feed failed on the record of
// its skip (`4 of 4 feeds failed: … record end of feed …: cannot execute
// UPDATE in a read-only transaction`), exit 1. A feed with something to
// load still fails, naming the read-only server.
func TestUnchangedFeedsOnAReadOnlyServer(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	dir := t.TempDir()
	edges := `{"src":"ipv4-addr:10.0.0.5","relation":"connected-to","dst":"domain-name:example.com","agent_id":"a1","observed_at":"` +
		time.Now().UTC().Format(time.RFC3339) + `"}` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "edges.ndjson"), []byte(edges), 0o600))
	c2, err := filepath.Abs(testdata("stix/indicators-for-C2-with-COA.json"))
	require.NoError(t, err)
	ghost, err := filepath.Abs(testdata("stix/sighting-of-observed-data.json"))
	require.NoError(t, err)
	list := "feeds:\n" +
		"  - {name: c2, path: " + c2 + ", format: stix}\n" +
		"  - {name: ghost, path: " + ghost + ", format: stix}\n" +
		"  - {name: edr, path: edges.ndjson, format: telemetry}\n"
	feeds := filepath.Join(dir, "feeds.yaml")
	require.NoError(t, os.WriteFile(feeds, []byte(list), 0o600))
	runOK(t, "ingest", "feeds", feeds, "--database-url="+dsn)
	pool := pgtest.PoolFor(t, dsn)
	bookkeeping := func() string {
		var s string
		require.NoError(t, pool.QueryRow(context.Background(),
			`SELECT string_agg(format('%s %s %s %s', name, last_status, updated_at, content_hash), '; ' ORDER BY name) FROM feeds`).Scan(&s))
		return s
	}
	before := bookkeeping()

	ro := "--database-url=" + readOnlyURL(t, dsn)
	stdout, stderr, code := runCLI(t, ro, "ingest", "feeds", feeds)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, []string{"c2: skipped", "ghost: skipped", "edr: skipped"}, strings.Split(strings.TrimSpace(stdout), "\n"))
	require.Equal(t, 3, strings.Count(stderr, "the server is read-only, and the feed is unchanged since its last load: nothing is written"), stderr)
	require.NotContains(t, stderr, "level=ERROR", stderr)
	require.Equal(t, before, bookkeeping())

	require.NoError(t, os.WriteFile(feeds, []byte(list+"  - {name: new, path: "+c2+", format: stix}\n"), 0o600))
	_, stderr, code = runCLI(t, ro, "ingest", "feeds", feeds)
	require.Equal(t, exitFailure, code, stderr)
	require.Contains(t, stderr, "intel: 1 of 4 feeds failed: feed new: the server is read-only (a hot standby, or default_transaction_read_only = on): writes must go to the primary", stderr)
}

// readOnlyURL is dsn with default_transaction_read_only on for its
// sessions, as a hot standby answers.
func readOnlyURL(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	u.RawQuery += "&options=-c%20default_transaction_read_only%3Don"
	return u.String()
}

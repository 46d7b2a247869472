package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

func testdata(path string) string { return filepath.Join("..", "..", "testdata", path) }

// TestFeedsListsStatusCountsAndErrors: intel feeds shows each feed's last
// status, counts and error, and a running load whose process is gone as
// stale.
func TestFeedsListsStatusCountsAndErrors(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	require.Equal(t, "no feeds loaded yet (intel ingest stix|misp|feeds|telemetry)\n", runOK(t, db, "feeds"))

	runOK(t, db, "ingest", "stix", testdata("stix/indicators-for-C2-with-COA.json"), "--feed", "mitre-c2")
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"type":"bundle","objects":[{"type":"malware","id":"malware--00000000-0000-4000-8000-000000000001","name":"a"} ,, ]}`), 0o644))
	_, _, code := runCLI(t, db, "ingest", "stix", bad, "--feed", "broken")
	require.Equal(t, exitFailure, code)
	runOK(t, db, "ingest", "stix", testdata("stix/sighting-of-observed-data.json"), "--feed", "ghost")
	// A load whose process died (SIGKILL) left its feed running.
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	pool := pgtest.PoolFor(t, dsn)
	_, err := pool.Exec(context.Background(), "UPDATE feeds SET last_status = 'running', running_pid = $1, running_pid_start = NULL WHERE name = 'ghost'", gone.Process.Pid)
	require.NoError(t, err)

	table := runOK(t, db, "feeds")
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	require.Len(t, lines, 4, table)
	require.Regexp(t, `^FEED +FORMAT +STATUS +UPDATED +LAST LOADED +RECORDS +NODES +RELATIONS +DROPPED +DETAIL$`, lines[0])
	require.Regexp(t, `^broken +stix +failed +\S+ \S+ +- +1 +1 +0 +0 +read feed "broken" at byte 112: JSON syntax error`, lines[1])
	require.Regexp(t, `^ghost +stix +stale +.* pid `+strconv.Itoa(gone.Process.Pid)+` on .*: the process is gone$`, lines[2])
	require.Regexp(t, `^mitre-c2 +stix +ok +\S+ \S+ +\S+ \S+ +8 +7 +9 +0 *$`, lines[3])
	requireNoTrailingBlanks(t, table)

	var rows []struct {
		Name       string `json:"name"`
		Status     string `json:"status"`
		LastStatus string `json:"last_status"`
		Records    int64  `json:"records"`
		Nodes      int64  `json:"nodes"`
		LastError  string `json:"last_error"`
		RunningPID int    `json:"running_pid"`
	}
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "feeds", "--format", "json")), &rows))
	require.Len(t, rows, 3)
	require.Equal(t, "failed", rows[0].Status)
	require.Contains(t, rows[0].LastError, "JSON syntax error")
	require.Equal(t, "stale", rows[1].Status)
	require.Equal(t, "running", rows[1].LastStatus, "stale is shown, not recorded")
	require.Equal(t, gone.Process.Pid, rows[1].RunningPID)
	require.Equal(t, "ok", rows[2].Status)
	require.Equal(t, int64(8), rows[2].Records)
}

// TestFailedFeedErrorPrintedOnce: a feed that fails leaves its error on
// stderr once, in the one "intel:" line (the loader and the manager do not
// log it too), and in the report on stdout.
func TestFailedFeedErrorPrintedOnce(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"type":"bundle","objects":[{"type":"malware","id":"malware--00000000-0000-4000-8000-000000000001","name":"a"} ,, ]}`), 0o644))
	for _, args := range [][]string{
		{db, "ingest", "stix", bad},
		{"ingest", "stix", bad, "--dry-run"},
	} {
		stdout, stderr, code := runCLI(t, args...)
		require.Equal(t, exitFailure, code)
		require.Equal(t, 1, strings.Count(stderr, "JSON syntax error"), "stderr: %s", stderr)
		// The test server's URL holds a password, so the flag draws its warning first.
		require.Regexp(t, `^(time=\S+ level=WARN msg="--database-url holds a password[^\n]*\n)?intel: feed bad: read feed "bad" at byte 112: JSON syntax error.*\n$`, stderr)
		require.Contains(t, stdout, "bad: failed\n")
		require.Equal(t, 1, strings.Count(stdout, "JSON syntax error"), "stdout: %s", stdout)
	}

	// Several feeds, one failing: one line names it among them.
	list := filepath.Join(t.TempDir(), "feeds.yaml")
	require.NoError(t, os.WriteFile(list, []byte("feeds:\n  - name: good\n    path: "+
		mustAbs(t, testdata("stix/indicators-for-C2-with-COA.json"))+"\n  - name: bad\n    path: "+bad+"\n"), 0o644))
	_, stderr, code := runCLI(t, db, "ingest", "feeds", list)
	require.Equal(t, exitFailure, code)
	require.Regexp(t, `^(time=\S+ level=WARN msg="--database-url holds a password[^\n]*\n)?intel: 1 of 2 feeds failed: feed bad: read feed "bad" at byte 112: JSON syntax error[^\n]*\n$`, stderr)
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	require.NoError(t, err)
	return abs
}

// TestReportTotalsAddUp loads real feeds into empty databases and checks
// that the report's figures add up and agree with the tables: records read
// are mapped or dropped; nodes sent are inserted, merged, unchanged or
// repeated (the table's last figure); what was inserted is what the tables
// hold; a forced reload inserts nothing and merges or leaves unchanged
// every node.
func TestReportTotalsAddUp(t *testing.T) {
	t.Parallel()
	ndjson := filepath.Join(t.TempDir(), "with-drops.ndjson")
	require.NoError(t, os.WriteFile(ndjson, []byte(
		`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-000000000001","name":"a","is_family":true}`+"\n"+
			"not json\n"+
			`{"type":"malware","id":"not-an-id"}`+"\n"+
			`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-000000000001","name":"a again","is_family":true}`+"\n"), 0o644))
	for _, f := range []struct{ kind, path string }{
		{"stix", testdata("demo/hellokitty-ransomware.json")},
		{"misp", testdata("demo/sednit_2018-11-20_Zebrocy.json")},
		{"stix", testdata("stix/test_objects_collection_stix20.json")},
		{"stix", testdata("stix/sighting-of-observed-data.json")},
		// Relations naming relationship ids (testdata/adv/README.md):
		// parked, then expanded to the relationship's ends.
		{"stix", testdata("adv/sighting-pending-rel.json")},
		{"stix", testdata("adv/report-relref.json")},
		{"stix", testdata("adv/nested-relref.json")},
		// An indicator comparing a 9,000-digit hash: no node, a warning.
		{"stix", testdata("adv/big-pattern-hash.json")},
		{"misp", testdata("misp/test_events_collection_1.json")},
		{"misp", testdata("misp/feed")},
		{"stix", ndjson},
	} {
		t.Run(filepath.Base(f.path), func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.DSN(t)
			pool := pgtest.PoolFor(t, dsn)
			db := "--database-url=" + dsn
			type report struct {
				RecordsRead   int64            `json:"records_read"`
				RecordsMapped int64            `json:"records_mapped"`
				Nodes         int64            `json:"nodes"`
				Relations     int64            `json:"relations"`
				Dropped       map[string]int64 `json:"dropped"`
				Written       struct {
					NodesInserted     int64 `json:"nodes_inserted"`
					NodesMerged       int64 `json:"nodes_merged"`
					NodesUnchanged    int64 `json:"nodes_unchanged"`
					RelationsInserted int64 `json:"relations_inserted"`
					RelationsMerged   int64 `json:"relations_merged"`
					RelationsPending  int64 `json:"relations_pending"`
					RelationsReleased int64 `json:"relations_released"`
					// Pending relations naming a relationship id, taken out
					// and written to its ends (not among those sent).
					RelationsExpanded     int64 `json:"relations_expanded"`
					RelationsExpandedInto int64 `json:"relations_expanded_into"`
				} `json:"written"`
			}
			load := func(args ...string) report {
				var res []struct {
					Report report `json:"report"`
				}
				out := runOK(t, append([]string{db, "ingest", f.kind, f.path, "--format", "json"}, args...)...)
				require.NoError(t, json.Unmarshal([]byte(out), &res))
				return res[0].Report
			}
			count := func(table string) int64 {
				var n int64
				require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM "+table).Scan(&n))
				return n
			}
			r := load()
			var dropped int64
			for _, n := range r.Dropped {
				dropped += n
			}
			require.Positive(t, r.RecordsRead)
			require.Equal(t, r.RecordsRead, r.RecordsMapped+dropped, "records read = mapped + dropped")
			w := r.Written
			repeated := r.Nodes - w.NodesInserted - w.NodesMerged - w.NodesUnchanged
			require.GreaterOrEqual(t, repeated, int64(0), "nodes sent = inserted + merged + unchanged + repeated")
			require.GreaterOrEqual(t, r.Relations+w.RelationsExpandedInto-(w.RelationsInserted+w.RelationsMerged-w.RelationsReleased)-w.RelationsPending, int64(0),
				"relations sent (and written for expanded ones) = inserted + merged - released + pending + unchanged or repeated")
			require.Equal(t, count("nodes"), w.NodesInserted, "the nodes inserted are the rows of nodes")
			require.Equal(t, count("relations"), w.RelationsInserted+w.RelationsReleased, "relations inserted or released are the rows of relations")
			require.Equal(t, count("pending_relations"), w.RelationsPending-w.RelationsReleased-w.RelationsExpanded,
				"pending relations are those parked, less those released or expanded")

			// The table shows the same identity.
			table := runOK(t, db, "ingest", f.kind, f.path, "--force")
			m := regexp.MustCompile(`nodes +(\d+) \(inserted (\d+), merged (\d+), unchanged (\d+), repeated (\d+)\)`).FindStringSubmatch(table)
			require.NotNil(t, m, table)
			n := make([]int64, 5)
			for i := range n {
				n[i], _ = strconv.ParseInt(m[i+1], 10, 64)
			}
			require.Equal(t, n[0], n[1]+n[2]+n[3]+n[4], table)
			require.Zero(t, n[1], "a forced reload inserts nothing")
			require.Equal(t, count("nodes"), n[2]+n[3], "a forced reload merges or leaves unchanged every node")

			// A dry run says what it would write.
			dry := runOK(t, "ingest", f.kind, f.path, "--dry-run")
			require.Contains(t, dry, "(dry run: nothing written)")
			require.Contains(t, dry, "would insert")
			require.NotContains(t, dry, "inserted")
		})
	}
}

func TestVersion(t *testing.T) {
	// Not parallel: the state directory is set for the run, so that no
	// local cluster is found.
	t.Setenv("INTEL_STATE_DIR", t.TempDir())
	dsn := pgtest.DSN(t)
	var serverVersion string
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(context.Background(), "SHOW server_version").Scan(&serverVersion))

	var v versionInfo
	require.NoError(t, json.Unmarshal([]byte(runOK(t, "--database-url="+dsn, "version", "--format", "json")), &v))
	require.Equal(t, "PostgreSQL "+serverVersion, v.Server)
	require.Empty(t, v.ServerError)
	require.Equal(t, runtime.Version(), v.Go)
	require.NotEmpty(t, v.Version)

	table := runOK(t, "--database-url="+dsn, "version")
	require.Regexp(t, `(?m)^intel +\S+`, table)
	require.Regexp(t, `(?m)^commit +\S+`, table)
	require.Contains(t, table, "go        "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n")
	require.Contains(t, table, "server    PostgreSQL "+serverVersion+"\n")
	require.Contains(t, table, "mappings  stix "+ingest.MappingVersion(ingest.FormatSTIX)+", misp "+ingest.MappingVersion(ingest.FormatMISP)+"\n")
	require.Equal(t, map[string]string{"stix": ingest.MappingVersion(ingest.FormatSTIX), "misp": ingest.MappingVersion(ingest.FormatMISP)}, v.Mappings)

	// Without a database, or with one that is down, version still works.
	out := runOK(t, "--database-url=", "version")
	require.Contains(t, out, "server    none: no database: no --database-url or DATABASE_URL, and the local cluster is not running\n")
	out = runOK(t, "--database-url=postgres://u@127.0.0.1:1/x", "--connect-timeout", "3s", "version")
	require.Contains(t, out, "server    none: database unreachable")

	// A state directory others may write is refused (localdb): version
	// says so, where it said the local cluster was not running.
	open := filepath.Join(t.TempDir(), "open")
	require.NoError(t, os.Mkdir(open, 0o700))
	require.NoError(t, os.Chmod(open, 0o777))
	t.Setenv("INTEL_STATE_DIR", open)
	out = runOK(t, "--database-url=", "version")
	require.Contains(t, out, "server    none: no database: no --database-url or DATABASE_URL, and the local cluster cannot be used: "+
		"unsafe state directory "+open+": its mode 0777 lets others write in it")
}

func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	info := &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: "true"},
	}}
	v := versionFrom(info, true, "")
	require.Equal(t, versionInfo{Version: "v1.4.0", Commit: "0123abcd", CommitTime: "2026-12-01T10:00:00Z", Modified: true,
		Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, Mappings: v.Mappings}, v)

	// No VCS stamp: the commit set at link time (make build).
	v = versionFrom(&debug.BuildInfo{}, true, "feedc0de")
	require.Equal(t, "(devel)", v.Version)
	require.Equal(t, "feedc0de", v.Commit)

	var out strings.Builder
	require.NoError(t, writeVersion(newPrinter(&out), versionFrom(nil, false, "")))
	require.Contains(t, out.String(), "commit    unknown (built without VCS information)\n")
}

// TestPartitionErrorPrintedOnce: partman logs a day it could not make and
// returns the error; intel partitions prints it once, in its one line.
func TestPartitionErrorPrintedOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	day := time.Now().UTC().AddDate(0, 0, 1).Format("2006_01_02")
	_, err := pgtest.PoolFor(t, dsn).Exec(context.Background(), "CREATE TABLE telemetry_edges_"+day+" (x int)")
	require.NoError(t, err)
	_, stderr, code := runCLI(t, "--database-url="+dsn, "partitions", "ensure", "--ahead", "2", "--behind", "0")
	require.Equal(t, exitFailure, code)
	require.Equal(t, 1, strings.Count(stderr, "is not a partition"), stderr)
	require.Regexp(t, `(?m)^intel: ensure partition public.telemetry_edges_`+day, stderr)
}

// TestIngestSTIXDirectory: ingest stix DIR loads each STIX file as a feed of
// its own, and a second run skips the unchanged ones.
func TestIngestSTIXDirectory(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	dir := filepath.Join(t.TempDir(), "playbooks")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, name := range []string{"indicators-for-C2-with-COA.json", "sighting-of-observed-data.json"} {
		data, err := os.ReadFile(testdata("stix/" + name))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	stdout, stderr, code := runCLI(t, db, "ingest", "stix", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Contains(t, stdout, "playbooks/indicators-for-C2-with-COA: ok\n")
	require.Contains(t, stdout, "playbooks/sighting-of-observed-data: ok\n")

	stdout, stderr, code = runCLI(t, db, "ingest", "stix", dir)
	require.Equal(t, exitOK, code, stderr)
	require.Equal(t, 2, strings.Count(stdout, ": skipped"), stdout)
}

// TestLocalStatusAndStopMakeNothing: local status, local stop and version
// made the state directory and a password file for a cluster that did not
// exist, and stop said "local PostgreSQL stopped" there. With the state
// directory moved away (its server still running) or INTEL_STATE_DIR
// mistyped, stop claimed to stop a server it never saw, and a second
// state directory blocked moving the first one back.
func TestLocalStatusAndStopMakeNothing(t *testing.T) {
	// Not parallel: the state directory is set for the run.
	dir := filepath.Join(t.TempDir(), "moved-away")
	t.Setenv("INTEL_STATE_DIR", dir)
	out := runOK(t, "local", "stop")
	require.Equal(t, "no local PostgreSQL in "+dir+": nothing to stop\n", out)
	require.Contains(t, runOK(t, "local", "status"), "not created yet")
	runOK(t, "local", "status", "--format", "json")
	runOK(t, "--database-url=", "version")
	_, err := os.Stat(dir)
	require.ErrorIs(t, err, os.ErrNotExist, "status, stop and version make no state directory")
}

// TestFeedsJudgesHeartbeatsByTheServersClock: a load running on another
// host renews its heartbeat with the server's clock (now()); intel feeds
// on a machine whose clock runs ahead of the server's by more than
// ingest.StaleAfter (5 min) showed that live load stale, since it compared
// the heartbeat with its own clock. The server's clock is set 10 minutes
// back here by a now() of the database's own, ahead of pg_catalog's on
// its search_path, which every statement of intel's session, the
// heartbeat's too, reads.
func TestFeedsJudgesHeartbeatsByTheServersClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	_, err := pool.Exec(ctx, `CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql STABLE
		AS $$ SELECT pg_catalog.now() - interval '10 minutes' $$`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = public, pg_catalog', current_database()); END $$`)
	require.NoError(t, err)
	skewed := pgtest.PoolFor(t, dsn) // a session with the database's search_path
	st := store.NewStore(skewed)
	_, err = st.FeedStarted(ctx, "far", "stix", "/srv/far.json")
	require.NoError(t, err)
	_, err = skewed.Exec(ctx, `UPDATE feeds SET running_host = 'another-host', running_pid = 1, heartbeat_at = now(), updated_at = now() WHERE name = 'far'`)
	require.NoError(t, err)

	var lag time.Duration
	require.NoError(t, skewed.QueryRow(ctx, `SELECT pg_catalog.now() - now()`).Scan(&lag))
	require.Equal(t, 10*time.Minute, lag, "the server's clock is behind")
	stdout := runOK(t, "--database-url="+dsn, "feeds", "--format", "json")
	var rows []struct{ Name, Status string }
	require.NoError(t, json.Unmarshal([]byte(stdout), &rows))
	require.Len(t, rows, 1)
	require.Equal(t, "running", rows[0].Status, "its heartbeat is fresh by the server's clock")
}

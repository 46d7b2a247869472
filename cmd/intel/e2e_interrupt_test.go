package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/feedtest"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/tuning"
)

// startLoad starts the intel binary loading feed into the database at dsn,
// in batches of 100, while the test holds a lock on nodes: the load runs
// until its first batch waits for the lock, and stays there until release.
func startLoad(t *testing.T, dsn, feed string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer, release func()) {
	t.Helper()
	return startLoadOf(t, dsn, "ingest", "stix", feed, "--feed", "big", "--batch-size", "100", "--workers", "1")
}

// startLoadOf is startLoad for any intel command line.
func startLoadOf(t *testing.T, dsn string, args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer, release func()) {
	t.Helper()
	return startLoadWith(t, dsn, nil, args...)
}

// startLoadWith is startLoadOf with prep run on the command before it starts.
func startLoadWith(t *testing.T, dsn string, prep func(*exec.Cmd), args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer, release func()) {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.PoolFor(t, dsn)
	release = feedtest.LockNodes(t, pool)

	cmd = exec.Command(intelBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "INTEL_STATE_DIR=" + t.TempDir(), "DATABASE_URL=" + dsn}
	stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if prep != nil {
		prep(cmd)
	}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	require.Eventually(t, func() bool {
		var waiting int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%nodes%'`).Scan(&waiting)
		return err == nil && waiting > 0
	}, 60*time.Second, 20*time.Millisecond, "the load's first batch waits for the lock on nodes\nstderr: %s", stderr)
	return cmd, stdout, stderr, release
}

func exitCode(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if ee := (*exec.ExitError)(nil); err != nil && !errors.As(err, &ee) {
			t.Fatalf("wait for intel: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("intel did not exit")
	}
	return cmd.ProcessState.ExitCode()
}

type feedRow struct {
	Name       string `json:"name"`
	Status     string `json:"status"`
	LastStatus string `json:"last_status"`
	LastError  string `json:"last_error"`
	RunningPID int    `json:"running_pid"`
}

func feedsJSON(t *testing.T, dsn string) []feedRow {
	t.Helper()
	r := intel(t, []string{"DATABASE_URL=" + dsn}, "", "feeds", "--format", "json")
	require.Equal(t, 0, r.code, r.stderr)
	var rows []feedRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	return rows
}

func countNodes(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM nodes").Scan(&n))
	return n
}

// TestInterruptedLoadExitsWithOneLine: SIGINT or SIGTERM during a load lets
// the batch being written commit, records the feed as interrupted, prints
// one line and exits 130 or 143; intel feeds then says interrupted, and the
// next run loads the feed again.
func TestInterruptedLoadExitsWithOneLine(t *testing.T) {
	t.Parallel()
	feed := feedtest.MalwareFeed(t, 3000)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{
		{syscall.SIGINT, "SIGINT", 130},
		{syscall.SIGTERM, "SIGTERM", 143},
		// A hang-up (the ssh session went away) killed the load mid-batch.
		{syscall.SIGHUP, "SIGHUP", 129},
		// So did a closed pipe on stdout or stderr (… | head).
		{syscall.SIGPIPE, "SIGPIPE", 141},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dsn := pgtest.DSN(t)
			pool := pgtest.PoolFor(t, dsn)
			// SIGPIPE stops a load only when stdout or stderr is a pipe
			// whose reader has gone (… 2>&1 | head): here stderr's.
			var closePipe func()
			var prep func(*exec.Cmd)
			if tc.sig == syscall.SIGPIPE {
				prep = func(cmd *exec.Cmd) {
					r, w, err := os.Pipe()
					require.NoError(t, err)
					cmd.Stderr = w
					closePipe = func() { _ = r.Close(); _ = w.Close() }
				}
			}
			cmd, stdout, stderr, release := startLoadWith(t, dsn, prep, "ingest", "stix", feed, "--feed", "big", "--batch-size", "100", "--workers", "1")
			rows := feedsJSON(t, dsn)
			require.Len(t, rows, 1)
			require.Equal(t, "running", rows[0].Status, "a live load is running, not stale")
			require.Equal(t, cmd.Process.Pid, rows[0].RunningPID)

			if closePipe != nil {
				closePipe()
			}
			require.NoError(t, cmd.Process.Signal(tc.sig))
			time.Sleep(300 * time.Millisecond) // the batch in flight waits, within its grace
			release()
			require.Equal(t, tc.code, exitCode(t, cmd), "stderr: %s", stderr)
			if closePipe == nil { // else the one line cannot be shown
				require.Regexp(t, `^intel: interrupted by `+tc.name+` after reading \d+ records \(stored: \d+ nodes, \d+ relations\); feed big marked interrupted\n$`, stderr.String(),
					"one line on stderr")
			}
			require.Contains(t, stdout.String(), "big: interrupted\n", "the report says so too")
			require.Equal(t, 1, strings.Count(stdout.String(), "interrupted by "+tc.name), "once, in the report: %s", stdout.String())
			// Up to the store's writers (tuning's plan) batches of 100 are
			// written at once: those in flight commit whole, no later one starts.
			plan, _ := tuning.LocalPlan()
			n := countNodes(t, pool)
			require.True(t, n > 0 && n%100 == 0 && n <= 100*max(1, plan.Writers),
				"the batches in flight (at most %d) committed whole; no later batch started: %d nodes", plan.Writers, n)

			rows = feedsJSON(t, dsn)
			require.Equal(t, "interrupted", rows[0].Status)
			require.Equal(t, "interrupted by "+tc.name, rows[0].LastError)
			r := intel(t, []string{"DATABASE_URL=" + dsn}, "", "feeds")
			require.Regexp(t, `(?m)^big +stix +interrupted +.*interrupted by `+tc.name+`$`, r.stdout)

			r = intel(t, []string{"DATABASE_URL=" + dsn}, "", "ingest", "stix", feed, "--feed", "big")
			require.Equal(t, 0, r.code, r.stderr)
			require.Contains(t, r.stdout, "big: ok\n", "an interrupted feed loads again, not skipped")
			require.Equal(t, 3000, countNodes(t, pool))
		})
	}
}

// TestKilledLoadShowsAsStale: a load killed with SIGKILL cannot record
// anything; intel feeds shows its feed as stale, not running forever.
func TestKilledLoadShowsAsStale(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	cmd, _, _, release := startLoad(t, dsn, feedtest.MalwareFeed(t, 500))
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	require.Equal(t, -1, exitCode(t, cmd), "killed by a signal")
	release()

	rows := feedsJSON(t, dsn)
	require.Len(t, rows, 1)
	require.Equal(t, "stale", rows[0].Status)
	require.Equal(t, "running", rows[0].LastStatus)
	r := intel(t, []string{"DATABASE_URL=" + dsn}, "", "feeds")
	require.Regexp(t, fmt.Sprintf(`(?m)^big +stix +stale +.*pid %d on .*: the process is gone$`, cmd.Process.Pid), r.stdout)
}

// TestSecondSignalEndsAtOnce: while the batch in flight waits (here, for a
// lock), a second Ctrl-C ends the process at once by the signal's default
// action.
func TestSecondSignalEndsAtOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	cmd, _, stderr, _ := startLoad(t, dsn, feedtest.MalwareFeed(t, 500))
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, -1, exitCode(t, cmd), "killed by the second SIGINT (the lock is still held); stderr: %s", stderr)
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.Equal(t, syscall.SIGINT, ws.Signal())
}

// TestInterruptedTelemetryLoad: SIGINT during intel ingest telemetry (no
// feed bookkeeping) ends it with one line counting the lines read, exit 130.
func TestInterruptedTelemetryLoad(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var b strings.Builder
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	for i := range 2000 {
		fmt.Fprintf(&b, `{"src":"ipv4-addr:10.0.%d.%d","relation":"connected-to","dst":"domain-name:c2-%d.example","agent_id":"ws-1","observed_at":"%s"}`+"\n",
			i/250, i%250, i, at)
	}
	path := filepath.Join(t.TempDir(), "edr.ndjson")
	require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	cmd, _, stderr, release := startLoadOf(t, dsn, "ingest", "telemetry", path)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(300 * time.Millisecond)
	release()
	require.Equal(t, 130, exitCode(t, cmd), "stderr: %s", stderr)
	// The line says what was stored, not only what was read: the edges
	// committed are the rows of telemetry_edges.
	m := regexp.MustCompile(`^intel: interrupted by SIGINT after reading \d+ lines \(stored: (\d+) edges\)\n$`).FindStringSubmatch(stderr.String())
	require.NotNil(t, m, stderr.String())
	var rows int
	require.NoError(t, pgtest.PoolFor(t, dsn).QueryRow(context.Background(), "SELECT count(*) FROM telemetry_edges").Scan(&rows))
	require.Equal(t, strconv.Itoa(rows), m[1], "edges stored")
}

// sigtermWhileStalled runs the built intel with args, writes input to its
// standard input and then stalls (the pipe open, no more bytes), sends
// SIGTERM once ready reports that intel is at work on its input (polled up
// to 30 s: a fixed sleep was too short on a loaded machine, where the
// process had not read a line yet) and waits up to 15 s for it to end
// (failing the test if it does not). It returns the exit code and stderr.
func sigtermWhileStalled(t *testing.T, input string, ready func() bool, args ...string) (int, string) {
	t.Helper()
	pr, pw, err := os.Pipe()
	require.NoError(t, err)
	t.Cleanup(func() { _ = pw.Close() })
	var stderr bytes.Buffer
	cmd := exec.Command(intelBinary(t), args...)
	cmd.Stdin, cmd.Stderr = pr, &stderr
	require.NoError(t, cmd.Start())
	_ = pr.Close()
	_, err = pw.WriteString(input)
	require.NoError(t, err)
	for deadline := time.Now().Add(30 * time.Second); !ready() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // and back to waiting on its input
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("intel still waiting on its input 15 s after SIGTERM; stderr: %s", stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// TestSIGTERMStopsATelemetryLoadWaitingOnItsInput: `producer | intel ingest
// telemetry -` with a producer that has stalled (no line, pipe still open):
// SIGTERM ends the load at once with the one line and 143. The read waited
// for the producer, so the signal did nothing until it wrote again or
// closed (systemd's stop then ended in SIGKILL).
func TestSIGTERMStopsATelemetryLoadWaitingOnItsInput(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	now := time.Now().UTC().Format(time.RFC3339)
	var input strings.Builder
	for i := range 5 { // read, then nothing more but half a line
		fmt.Fprintf(&input, `{"src":"ipv4-addr:10.0.0.1","relation":"connected-to","dst":"domain-name:c%d.example","agent_id":"ws-1","observed_at":%q}`+"\n", i, now)
	}
	input.WriteString(`{"src":"ipv4-addr:10.0.0.1","relation":"conn`)
	pool := pgtest.PoolFor(t, dsn)
	stored := func() bool { // the lines read are written after a pause of the input
		var n int
		return pool.QueryRow(context.Background(), "SELECT count(*) FROM telemetry_edges").Scan(&n) == nil && n == 5
	}
	code, stderr := sigtermWhileStalled(t, input.String(), stored, "--database-url", dsn, "ingest", "telemetry", "-")
	require.Equal(t, 143, code, stderr)
	require.Contains(t, stderr, "intel: interrupted by SIGTERM after")
	// Standard input has no checkpoint and its producer does not send
	// again: what was read is written before the load stops.
	require.Contains(t, stderr, "stored: 5 edges", stderr)
	var rows int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM telemetry_edges").Scan(&rows))
	require.Equal(t, 5, rows, "the lines read before SIGTERM are stored")
}

// TestSIGTERMStopsAFeedLoadWaitingOnItsInput: `producer | intel ingest
// stix -` whose producer stalls (the pipe open, no more bytes) stops at
// SIGTERM at once, exit 143, the feed recorded interrupted, instead of
// waiting for the producer to write or close.
func TestSIGTERMStopsAFeedLoadWaitingOnItsInput(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	started := func() bool { // the feed is recorded running: intel is reading
		var n int
		return pool.QueryRow(context.Background(), "SELECT count(*) FROM feeds WHERE name = 'stalled'").Scan(&n) == nil && n == 1
	}
	code, stderr := sigtermWhileStalled(t, `{"type":"bundle","id":"bundle--00000000-0000-4000-8000-000000000001","objects":[`+
		`{"type":"malware","spec_version":"2.1","id":"malware--00000000-0000-4000-8000-000000000002","created":"2021-01-01T00:00:00Z","modified":"2021-01-01T00:00:00Z","name":"Stalled","is_family":true},`,
		started, "--database-url", dsn, "ingest", "stix", "-", "--feed", "stalled")
	require.Equal(t, 143, code, stderr)
	require.Contains(t, stderr, "interrupted by SIGTERM", stderr)
	var status string
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT last_status FROM feeds WHERE name = 'stalled'").Scan(&status))
	require.Equal(t, "interrupted", status)
}

// TestInterruptedFeedDirectoryRecordsNoUnwrittenEvent: SIGINT while the
// last batch of a MISP feed directory's first event waits (here, for a
// lock) past its grace: the batch rolls back, and the event must not be
// recorded as loaded. It was (the event had been read to its end), so the
// next run skipped it as unchanged and it never reached the graph. The
// rerun must give the graph of one clean load.
func TestInterruptedFeedDirectoryRecordsNoUnwrittenEvent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	manifest := map[string]any{}
	for i, id := range []string{"7b0e1a2b-0000-4000-8000-000000000001", "7b0e1a2b-0000-4000-8000-000000000002"} {
		var attrs []map[string]any
		for j := range 20 {
			attrs = append(attrs, map[string]any{"uuid": fmt.Sprintf("%s-a%03d", id[:24], j), "type": "ip-dst",
				"value": fmt.Sprintf("198.51.%d.%d", 100+i, j+1), "category": "Network activity", "timestamp": "1760000000"})
		}
		body, err := json.Marshal(map[string]any{"Event": map[string]any{"uuid": id, "info": "event " + id,
			"date": "2026-10-01", "timestamp": "1760000000", "Attribute": attrs}})
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, id+".json"), body, 0o644))
		manifest[id] = map[string]any{"info": "event " + id, "timestamp": "1760000000"}
	}
	b, err := json.Marshal(manifest)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644))
	args := []string{"ingest", "misp", dir, "--feed", "dir", "--batch-size", "1000", "--workers", "1"}

	clean := pgtest.DSN(t)
	r := intel(t, []string{"DATABASE_URL=" + clean}, "", args...)
	require.Equal(t, 0, r.code, r.stderr)
	want := pgtest.Dump(t, pgtest.PoolFor(t, clean), pgtest.GraphQueries...)

	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	cmd, _, stderr, release := startLoadOf(t, dsn, args...)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	require.Equal(t, 130, exitCode(t, cmd), "the batch rolls back after its grace; stderr: %s", stderr)
	release()
	require.Equal(t, 0, countNodes(t, pool), "the batch in flight rolled back")
	var items int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM feed_items`).Scan(&items))
	require.Zero(t, items, "no event recorded as loaded: none was written")

	r = intel(t, []string{"DATABASE_URL=" + dsn}, "", args...)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "dir: ok (2 events loaded, 0 unchanged)")
	require.Equal(t, want, pgtest.Dump(t, pool, pgtest.GraphQueries...), "the rerun gives the graph of one clean load")
}

// TestSIGPIPEFromTheDatabaseSocketDoesNotStopALoad: once intel notifies
// SIGPIPE (to stop on a closed stdout or stderr), a write to any closed
// socket raises it too, the database server's when the server restarts or
// drops the connection (seen with pg_ctl stop -m immediate under intel
// ingest stix: "interrupted by SIGPIPE", exit 141, although the load's
// retries were riding the restart out). With stdout and stderr open, the
// signal (sent here as such a write raises it) must not stop the load.
func TestSIGPIPEFromTheDatabaseSocketDoesNotStopALoad(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	cmd, stdout, stderr, release := startLoad(t, dsn, feedtest.MalwareFeed(t, 500))
	require.NoError(t, cmd.Process.Signal(syscall.SIGPIPE))
	time.Sleep(300 * time.Millisecond)
	release()
	require.Equal(t, 0, exitCode(t, cmd), "stderr: %s", stderr)
	require.Contains(t, stdout.String(), "big: ok\n")
	require.Equal(t, 500, countNodes(t, pool))
	rows := feedsJSON(t, dsn)
	require.Equal(t, "ok", rows[0].Status)
}

// TestInterruptedLoadWhoseRecordFailsSaysSo: when the feed's interrupted
// record cannot be written (here a trigger refuses it; in life the server
// has gone, as with pg_ctl stop -m immediate under a load), the one line
// said "feed big marked interrupted" all the same. It must say the record
// failed, and intel feeds shows the feed stale.
func TestInterruptedLoadWhoseRecordFailsSaysSo(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	pool := pgtest.PoolFor(t, dsn)
	cmd, _, stderr, release := startLoad(t, dsn, feedtest.MalwareFeed(t, 500))
	_, err := pool.Exec(context.Background(), `
		CREATE FUNCTION refuse_interrupted() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.last_status = 'interrupted' THEN RAISE EXCEPTION 'record refused'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_interrupted BEFORE UPDATE ON feeds FOR EACH ROW EXECUTE FUNCTION refuse_interrupted();`)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	time.Sleep(300 * time.Millisecond)
	release()
	require.Equal(t, 130, exitCode(t, cmd), "stderr: %s", stderr)
	last := strings.TrimSpace(stderr.String())
	last = last[strings.LastIndexByte(last, '\n')+1:]
	require.Regexp(t, `^intel: interrupted by SIGINT after reading \d+ records \(stored: \d+ nodes, \d+ relations\); feed big could not be marked interrupted`, last)
	require.Contains(t, stderr.String(), "record refused", "the log says why")
	rows := feedsJSON(t, dsn)
	require.Equal(t, "stale", rows[0].Status)
}

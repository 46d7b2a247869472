package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/internal/feedtest"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestSIGINTDuringTheStartupUpkeepExitsWithinTheGrace: the partition
// upkeep every command runs on startup waits for a lock a reader holds on
// telemetry_edges (or on a frozen server); Ctrl-C then ends the command
// within the interrupt grace, as it ends a load; also when the server is
// frozen (SIGSTOP) during that wait. Before, the upkeep ran
// without a deadline: the command exited when partman had spent its 10
// tries of lock_timeout (34 s after the signal), and with a frozen server
// never.
func TestSIGINTDuringTheStartupUpkeepExitsWithinTheGrace(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		args   []string
		frozen bool // the server SIGSTOPped while the upkeep waits
	}{
		"search":                {args: []string{"search", "foo"}},
		"ingest stix":           {args: []string{"ingest", "stix", "", "--feed", "small"}},
		"search, server frozen": {args: []string{"search", "foo"}, frozen: true},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args := tc.args
			dsn := pgtest.DSN(t)
			if tc.frozen {
				dsn = pgtest.StartMigratedServer(t) // its own server, to freeze
			}
			pool := pgtest.PoolFor(t, dsn)
			ctx := context.Background()
			// No day partitions: the upkeep has days to make.
			rows, err := pool.Query(ctx, `SELECT c.oid::regclass::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
				WHERE i.inhparent = 'telemetry_edges'::regclass AND c.relname <> 'telemetry_edges_default'`)
			require.NoError(t, err)
			var parts []string
			for rows.Next() {
				var p string
				require.NoError(t, rows.Scan(&p))
				parts = append(parts, p)
			}
			require.NoError(t, rows.Err())
			for _, p := range parts {
				_, err := pool.Exec(ctx, "DROP TABLE "+p)
				require.NoError(t, err)
			}
			// A long reader: making a partition waits for it.
			reader, err := pgx.Connect(ctx, dsn)
			require.NoError(t, err)
			t.Cleanup(func() { _ = reader.Close(context.Background()) })
			_, err = reader.Exec(ctx, "BEGIN; LOCK TABLE telemetry_edges IN ACCESS SHARE MODE")
			require.NoError(t, err)

			if args[0] == "ingest" {
				args[2] = feedtest.MalwareFeed(t, 20)
			}
			cmd := exec.Command(intelBinary(t), args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "INTEL_STATE_DIR=" + t.TempDir(), "DATABASE_URL=" + dsn}
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			require.NoError(t, cmd.Start())
			t.Cleanup(func() {
				if cmd.ProcessState == nil {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
			})
			require.Eventually(t, func() bool {
				var waiting bool
				err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
					WHERE datname = current_database() AND wait_event_type = 'Lock')`).Scan(&waiting)
				if err != nil {
					t.Log(err)
				}
				return err == nil && waiting
			}, 60*time.Second, 50*time.Millisecond, "the upkeep waits for the lock\nstderr: %s", &stderr)

			if tc.frozen {
				pids := serverProcesses(t, dsn)
				t.Cleanup(func() { // before the server is stopped: never leave it frozen
					for _, pid := range pids {
						_ = syscall.Kill(pid, syscall.SIGCONT)
					}
				})
				for _, pid := range pids {
					require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
				}
				time.Sleep(time.Second) // the upkeep now waits on the frozen server
			}
			start := time.Now()
			require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
			code := exitCode(t, cmd) // fails the test after 60 s
			took := time.Since(start)
			t.Logf("exit %d after %s", code, took)
			require.Equal(t, 130, code, "stderr: %s", &stderr)
			require.Contains(t, stderr.String(), "intel: interrupted by SIGINT")
			// Timers, not work: the bound is loose (the upkeep gave up
			// 28 s or more after the signal before).
			require.Less(t, took, ingest.DefaultInterruptGrace+5*time.Second, "stderr: %s", &stderr)
		})
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/store"
)

// runCLI runs intel in process with args, as main would (newApp, the root
// command, the exit code mapping of run), with empty stdin.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), code
}

// runOK runs intel in process and fails the test unless it exits 0.
func runOK(t *testing.T, args ...string) string {
	t.Helper()
	stdout, stderr, code := runCLI(t, args...)
	require.Equal(t, exitOK, code, "intel %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), stdout, stderr)
	return stdout
}

func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runCLI(t, "--help")
	require.Equal(t, exitOK, code, stderr)
	for _, c := range []string{"migrate", "partitions", "ingest", "related", "tune", "local", "demo"} {
		require.Regexp(t, `(?m)^  `+c+` +\S`, stdout, "intel --help lists %s", c)
	}
	require.Contains(t, stdout, "Usage:\n  intel [command]\n", "a group shows no run-alone use line")

	// A group run alone prints its help, like --help.
	alone, _, code := runCLI(t, "partitions")
	require.Equal(t, exitOK, code)
	require.Equal(t, runOK(t, "partitions", "--help"), alone)
}

// noServer is a database URL that no server answers: a usage error must
// be found before it is tried (a regression fails at once, exit 1, rather
// than starting a local cluster or running for ever).
const noServer = "--database-url=postgres://intel@127.0.0.1:1/none?connect_timeout=1"

func TestUsageErrorsExitTwo(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		want string // the cause line
		help string // the command whose help is suggested
	}{
		{"unknown command", []string{"frobnicate"}, `intel: unknown command "frobnicate" for "intel"`, "intel"},
		{"unknown command with a suggestion", []string{"migrat"}, `(did you mean migrate?)`, "intel"},
		{"unknown subcommand", []string{"partitions", "frobnicate"}, `unknown command "frobnicate" for "intel partitions"`, "intel partitions"},
		{"unknown flag", []string{"tune", "--frobnicate"}, "unknown flag: --frobnicate", "intel tune"},
		{"bad flag value", []string{"related", "--depth", "x", "malware:a"}, `invalid argument "x" for "--depth"`, "intel related"},
		{"flag without its value", []string{"related", "malware:a", "--depth"}, "flag needs an argument", "intel related"},
		{"missing argument", []string{"ingest", "stix"}, "accepts 1 arg(s), received 0", "intel ingest stix"},
		{"several inputs", []string{"ingest", "misp", "a.json", "b.json", "c.json", "d.json"},
			"intel ingest misp loads one input, a file, a directory or - (got 4 arguments: a.json b.json c.json …); to load several, give their directory, or list them in a feed list (intel ingest feeds)",
			"intel ingest misp"},
		{"extra argument", []string{"tune", "now"}, `unknown command "now" for "intel tune"`, "intel tune"},
		{"bad format", []string{"tune", "--format", "xml"}, `--format "xml"`, "intel tune"},
		{"bad log level", []string{"tune", "--log-level", "loud"}, `--log-level "loud"`, "intel tune"},
		{"bad retention", []string{"partitions", "prune", "--keep", "soon"}, `--keep "soon"`, "intel partitions prune"},
		{"zero retention in days", []string{"partitions", "prune", "--keep", "0d"}, `--keep "0d": want 1d to 106751d`, "intel partitions prune"},
		// 213504 days × 24 h wraps a time.Duration to 25 minutes: that
		// pruned every day but today and recorded a 25-minute retention.
		{"retention past what a duration holds", []string{"partitions", "prune", "--keep", "213504d"}, `--keep "213504d": want 1d to 106751d`, "intel partitions prune"},
		{"maintain retention past what a duration holds", []string{"partitions", "maintain", "--keep", "106752d"}, `--keep "106752d"`, "intel partitions maintain"},
		// Unknown commands at every level, however help is asked for.
		{"unknown migrate command", []string{"migrate", "redo"}, `intel: unknown command "redo" for "intel migrate"`, "intel migrate"},
		{"unknown partitions command", []string{"partitions", "foo"}, `intel: unknown command "foo" for "intel partitions"`, "intel partitions"},
		{"unknown local command", []string{"local", "restart"}, `intel: unknown command "restart" for "intel local"`, "intel local"},
		{"unknown ingest command", []string{"ingest", "csv", "x"}, `intel: unknown command "csv" for "intel ingest"`, "intel ingest"},
		{"help for an unknown command", []string{"frobnicate", "--help"}, `unknown command "frobnicate" for "intel"`, "intel"},
		{"help for an unknown subcommand", []string{"migrate", "redo", "--help"}, `unknown command "redo" for "intel migrate"`, "intel migrate"},
		{"help command, unknown topic", []string{"help", "frobnicate"}, `unknown command "frobnicate" for "intel"`, "intel"},
		{"help command, unknown subtopic", []string{"help", "migrate", "redo"}, `unknown command "redo" for "intel migrate"`, "intel migrate"},
		{"unknown completion shell", []string{"completion", "tcsh"}, `unknown command "tcsh" for "intel completion"`, "intel completion"},
		{"completion with an extra argument", []string{"completion", "bash", "x"}, `unknown command "x" for "intel completion bash"`, "intel completion bash"},
		// Numeric flags outside their range, named with the range.
		{"negative depth", []string{"related", "--depth", "-1", "malware:a"}, "--depth -1: want 0 or more", "intel related"},
		{"depth past an int32", []string{"related", "--depth", "2147483648", "malware:a"}, "--depth 2147483648: want 0 to 2147483647", "intel related"},
		{"zero fanout", []string{"related", "--fanout", "0", "malware:a"}, "--fanout 0: want 1 or more", "intel related"},
		{"zero max nodes", []string{"related", "--max-nodes", "0", "malware:a"}, "--max-nodes 0: want 1 or more", "intel related"},
		{"negative concurrency", []string{"ingest", "feeds", "--concurrency", "-3", "feeds.yaml"}, "--concurrency -3: want 1 to 1024", "intel ingest feeds"},
		{"zero concurrency", []string{"ingest", "feeds", "--concurrency", "0", "feeds.yaml"}, "--concurrency 0: want 1 to 1024", "intel ingest feeds"},
		{"negative workers", []string{"ingest", "stix", "--workers", "-1", "f.json"}, "--workers -1: want 0 to 1024", "intel ingest stix"},
		{"negative batch size", []string{"ingest", "misp", "--batch-size", "-5", "f.json"}, "--batch-size -5: want 0 to 1000000", "intel ingest misp"},
		{"negative days ahead", []string{"partitions", "ensure", "--ahead", "-1"}, "--ahead -1: want 0 to 3660", "intel partitions ensure"},
		{"negative retries", []string{"partitions", "check", "--retries", "-1"}, "--retries -1: want 0 to 1000", "intel partitions check"},
		{"zero lock timeout", []string{"partitions", "list", "--lock-timeout", "0s"}, "--lock-timeout 0s: want 1ms or more", "intel partitions list"},
		{"zero interval", []string{"partitions", "maintain", "--every", "0s"}, "--every 0s: want 1s or more", "intel partitions maintain"},
		{"zero cores", []string{"tune", "--cores", "0"}, "--cores 0: want 1 to 1048576", "intel tune"},
		{"negative spindle factor", []string{"tune", "--spindle-factor", "-1"}, "--spindle-factor -1: want 0 to 1000", "intel tune"},
		{"negative version", []string{"migrate", "down", "--to", "-1"}, "--to -1: want 0 or more", "intel migrate down"},
		{"unknown walk engine", []string{"related", "--engine", "fast", "malware:a"}, `--engine "fast": want auto, recursive or levels`, "intel related"},
		// A window the server would refuse ("timestamp out of range",
		// exit 1) or that is empty: the flags are wrong, not the data.
		{"since too far back", []string{"related", "--since", "99999999999d", "malware:a"}, `--since: "99999999999d": want at most 365250d`, "intel related"},
		{"since after until", []string{"related", "--since", "2026-12-05", "--until", "2026-12-01", "malware:a"}, "--since 2026-12-05 is not before --until 2026-12-01", "intel related"},
		// Flags that cancel each other or do nothing without another:
		// the command ran (or ran for ever) doing less than asked.
		{"a relation type walked and excluded", []string{noServer, "related", "--relations", "uses,indicates", "--exclude-relations", "indicates", "malware:a"}, `--relations and --exclude-relations both name "indicates"`, "intel related"},
		{"maintain prune mode without retention", []string{noServer, "partitions", "maintain", "--mode", "drop"}, "--mode applies to the prune of --keep: give --keep too", "intel partitions maintain"},
		{"maintain late rows without retention", []string{noServer, "partitions", "maintain", "--late-rows", "keep"}, "--late-rows applies to the prune of --keep", "intel partitions maintain"},
		// Values that were taken and then failed later (exit 1 or 4) or
		// meant something else (a window in the future).
		{"zero memory", []string{"tune", "--memory", "0"}, `--memory "0": want a size above zero`, "intel tune"},
		{"negative since duration", []string{noServer, "related", "--since", "-5h", "malware:a"}, `--since: "-5h": want a duration back from now of zero or more`, "intel related"},
		{"negative until duration", []string{noServer, "related", "--until", "-24h", "malware:a"}, `--until: "-24h"`, "intel related"},
		{"empty node reference for show", []string{noServer, "show", ""}, "the node reference is empty", "intel show"},
		{"blank node reference for related", []string{noServer, "related", "  "}, "the node reference is empty", "intel related"},
		{"negative connect timeout", []string{"--connect-timeout", "-1s", "feeds"}, "--connect-timeout -1s: want 1ms or more", "intel feeds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runCLI(t, tc.args...)
			require.Equal(t, exitUsage, code, "stdout: %s\nstderr: %s", stdout, stderr)
			require.Empty(t, stdout)
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			require.Len(t, lines, 2, stderr)
			require.True(t, strings.HasPrefix(lines[0], "intel: "), stderr)
			require.Contains(t, lines[0], tc.want)
			require.Equal(t, "Run '"+tc.help+" --help' for usage.", lines[1])
		})
	}
}

// TestEveryCommandValidatesItsArguments holds the structural recognition
// of usage errors together: every command of intel has an argument
// validator (so cobra never falls back to its own plain-error checks), and
// what the validators reject is a usageError.
func TestEveryCommandValidatesItsArguments(t *testing.T) {
	t.Parallel()
	root := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}).rootCommand()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		require.NotNil(t, c.Args, "%s has an argument validator", c.CommandPath())
		if c.HasSubCommands() {
			require.ErrorAs(t, c.Args(c, []string{"nonsense"}), new(usageError), c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	require.ErrorAs(t, noArgs(root, []string{"x"}), new(usageError))
	require.ErrorAs(t, exactArgs(1)(root, nil), new(usageError))
	require.NoError(t, exactArgs(1)(root, []string{"x"}))
}

// TestEveryCommandsHelpTeaches: every command's --help shows how it is
// run (an example), groups included (intel roles had none, nor a long
// text; intel partitions list has one now too).
func TestEveryCommandsHelpTeaches(t *testing.T) {
	t.Parallel()
	root := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}).rootCommand()
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		if !c.Hidden && c.Name() != "help" && c.Name() != "completion" && (c.Parent() == nil || c.Parent().Name() != "completion") {
			seen++
			require.NotEmpty(t, strings.TrimSpace(c.Example), "%s shows an example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	require.Greater(t, seen, 20, "the walk sees the commands")
}

// TestEveryNumericFlagHasARange: a number or duration flag that is not
// given a range (intRange, durationRange) would take any value silently.
func TestEveryNumericFlagHasARange(t *testing.T) {
	t.Parallel()
	root := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}).rootCommand()
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		check := func(f *pflag.Flag) {
			if numericFlag(f) {
				seen++
				require.Contains(t, f.Annotations, rangeMin, "%s --%s declares its range", c.CommandPath(), f.Name)
				if f.DefValue != "0" { // 0: not given (tune --cores: detect)
					require.NoError(t, checkRange(f), "%s --%s: the default is in range", c.CommandPath(), f.Name)
				}
			}
		}
		c.LocalFlags().VisitAll(check)
		c.PersistentFlags().VisitAll(check)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	require.Greater(t, seen, 15, "the walk sees the numeric flags")
}

// TestFailedStdoutFailsTheCommand: output a user relies on is never lost
// silently. A command whose stdout cannot be written (full disk, closed
// pipe) exits 1 with the cause on stderr, whether the command saw the error
// itself (the tune table) or only the app's stdout did (cobra's help).
func TestFailedStdoutFailsTheCommand(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"tune", "--cores", "2", "--memory", "4GiB"},
		{"tune", "--cores", "2", "--memory", "4GiB", "--format", "json"},
		{"--help"},
		{"partitions"},
	} {
		var errOut bytes.Buffer
		code := run(args, strings.NewReader(""), failingWriter{}, &errOut)
		require.Equal(t, exitFailure, code, "intel %s: stderr: %s", strings.Join(args, " "), errOut.String())
		require.Regexp(t, `^intel: write (output|plan table): disk full\n$`, errOut.String(), "intel %s", strings.Join(args, " "))
	}
}

func TestPrinterKeepsTheFirstError(t *testing.T) {
	t.Parallel()
	w := &failAfter{n: 1}
	p := newPrinter(w)
	p.printf("%d\n", 1)
	require.NoError(t, p.err)
	p.println("two")
	p.print("three")
	require.EqualError(t, p.err, "write 2 failed")
	require.Equal(t, "1\n", w.buf.String(), "nothing is written after the first error")
	require.EqualError(t, p.flush(), "write 2 failed")

	var out bytes.Buffer
	tp := newTablePrinter(&out)
	tp.printf("a\tb\n")
	tp.println("long cell\tc")
	require.Empty(t, out.String(), "a table is written when flushed")
	require.NoError(t, tp.flush())
	require.Equal(t, "a          b\nlong cell  c\n", out.String())

	fp := newTablePrinter(failingWriter{})
	fp.printf("a\tb\n")
	require.EqualError(t, fp.flush(), "disk full", "a table's write error comes at flush")
}

// failAfter takes n writes, then fails every one.
type failAfter struct {
	n, calls int
	buf      bytes.Buffer
}

func (w *failAfter) Write(b []byte) (int, error) {
	w.calls++
	if w.calls > w.n {
		return 0, fmt.Errorf("write %d failed", w.calls)
	}
	return w.buf.Write(b)
}

func TestWriteFileReportsErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "out.dot")
	require.NoError(t, writeFile(path, func(w io.Writer) error {
		_, err := io.WriteString(w, "digraph {}\n")
		return err
	}))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "digraph {}\n", string(b))

	require.ErrorContains(t, writeFile(filepath.Join(dir, "missing", "out.dot"), func(io.Writer) error { return nil }),
		filepath.Join(dir, "missing", "out.dot"))
	require.EqualError(t, writeFile(path, func(io.Writer) error { return errors.New("render failed") }), "render failed")
}

func TestTunePlanForALargeMachine(t *testing.T) {
	t.Parallel()
	var rep struct {
		Resources struct {
			Cores       int    `json:"cores"`
			MemoryBytes uint64 `json:"memory_bytes"`
			Source      struct {
				CPU    string `json:"cpu"`
				Memory string `json:"memory"`
			} `json:"source"`
		} `json:"resources"`
		Plan map[string]any `json:"plan"`
	}
	require.NoError(t, json.Unmarshal([]byte(runOK(t, "tune", "--cores", "48", "--memory", "196GiB", "--format", "json")), &rep))
	require.Equal(t, 48, rep.Resources.Cores)
	require.Equal(t, uint64(196<<30), rep.Resources.MemoryBytes)
	require.Equal(t, "manual", rep.Resources.Source.CPU)
	require.Equal(t, "manual", rep.Resources.Source.Memory)
	// README, "Size for the machine": 48 × 2 + 4 = 100 under the cap of 400
	// above 100 GiB; batch 5,000; 4 parser workers above 16 cores;
	// writers: the cores, at most half the pool.
	require.Equal(t, map[string]any{"class": "large", "max_conns": 100.0, "min_conns": 25.0, "pool_cap": 400.0,
		"spindle_factor": 4.0, "batch_size": 5000.0, "parser_workers": 4.0, "writers": 48.0,
		"telemetry_streams": 48.0, "endpoint_cache_keys": 524288.0}, rep.Plan)

	table := runOK(t, "tune", "--cores", "48", "--memory", "196GiB")
	require.Contains(t, table, "max conns          100     min(cores × 2 + spindle factor 4, large cap 400)\n")
	require.Contains(t, table, "telemetry streams  48      COPY streams of a shared telemetry writer: cores, at most max conns / 2\n")
}

func TestPartitionsListAndCheck(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	today := time.Now().UTC().Format("2006_01_02")

	var ensured struct {
		Parent string `json:"parent"`
		Days   []struct {
			Partition string `json:"partition"`
			Created   bool   `json:"created"`
		} `json:"days"`
	}
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "partitions", "ensure", "--ahead", "2", "--behind", "0", "--format", "json")), &ensured))
	require.Equal(t, "public.telemetry_edges", ensured.Parent)
	require.Len(t, ensured.Days, 3, "today and two days ahead")
	require.Equal(t, "telemetry_edges_"+today, ensured.Days[0].Partition)

	list := runOK(t, db, "partitions", "list")
	require.True(t, strings.HasPrefix(list, "PARTITION "), list)
	require.Contains(t, list, "public.telemetry_edges_"+today+"  ")
	require.Contains(t, list, "public.telemetry_edges_default ")
	require.Contains(t, list, "public.telemetry_edges: 3 partitions\n")
	requireNoTrailingBlanks(t, list)

	var listing struct {
		Parent     string `json:"parent"`
		Partitions []struct {
			Name string `json:"name"`
		} `json:"partitions"`
		Default struct {
			Name string `json:"name"`
		} `json:"default"`
	}
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "partitions", "list", "--format", "json")), &listing))
	require.Len(t, listing.Partitions, 3)
	require.Equal(t, "telemetry_edges_default", listing.Default.Name)

	check := runOK(t, db, "partitions", "check", "--ahead", "2", "--behind", "0")
	require.Contains(t, check, "default partition public.telemetry_edges_default: 0 rows\n")
	require.Contains(t, check, ": none\nstatus: ok\n")

	// Looking further ahead than ensure went finds missing days.
	var rep struct {
		OK          bool     `json:"ok"`
		MissingDays []string `json:"missing_days"`
	}
	// It prints its report and exits 3 (attention), apart from a check
	// that could not run (1).
	stdout, stderr, code := runCLI(t, db, "partitions", "check", "--ahead", "4", "--behind", "0", "--format", "json")
	require.Equal(t, exitAttention, code, stderr)
	require.Contains(t, stderr, "partitions need attention: 2 missing days, 0 rows in the default partition; run intel partitions ensure")
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.False(t, rep.OK)
	require.Len(t, rep.MissingDays, 2)
	_, _, code = runCLI(t, "--database-url", "postgres://nobody@127.0.0.1:1/none?connect_timeout=2", "partitions", "check")
	require.Equal(t, exitFailure, code, "a check that cannot run is no attention")
}

// Rows dated far outside the window (an agent clock at 9999-12-31, a day of
// 1970) waited in the default partition, and check said "run intel
// partitions ensure", which makes only the window's days: exit 3 for ever.
// Check now names the days and --from-default; ensure --from-default
// moves the rows and check is ok again.
func TestPartitionsCheckOfRowsOutsideTheWindow(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	runOK(t, db, "partitions", "ensure", "--ahead", "1", "--behind", "0")
	pool := pgtest.PoolFor(t, dsn)
	for _, at := range []string{"9999-12-31T23:59:59Z", "1970-01-01T00:00:01Z", "9999-12-31T00:00:00Z"} {
		_, err := pool.Exec(context.Background(), `INSERT INTO telemetry_edges (src_id, dst_id, relation, agent_id, observed_at)
			VALUES (gen_random_uuid(), gen_random_uuid(), 'wrote', 'agent-9', $1::timestamptz)`, at)
		require.NoError(t, err)
	}
	runOK(t, db, "partitions", "ensure", "--ahead", "1", "--behind", "0")
	_, stderr, code := runCLI(t, db, "partitions", "check", "--ahead", "1", "--behind", "0")
	require.Equal(t, exitAttention, code, stderr)
	require.Contains(t, stderr, "partitions need attention: 0 missing days, 3 rows in the default partition, "+
		"all of 2 days outside the window (1970-01-01 to 9999-12-31): run intel partitions ensure --from-default, "+
		"or delete those rows if their times are wrong")
	require.Contains(t, runOK(t, "partitions", "ensure", "--help"), "--from-default")

	out := runOK(t, db, "partitions", "ensure", "--ahead", "1", "--behind", "0", "--from-default")
	require.Contains(t, out, "telemetry_edges_9999_12_31", out)
	check := runOK(t, db, "partitions", "check", "--ahead", "1", "--behind", "0")
	require.Contains(t, check, "status: ok\n", check)
}

// loadSmallGraph writes file → hash ← indicator → malware → intrusion set
// through the store and returns the file node.
func loadSmallGraph(t *testing.T, dsn string) graph.Node {
	t.Helper()
	st := store.NewStore(pgtest.PoolFor(t, dsn))
	file, hashes, rels := graph.FileNode(map[string]string{"SHA-256": strings.Repeat("ab", 32)}, "invoice.exe")
	indicator := graph.SourceNode(graph.KindIndicator, "indicator--5f2a3e5c-8d1e-4d6b-9d8e-0c3b1a2f4e6d")
	indicator.Name = "Invoice dropper hash"
	malware := graph.NamedNode(graph.KindMalware, "LockBit")
	actor := graph.NamedNode(graph.KindIntrusionSet, "Bitwise Spider")
	rels = append(rels,
		graph.Relation{Src: indicator.Ref(), Type: graph.RelBasedOn, Dst: hashes[0].Ref()},
		graph.Relation{Src: indicator.Ref(), Type: graph.RelIndicates, Dst: malware.Ref()},
		graph.Relation{Src: malware.Ref(), Type: graph.RelAttributedTo, Dst: actor.Ref()},
	)
	_, err := st.Write(context.Background(), graph.Batch{
		Nodes:     append([]graph.Node{file, indicator, malware, actor}, hashes...),
		Relations: rels,
	})
	require.NoError(t, err)
	return file
}

func TestRelated(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	file := loadSmallGraph(t, dsn)
	db := "--database-url=" + dsn
	start := "file:" + file.Key

	t.Run("tree", func(t *testing.T) {
		t.Parallel()
		tree := runOK(t, db, "related", file.ID.String())
		lines := strings.Split(strings.TrimSuffix(tree, "\n"), "\n")
		require.Len(t, lines, 5, tree)
		require.Equal(t, "file invoice.exe  ["+file.ID.String()+"]", lines[0])
		for i, want := range []string{
			"└─ -has-hash-> hash SHA-256:" + strings.Repeat("ab", 32) + "  [",
			"   └─ <-based-on- indicator Invoice dropper hash  [",
			"      └─ -indicates-> malware LockBit  [",
			"         └─ -attributed-to-> intrusion-set Bitwise Spider  [",
		} {
			require.True(t, strings.HasPrefix(lines[i+1], want), "line %d: %q", i+1, lines[i+1])
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		var nb struct {
			Start string `json:"start"`
			Nodes []struct {
				Kind  string `json:"kind"`
				Name  string `json:"name"`
				Depth int    `json:"depth"`
			} `json:"nodes"`
			Edges []map[string]any `json:"edges"`
		}
		require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", file.ID.String(), "--depth", "2", "--format", "json")), &nb))
		depth := map[string]int{}
		for _, n := range nb.Nodes {
			depth[n.Kind+" "+n.Name] = n.Depth
		}
		require.Equal(t, map[string]int{"file invoice.exe": 0, "hash SHA-256:" + strings.Repeat("ab", 32): 1,
			"indicator Invoice dropper hash": 2}, depth, "--depth 2 stops at the indicator")
		require.Len(t, nb.Edges, 2)
	})
	t.Run("dot to a file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "related.dot")
		require.Empty(t, runOK(t, db, "related", file.ID.String(), "--format", "dot", "-o", path))
		dot := readFile(t, path)
		require.True(t, strings.HasPrefix(dot, "digraph related {\n"), dot)
		require.Contains(t, dot, `"`+file.ID.String()+`" [label="file\ninvoice.exe", peripheries=2, color="darkgreen"];`)
		require.Contains(t, dot, `[label="attributed-to"];`)
		require.True(t, strings.HasSuffix(dot, "}\n"))
	})
	t.Run("both engines", func(t *testing.T) {
		t.Parallel()
		args := []string{db, "related", file.ID.String(), "--format", "json", "--since", "2026-01-01"}
		auto := runOK(t, args...)
		require.JSONEq(t, auto, runOK(t, append(args, "--engine", "recursive")...))
		require.JSONEq(t, auto, runOK(t, append(args, "--engine", "levels")...))
	})
	t.Run("citus distribute on plain PostgreSQL", func(t *testing.T) {
		t.Parallel()
		_, stderr, code := runCLI(t, db, "citus", "distribute")
		require.Equal(t, exitFailure, code)
		require.Contains(t, stderr, "not a Citus coordinator")
	})
	t.Run("unknown node", func(t *testing.T) {
		t.Parallel()
		_, stderr, code := runCLI(t, db, "related", start+"-nothing")
		require.Equal(t, exitNotFound, code)
		require.Contains(t, stderr, "not found")
	})
}

func TestIngestSTIXThenRelated(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	feed := filepath.Join("..", "..", "testdata", "stix", "indicators-for-C2-with-COA.json")
	out := runOK(t, db, "ingest", "stix", feed, "--feed", "mitre-c2")
	require.Contains(t, out, "mitre-c2: ok")

	// From the file hash the feed's indicator names, through the indicator,
	// to the malware it indicates and what mitigates that.
	var nb struct {
		Nodes []struct {
			Kind  string `json:"kind"`
			Name  string `json:"name"`
			Depth int    `json:"depth"`
		} `json:"nodes"`
	}
	hash := "hash:SHA-256:ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"
	require.NoError(t, json.Unmarshal([]byte(runOK(t, db, "related", hash, "--depth", "3", "--format", "json")), &nb))
	found := map[string]int{}
	for _, n := range nb.Nodes {
		found[n.Kind+" "+n.Name] = n.Depth
	}
	require.Equal(t, 1, found["indicator File hash for Poison Ivy variant"], "%v", found)
	require.Equal(t, 2, found["malware Poison Ivy"], "%v", found)
	require.Equal(t, 3, found["course-of-action Add TCP port 80 Filter Rule to the existing Block UDP 1434 Filter"], "%v", found)

	tree := runOK(t, db, "related", "malware--fdd60b30-b67c-41e3-b0b9-f01faf20d111", "--depth", "1")
	require.True(t, strings.HasPrefix(tree, "malware Poison Ivy  ["), tree)
	require.Contains(t, tree, "<-indicates- indicator IP Address for known C2 channel")
	require.Contains(t, tree, "<-mitigates- course-of-action ")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestJSONLogFormatEndsWithAJSONRecord: with --log-format json every line
// on stderr is a JSON record, the command's final error and usage hint too
// (they were plain "intel: …" lines, which a collector reading JSON lines
// drops or chokes on), with the exit code in the record.
func TestJSONLogFormatEndsWithAJSONRecord(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"related", "--depth", "-1", "x"}, exitUsage, "--depth -1: want 0 or more"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"--database-url=postgres://u:hunter2@127.0.0.1:1/x?sslmode=disable", "--connect-timeout=2s", "related", "x"},
			exitFailure, "database unreachable"},
	} {
		_, stderr, code := runCLI(t, append([]string{"--log-format", "json"}, c.args...)...)
		require.Equal(t, c.code, code, stderr)
		require.NotContains(t, stderr, "hunter2")
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		for _, l := range lines {
			require.True(t, json.Valid([]byte(l)), "not a JSON line: %q", l)
		}
		var last struct {
			Level    string `json:"level"`
			Msg      string `json:"msg"`
			ExitCode int    `json:"exit_code"`
			Hint     string `json:"hint"`
		}
		require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
		require.Equal(t, "ERROR", last.Level)
		require.Contains(t, last.Msg, c.msg)
		require.Equal(t, c.code, last.ExitCode)
		if c.code == exitUsage {
			require.Contains(t, last.Hint, "--help' for usage.")
		}
	}
	_, stderr, code := runCLI(t, "related", "--depth", "-1", "x")
	require.Equal(t, exitUsage, code)
	require.Equal(t, "intel: --depth -1: want 0 or more\nRun 'intel related --help' for usage.\n", stderr, "text stays as it was")
}

// TestFeedNameFromAFileNameSaysHowToNameIt: a file whose name is no valid
// feed name ("apt 28 report.json") fails with an error that names the feed
// and says how to give it a name; it said `feed : name "apt 28 report": use
// letters, digits …` (an empty feed name, no way out).
func TestFeedNameFromAFileNameSaysHowToNameIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "apt 28 report.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"type":"bundle","id":"bundle--5f2a3e5c-8d1e-4d6b-9d8e-0c3b1a2f4e6d","objects":[]}`), 0o600))
	_, stderr, code := runCLI(t, "ingest", "stix", "--dry-run", path)
	require.Equal(t, exitFailure, code, stderr)
	require.Contains(t, stderr, `intel: feed apt 28 report: name "apt 28 report", taken from the file name`)
	require.Contains(t, stderr, "--feed NAME")
}

// TestTelemetryHelpTellsWhatARerunDoes: the help of ingest telemetry says
// what running it again after a cut does (a file: only what is missing;
// standard input: everything again), and its exit codes; it said neither.
// It said a file whose content changed is a new input, all of it written
// again; now what an appended or truncated file loads.
func TestTelemetryHelpTellsWhatARerunDoes(t *testing.T) {
	t.Parallel()
	out := runOK(t, "ingest", "telemetry", "--help")
	for _, want := range []string{"A FILE loads exactly once", "writes only what is missing", "Standard input, a pipe or a FIFO has no checkpoint",
		"lines\nappended load alone", "loads\nnothing (\"telemetry input shrank\")", "Exit status: 0", "130\nor 143"} {
		require.Contains(t, out, want)
	}
}

// TestMigrateDownAboveTheSchemaVersion: migrate down --to 99999 on a
// schema at its latest version printed "no migrations to apply: the schema
// is current" and exited 0; a version above the schema's is a mistyped
// flag.
func TestMigrateDownAboveTheSchemaVersion(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	runOK(t, db, "migrate", "up")
	stdout, stderr, code := runCLI(t, db, "migrate", "down", "--to", "99999")
	require.Equal(t, exitUsage, code, "stdout: %s\nstderr: %s", stdout, stderr)
	require.Empty(t, stdout)
	require.Contains(t, stderr, "intel: --to 99999: the schema is at version ")
	require.Contains(t, stderr, "down only rolls back to an older one")
}

// setForDatabase sets a server setting for the database of dsn (ALTER
// DATABASE … SET, as a DBA does): sessions that start after it take it.
func setForDatabase(t *testing.T, dsn, setting, value string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, fmt.Sprintf(`DO $$ BEGIN EXECUTE format('ALTER DATABASE %%I SET %s = %%L', current_database(), %s); END $$`,
		pgx.Identifier{setting}.Sanitize(), "'"+strings.ReplaceAll(value, "'", "''")+"'"))
	require.NoError(t, err)
}

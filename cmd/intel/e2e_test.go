package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/db/migrations"
	"github.com/ransomeye/intel/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if buildDir != "" {
		if err := os.RemoveAll(buildDir); err != nil {
			fmt.Fprintf(os.Stderr, "remove the test build directory: %v\n", err)
		}
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// intelBinary builds cmd/intel once per test run.
func intelBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "intel-e2e-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "intel")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v: %s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

// intel runs the built binary with env added to a clean environment.
func intel(t *testing.T, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(intelBinary(t), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "INTEL_STATE_DIR=" + t.TempDir()}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func demoFile(name string) string { return filepath.Join("..", "..", "testdata", "demo", name) }

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	env := []string{"DATABASE_URL=" + pgtest.EmptyDSN(t)}
	ok := func(stdin string, args ...string) string {
		t.Helper()
		r := intel(t, env, stdin, args...)
		require.Equal(t, 0, r.code, "intel %v\nstdout: %s\nstderr: %s", args, r.stdout, r.stderr)
		return r.stdout
	}

	// Before migrating, commands that need the schema say what to do.
	r := intel(t, env, "", "related", "malware:x")
	require.Equal(t, 1, r.code)
	require.Contains(t, r.stderr, "intel migrate up")

	var migrated []map[string]any
	require.NoError(t, json.Unmarshal([]byte(ok("", "migrate", "up", "--format", "json")), &migrated))
	files, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	require.Len(t, migrated, len(files), "every embedded migration applied")
	last, _, _ := strings.Cut(files[len(files)-1], "_") // the version is the last file's number, gaps or not
	require.Contains(t, ok("", "migrate", "version"), strings.TrimLeft(last, "0"))

	var ensured struct {
		Days []struct {
			Partition string `json:"partition"`
			Created   bool   `json:"created"`
		} `json:"days"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok("", "partitions", "ensure", "--format", "json")), &ensured))
	require.Len(t, ensured.Days, 8)
	require.Contains(t, ok("", "partitions", "list"), "telemetry_edges_"+time.Now().UTC().Format("2006_01_02"))

	var stixRes []struct {
		Status string `json:"status"`
		Report struct {
			Nodes int `json:"nodes"`
		} `json:"report"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok("", "ingest", "stix", demoFile("hellokitty-ransomware.json"), "--format", "json")), &stixRes))
	require.Equal(t, "ok", stixRes[0].Status)
	require.Positive(t, stixRes[0].Report.Nodes)
	require.Contains(t, ok("", "ingest", "stix", demoFile("hellokitty-ransomware.json")), "skipped", "unchanged feed")
	require.Contains(t, ok("", "ingest", "misp", demoFile("sednit_2018-11-20_Zebrocy.json")), "sednit_2018-11-20_Zebrocy: ok")

	sha := "b4f90cff1e3900a3906c3b74f307498760462d719c31d008fc01937f5400fb85"
	at := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	lines := fmt.Sprintf(`{"src":{"kind":"process","key":"ws-7:4242","name":"powershell.exe"},"relation":"wrote","dst":{"kind":"file","name":"invoice.exe","hashes":{"SHA-256":"%s"}},"agent_id":"ws-7","observed_at":"%s"}`+"\n", sha, at) +
		`{"src":"ipv4-addr:10.1.1.1","relation":"x","dst":"nonsense","agent_id":"ws-7","observed_at":"` + at + `"}` + "\n"
	var tel struct {
		Dropped   map[string]int `json:"dropped"`
		Telemetry struct {
			Edges int `json:"edges"`
		} `json:"telemetry"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok(lines, "ingest", "telemetry", "-", "--format", "json")), &tel))
	require.Equal(t, 1, tel.Telemetry.Edges)
	require.Len(t, tel.Dropped, 1)

	var nb struct {
		Nodes []struct {
			ID    string `json:"id"`
			Kind  string `json:"kind"`
			Name  string `json:"name"`
			Depth int    `json:"depth"`
		} `json:"nodes"`
		Edges     []map[string]any `json:"edges"`
		Truncated bool             `json:"truncated"`
	}
	require.NoError(t, json.Unmarshal([]byte(ok("", "related", "process:ws-7:4242", "--depth", "5", "--format", "json")), &nb))
	kinds := map[string]string{}
	for _, n := range nb.Nodes {
		kinds[n.Kind] = n.Name
	}
	require.Equal(t, "invoice.exe", kinds["file"])
	require.Contains(t, kinds, "hash")
	require.Contains(t, kinds, "indicator")
	require.Equal(t, "HelloKitty Linux", kinds["intrusion-set"], "from the process on the endpoint to the actor")
	require.NotEmpty(t, nb.Edges)

	dot := ok("", "related", "hash:sha256:"+sha, "--depth", "1", "--format", "dot")
	require.True(t, strings.HasPrefix(dot, "digraph related {"), dot)
	require.Contains(t, ok("", "partitions", "check"), "default")
}

func TestFailureModes(t *testing.T) {
	t.Parallel()
	good := "DATABASE_URL=" + pgtest.DSN(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"bad flag", []string{good}, []string{"related", "--depth", "x", "malware:a"}, 2, `invalid argument "x" for "--depth"`},
		{"unknown command", []string{good}, []string{"frobnicate"}, 2, "unknown command"},
		{"missing argument", []string{good}, []string{"ingest", "stix"}, 2, "accepts 1 arg"},
		{"bad format", []string{good}, []string{"tune", "--format", "xml"}, 2, `--format "xml"`},
		{"bad DSN", []string{"DATABASE_URL=postgres://a:b@127.0.0.1:notaport/x"}, []string{"migrate", "status"}, 1, "parse database url"},
		{"unreachable database", []string{"DATABASE_URL=postgres://u@127.0.0.1:1/x?connect_timeout=2"}, []string{"migrate", "up", "--connect-timeout", "3s"}, 1, "database unreachable"},
		{"missing file", []string{good}, []string{"ingest", "stix", "/no/such/feed.json"}, 1, "no such file"},
		{"missing telemetry file", []string{good}, []string{"ingest", "telemetry", "/no/such.ndjson"}, 1, "no such file"},
		{"unknown node", []string{good}, []string{"related", "malware:nothing-like-this"}, 4, "not found"},
		{"no server binaries and no URL", []string{"INTEL_PG_BINDIR=/nonexistent"}, []string{"migrate", "up"}, 1, "install the PostgreSQL server"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := intel(t, tc.env, "", tc.args...)
			require.Equal(t, tc.code, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			var cause string
			for _, l := range lines {
				if strings.HasPrefix(l, "intel: ") {
					require.Empty(t, cause, "one cause line: %s", r.stderr)
					cause = l
				}
			}
			require.Contains(t, cause, tc.want)
		})
	}
}

func TestEveryCommandHasHelpWithAnExample(t *testing.T) {
	t.Parallel()
	for _, path := range [][]string{
		{"migrate", "up"}, {"migrate", "down"}, {"migrate", "status"}, {"migrate", "version"},
		{"partitions", "ensure"}, {"partitions", "list"}, {"partitions", "check"}, {"partitions", "prune"}, {"partitions", "maintain"},
		{"ingest", "stix"}, {"ingest", "misp"}, {"ingest", "feeds"}, {"ingest", "telemetry"},
		{"related"}, {"tune"}, {"local", "start"}, {"local", "stop"}, {"local", "status"}, {"demo"}, {"feeds"}, {"version"},
	} {
		r := intel(t, nil, "", append(path, "--help")...)
		require.Equal(t, 0, r.code, "%v", path)
		require.Contains(t, r.stdout, "Examples:", "intel %s --help shows an example", strings.Join(path, " "))
	}
}

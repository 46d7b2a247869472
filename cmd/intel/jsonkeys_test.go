package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/localdb"
	"github.com/ransomeye/intel/internal/pgtest"
	"github.com/ransomeye/intel/partman"
	"github.com/ransomeye/intel/tuning"
)

// snakeKey is a JSON member name of the CLI's output: lower-case words
// joined by underscores, as the flags are words joined by hyphens.
var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// jsonTypeFlaws walks t as encoding/json writes it and returns every
// member name that is not snake_case: a field without a json tag is
// written under its Go name (MaxNodes). Maps are walked for their values
// (their keys are data: props, counts by reason).
func jsonTypeFlaws(t reflect.Type, path string, seen map[reflect.Type]bool) []string {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
	}
	if t.Kind() == reflect.Map {
		return jsonTypeFlaws(t.Elem(), path+"[…]", seen)
	}
	if t.Kind() != reflect.Struct || seen[t] {
		return nil
	}
	if t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler) ||
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		return nil // writes itself (time.Time, uuid.UUID)
	}
	seen[t] = true
	defer delete(seen, t)
	var flaws []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			flaws = append(flaws, jsonTypeFlaws(f.Type, path, seen)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		if !snakeKey.MatchString(name) {
			flaws = append(flaws, fmt.Sprintf("%s.%s (%s field %s)", path, name, t, f.Name))
		}
		flaws = append(flaws, jsonTypeFlaws(f.Type, path+"."+name, seen)...)
	}
	return flaws
}

var (
	jsonMarshaler = reflect.TypeFor[interface{ MarshalJSON() ([]byte, error) }]()
	textMarshaler = reflect.TypeFor[interface{ MarshalText() ([]byte, error) }]()
)

// TestJSONOutputTypesAreSnakeCase: every type a command writes with
// --format json names its members in snake_case, with the flags' words
// (max_nodes for --max-nodes), including members that omitempty leaves
// out of a given answer. intel related's options were written as Go
// names (Depth, Fanout, MaxNodes, Since, Until).
func TestJSONOutputTypesAreSnakeCase(t *testing.T) {
	t.Parallel()
	var flaws []string
	for name, v := range map[string]any{
		"related":           graph.Neighbourhood{},
		"show":              graph.NodeDetails{},
		"show relationship": graph.RelationRecord{},
		"search":            []graph.SearchHit{},
		"ingest stix|misp":  []ingest.Result{},
		"ingest telemetry":  &engine.Report{},
		"feeds":             []feedRow{},
		"local status":      localdb.Status{},
		"version":           versionInfo{},
		"tune":              tuning.Report{},
		"partitions ensure": partman.Result{},
		"partitions list":   partman.Listing{},
		"partitions check":  partman.Report{},
		"partitions prune":  partman.PruneResult{},
		"roles":             partman.RolesResult{},
	} {
		flaws = append(flaws, jsonTypeFlaws(reflect.TypeOf(v), "intel "+name, map[reflect.Type]bool{})...)
	}
	require.Empty(t, flaws, "members of --format json output that are not snake_case")
}

// jsonKeyFlaws walks a JSON document and returns the path of every member
// name that is not snake_case. The members of props objects are data, a
// feed's own names (x_mitre_version, MISP's Tag), and are not walked.
func jsonKeyFlaws(v any, path string) []string {
	var flaws []string
	switch v := v.(type) {
	case map[string]any:
		for k, sub := range v {
			if !snakeKey.MatchString(k) {
				flaws = append(flaws, path+"."+k)
			}
			if k == "props" {
				continue
			}
			flaws = append(flaws, jsonKeyFlaws(sub, path+"."+k)...)
		}
	case []any:
		for _, sub := range v {
			flaws = append(flaws, jsonKeyFlaws(sub, path+"[]")...)
		}
	}
	return flaws
}

// TestEveryJSONOutputKeyIsSnakeCase runs every command that takes
// --format json, on a database holding feeds, telemetry and partitions,
// and walks every member name of what it writes (stdout, and the log
// records of --log-format json on stderr). A command with a --format flag
// and no case here fails the test, so a new one is not forgotten.
// intel related's options were {"Depth":4,"Fanout":200,"MaxNodes":5000,…}.
func TestEveryJSONOutputKeyIsSnakeCase(t *testing.T) {
	t.Setenv("INTEL_STATE_DIR", t.TempDir()) // local status: no cluster made, none read
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	dir := t.TempDir()
	day := time.Now().UTC().Format(time.RFC3339)
	tel := filepath.Join(dir, "tel.ndjson")
	require.NoError(t, os.WriteFile(tel, []byte(
		`{"src":"process:jk-1:7","relation":"wrote","dst":"file:dropper.exe","agent_id":"jk-1","observed_at":"`+day+`"}`+"\n"+
			`{"src":"process:jk-1:7","relation":"connected-to","dst":"ipv4-addr:198.51.100.7","agent_id":"jk-1","observed_at":"`+day+`"}`+"\n"), 0o600))
	const indicator = "indicator--726f90e2-2ad6-44a2-b345-c05e55e850e5"

	cases := map[string][][]string{ // command path → runs, in order
		"intel ingest stix":      {{"ingest", "stix", testdata("explain/test_event2_stix21.json"), "--feed", "e21"}},
		"intel ingest misp":      {{"ingest", "misp", testdata("demo/sednit_2018-11-20_Zebrocy.json")}},
		"intel ingest feeds":     {{"ingest", "feeds", writeFeedList(t, dir)}},
		"intel ingest telemetry": {{"ingest", "telemetry", tel}},
		"intel related": {
			{"related", indicator, "--depth", "2", "--explain"},
			{"related", "process:jk-1:7", "--fanout", "1"},
		},
		"intel show":              {{"show", indicator}, {"show", "relationship--f49962f9-8e91-4de2-bc0e-a4901460612f"}},
		"intel search":            {{"search", "Zebrocy"}},
		"intel feeds":             {{"feeds"}},
		"intel version":           {{"version"}},
		"intel tune":              {{"tune", "--cores", "8", "--memory", "32GiB"}},
		"intel local status":      {{"local", "status"}},
		"intel partitions ensure": {{"partitions", "ensure", "--from-default"}},
		"intel partitions list":   {{"partitions", "list"}},
		"intel partitions check":  {{"partitions", "check"}},
		"intel partitions prune":  {{"partitions", "prune", "--keep", "3650d"}},
		"intel roles create":      {{"--database-url=" + pgtest.AdminDSN(t, dsn), "roles", "create", "--prefix", "jsonkeys"}},
		"intel migrate status":    {{"migrate", "status"}},
		"intel migrate version":   {{"migrate", "version"}},
		"intel migrate down":      {{"migrate", "down"}},
		"intel migrate up":        {{"migrate", "up"}},
	}
	// Loops until a signal; its rounds print what ensure and prune do.
	skipped := map[string]bool{"intel partitions maintain": true}

	root := newApp(strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}).rootCommand()
	var withFormat []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		f := c.Flags().Lookup("format")
		if f == nil {
			f = c.InheritedFlags().Lookup("format") // partitions' persistent flag
		}
		if f != nil && c.Runnable() && strings.Contains(f.Usage, "json") && !skipped[c.CommandPath()] {
			withFormat = append(withFormat, c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	require.ElementsMatch(t, withFormat, slices.Collect(maps.Keys(cases)), "every command with --format json has a case here")

	order := []string{"intel ingest stix", "intel ingest misp", "intel ingest feeds", "intel ingest telemetry",
		"intel migrate down", "intel migrate up"}
	for path := range cases {
		if !slices.Contains(order, path) && path != "intel roles create" {
			order = append(order, path)
		}
	}
	order = append(order, "intel roles create") // its grants and revokes last
	var flaws []string
	for _, path := range order {
		for _, args := range cases[path] {
			args = append([]string{db, "--log-format", "json"}, append(args, "--format", "json")...)
			stdout, stderr, code := runCLI(t, args...)
			require.Equal(t, exitOK, code, "intel %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), stdout, stderr)
			var out any
			require.NoError(t, json.Unmarshal([]byte(stdout), &out), "intel %s writes JSON: %s", strings.Join(args, " "), stdout)
			require.NotEmpty(t, stdout)
			flaws = append(flaws, jsonKeyFlaws(out, strings.Join(args[3:], " "))...)
			for line := range strings.Lines(stderr) {
				var rec any
				require.NoError(t, json.Unmarshal([]byte(line), &rec), "a log line of intel %s: %s", strings.Join(args, " "), line)
				flaws = append(flaws, jsonKeyFlaws(rec, "log of "+strings.Join(args[3:], " "))...)
			}
		}
	}
	require.Empty(t, flaws, "JSON members that are not snake_case")
}

// writeFeedList writes a feed list of one STIX feed into dir.
func writeFeedList(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "feeds.yaml")
	require.NoError(t, os.WriteFile(path, []byte("feeds:\n  - name: e20\n    path: "+
		mustAbs(t, testdata("explain/test_event2_stix20.json"))+"\n"), 0o600))
	return path
}

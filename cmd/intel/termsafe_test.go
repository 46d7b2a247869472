package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestFeedTextCannotDriveTheTerminal loads a bundle whose names hide
// terminal control sequences (clear screen, set the title, OSC 52 writes
// the clipboard, a C1 CSI), a right-to-left override that shows
// "Othertxt.exe" for "Other\u202eexe.txt", and line breaks, then asks
// every text output about them: none may carry a character a terminal
// acts on or that reorders what it shows, a name's line breaks may not
// break a table or the tree, and JSON output must keep the names exactly.
func TestFeedTextCannotDriveTheTerminal(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	db := "--database-url=" + dsn
	hostile := map[string]string{ // id → name
		"malware--0d1b2a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b": "Evil\x1b[2J\x1b]0;owned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07Locker",
		"malware--1e2c3b4d-5e6f-4071-8b8c-9d0e1f2a3b4c": "Other\u202eexe.txt",
		"tool--2f3d4c5e-6f70-4182-9c9d-0e1f2a3b4c5d":    "Multi\nLine\tName\u0085and\u009b31m C1",
		"tool--3a4e5d6f-7081-4293-8dae-1f2a3b4c5d6e":    "Evil\x1b[2J\x1b]0;owned\x07\x1b]52;c;ZWNobyBwd25lZA==\x07Locker",
	}
	var objects []string
	for id, name := range hostile {
		typ, _, _ := strings.Cut(id, "--")
		b, err := json.Marshal(map[string]any{"type": typ, "spec_version": "2.1", "id": id, "name": name,
			"created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "is_family": true})
		require.NoError(t, err)
		objects = append(objects, string(b))
	}
	for i, dst := range []string{"malware--1e2c3b4d-5e6f-4071-8b8c-9d0e1f2a3b4c", "tool--2f3d4c5e-6f70-4182-9c9d-0e1f2a3b4c5d"} {
		objects = append(objects, `{"type":"relationship","spec_version":"2.1","id":"relationship--4b5f6e70-8192-43a4-9ebf-2a3b4c5d6e7`+
			string(rune('0'+i))+`","created":"2024-01-01T00:00:00Z","modified":"2024-01-01T00:00:00Z","relationship_type":"uses",`+
			`"source_ref":"malware--0d1b2a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b","target_ref":"`+dst+`"}`)
	}
	feed := filepath.Join(t.TempDir(), "hostile.json")
	require.NoError(t, os.WriteFile(feed,
		[]byte(`{"type":"bundle","id":"bundle--5c6a7f81-92a3-44b5-8fc0-3b4c5d6e7f80","objects":[`+strings.Join(objects, ",")+`]}`), 0o600))
	runOK(t, db, "ingest", "stix", feed)

	safe := func(what, out string) {
		t.Helper()
		for _, r := range out {
			require.False(t, needsEscape(r), "%s writes %U to the terminal:\n%q", what, r, out)
		}
	}
	start := "malware--0d1b2a3c-4d5e-4f60-8a7b-9c0d1e2f3a4b"
	tree := runOK(t, db, "related", start)
	safe("related", tree)
	require.Equal(t, 3, strings.Count(tree, "\n"), "one line a node: a name's line break breaks no line\n%s", tree)
	require.Contains(t, tree, `Other\u202eexe.txt`, "the override is shown, not obeyed")
	require.Contains(t, tree, "Multi Line Name", "line breaks in a name are spaces in a label")
	safe("related --explain", runOK(t, db, "related", start, "--explain"))
	safe("related --format dot", runOK(t, db, "related", start, "--format", "dot"))
	for _, format := range []string{"table", "dot", "json"} {
		file := filepath.Join(t.TempDir(), "related."+format)
		runOK(t, db, "related", start, "--format", format, "-o", file)
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		safe("related --format "+format+" -o FILE", string(b))
	}
	safe("show", runOK(t, db, "show", start))
	search := runOK(t, db, "search", "other")
	safe("search", search)
	require.Equal(t, 2, strings.Count(search, "\n"), "a header and one row\n%s", search)
	safe("feeds", runOK(t, db, "feeds"))

	// The last line on stderr names the candidates of an ambiguous name.
	_, stderr, code := runCLI(t, db, "show", hostile[start])
	require.Equal(t, exitAmbiguous, code, stderr)
	safe("the error line", stderr)
	require.Contains(t, stderr, `Evil\u001b[2J`)

	// JSON keeps every name as the feed wrote it.
	var nb struct {
		Nodes []struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"nodes"`
	}
	out := runOK(t, db, "related", start, "--format", "json")
	safe("related --format json", out)
	require.NoError(t, json.Unmarshal([]byte(out), &nb), out)
	require.Len(t, nb.Nodes, 3)
	names := map[string]bool{}
	for _, n := range nb.Nodes {
		names[n.Name] = true
	}
	for id, name := range hostile {
		if !strings.HasPrefix(id, "tool--3a") {
			require.True(t, names[name], "%q kept in JSON: %v", name, names)
		}
	}
}

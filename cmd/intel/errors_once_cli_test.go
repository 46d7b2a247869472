package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// TestBadArgumentErrorSaidOnce: commands given an argument that names
// nothing (a table that does not exist, is not partitioned or is no name,
// a node, a file, a kind, a migration) fail with one `intel:` line, and no
// part of that line is said twice on stderr: not inside the line (`look up
// nope: no such table: look up nope: …`, which partitions list, check,
// ensure, prune and maintain printed), and not in a log line before it
// (`partitions maintain` logged the round's error at ERROR, then printed
// it again).
func TestBadArgumentErrorSaidOnce(t *testing.T) {
	t.Parallel()
	db := "--database-url=" + pgtest.DSN(t)
	for _, args := range [][]string{
		{"partitions", "list", "--table", "nope"},
		{"partitions", "check", "--table", "nope"},
		{"partitions", "ensure", "--table", "nope"},
		{"partitions", "prune", "--table", "nope", "--keep", "30d"},
		{"partitions", "maintain", "--table", "nope", "--every", "1h"},
		{"partitions", "list", "--table", "nope.x"},
		{"partitions", "list", "--table", `"`},
		{"partitions", "ensure", "--table", "nodes"},
		{"partitions", "maintain", "--table", "nodes", "--every", "1h"},
		{"show", "malware:nope"},
		{"related", "malware:nope"},
		{"search", "--kinds", "nope", "x"},
		{"ingest", "stix", "/nonexistent/x.json"},
		{"ingest", "telemetry", "/nonexistent/x.ndjson"},
		{"ingest", "feeds", "/nonexistent/feeds.yaml"},
		{"migrate", "down", "--to", "99999"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, stderr, code := runCLI(t, append([]string{db}, args...)...)
			require.NotEqual(t, exitOK, code, stderr)
			var last string
			lines := 0
			for line := range strings.Lines(stderr) {
				if strings.HasPrefix(line, "intel: ") {
					last = strings.TrimSuffix(strings.TrimPrefix(line, "intel: "), "\n")
					lines++
				}
			}
			require.Equal(t, 1, lines, "one intel: line\n%s", stderr)
			for part := range strings.SplitSeq(last, ": ") {
				if len(part) >= 6 {
					require.Equal(t, 1, strings.Count(stderr, part), "%q said more than once:\n%s", part, stderr)
				}
			}
		})
	}
}

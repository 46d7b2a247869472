package misp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// esetFile is the real ESET export with a trailing comma before the final
// "]" of its event's Tag list.
const esetFile = "misp/eset/pypi_backdoor_malicious_pypi_packages.misp-event.json"

func esetData(t *testing.T) (path string, data []byte, comma, bracket int64) {
	t.Helper()
	path = filepath.Join(sharedCorpus(t), esetFile)
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m := trailingComma.FindAllIndex(data, -1)
	require.Len(t, m, 1, "the file has exactly one trailing comma")
	comma, bracket = int64(m[0][0]), int64(m[0][1]-1)
	require.Equal(t, byte(','), data[comma])
	require.Equal(t, byte(']'), data[bracket])
	// encoding/json agrees that the file is not JSON, and where.
	var v any
	var se *json.SyntaxError
	require.ErrorAs(t, json.Unmarshal(data, &v), &se)
	require.Equal(t, bracket+1, se.Offset, "encoding/json stops after the ']'")
	// SOURCES.md's "char 1532399" is Python's character index of that ']':
	// the bytes before it hold multibyte characters.
	require.Equal(t, 1532399, utf8.RuneCount(data[:bracket]))
	return path, data, comma, bracket
}

// TestESETTrailingCommaLenient: by default the export loads whole; the
// comma is read as white space with a WARN naming its byte offset, and the
// counts are SOURCES.md's (counted after dropping the comma in memory).
func TestESETTrailingCommaLenient(t *testing.T) {
	t.Parallel()
	path, _, comma, _ := esetData(t)
	var logs bytes.Buffer
	rep, sink, tally, err := loadFile(t, path, quiet(&logs))
	require.NoError(t, err)
	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	require.Equal(t, int64(1), tally.Events)
	require.Equal(t, int64(262), tally.Objects)
	require.Equal(t, int64(987), tally.ObjectAttributes)
	require.Equal(t, int64(347), tally.References)
	require.Equal(t, int64(7), tally.EventTags)
	require.Equal(t, int64(6), tally.Clusters)
	require.Equal(t, map[string]int64{"file": 119, "url": 112, "av-signature": 28, "domain-ip": 2, "elf": 1}, tally.ObjectNames)

	warn := findLog(t, &logs, "trailing comma read as white space")
	require.Equal(t, "WARN", warn["level"])
	require.EqualValues(t, comma, warn["offset"])

	ev := esetEvent(t, sink)
	require.Contains(t, ev.Labels, "ESET", "the tags after the comma are read")
}

// TestESETTrailingCommaStrict: with Strict the load stops at the byte of the
// "]" after the comma, with a *engine.OffsetError naming it, and keeps every
// event, attribute and object before it: all 262 objects with their 987
// attributes and 347 references, the 6 galaxy clusters, and the event
// node, which only loses its 7 tags (the list the comma breaks).
func TestESETTrailingCommaStrict(t *testing.T) {
	t.Parallel()
	path, _, _, bracket := esetData(t)
	opts := quiet(nil)
	opts.Strict = true
	var mu sync.Mutex
	var events []EventResult
	opts.OnEvent = func(r EventResult) {
		mu.Lock()
		events = append(events, r)
		mu.Unlock()
	}
	rep, sink, tally, err := loadFile(t, path, opts)
	require.ErrorIs(t, err, engine.ErrSyntax)
	var se *engine.OffsetError
	require.ErrorAs(t, err, &se)
	require.Equal(t, bracket, se.Offset)
	require.Contains(t, err.Error(), fmt.Sprintf("at byte %d", bracket))
	require.Equal(t, err.Error(), rep.Error)

	requireBalanced(t, rep)
	require.Empty(t, rep.Dropped)
	require.Equal(t, int64(262), tally.Objects)
	require.Equal(t, int64(987), tally.ObjectAttributes)
	require.Equal(t, int64(347), tally.References)
	require.Equal(t, int64(6), tally.Clusters)
	require.Equal(t, int64(0), tally.EventTags)
	// event + objects + object attributes + references + clusters
	require.Equal(t, int64(1+262+987+347+6), rep.RecordsMapped)

	ev := esetEvent(t, sink)
	require.NotContains(t, ev.Labels, "ESET")
	require.Len(t, events, 1)
	require.ErrorIs(t, events[0].Err, engine.ErrSyntax)
	require.Equal(t, strings.TrimPrefix(ev.Key, "misp--"), events[0].UUID)
	for _, n := range sink.nodes {
		if n.Kind == graph.KindFile && len(n.Aliases) > 0 {
			return
		}
	}
	t.Fatal("no file object node was kept")
}

// esetEvent returns the event node of the ESET export.
func esetEvent(t *testing.T, sink *captureSink) (ev nodeView) {
	t.Helper()
	var found []nodeView
	for _, n := range sink.nodes {
		if n.Kind == "report" {
			found = append(found, nodeView{Key: n.Key, Labels: n.Labels, Name: n.Name})
		}
	}
	require.NotEmpty(t, found)
	for _, f := range found {
		ev.Key = f.Key
		if f.Name != "" { // the records of its stub and restriction have none
			ev.Name = f.Name
		}
		ev.Labels = graph.Union(ev.Labels, f.Labels)
	}
	require.Contains(t, ev.Name, "PyPI")
	return ev
}

type nodeView struct {
	Key, Name string
	Labels    []string
}

// findLog returns the first JSON log line whose msg is msg.
func findLog(t *testing.T, logs *bytes.Buffer, msg string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(logs.Bytes()))
	for {
		var line map[string]any
		if err := dec.Decode(&line); err != nil {
			require.True(t, errors.Is(err, os.ErrNotExist) || err.Error() == "EOF", "decode log: %v", err)
			break
		}
		if line["msg"] == msg {
			return line
		}
	}
	t.Fatalf("no log line %q in:\n%s", msg, logs.String())
	return nil
}

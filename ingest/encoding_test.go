package ingest_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/unicode"

	"github.com/ransomeye/intel/ingest"
	"github.com/ransomeye/intel/ingest/telemetry"
	"github.com/ransomeye/intel/internal/pgtest"
)

// TestUTF16Feeds: a STIX or MISP file saved as UTF-16 (Windows
// PowerShell 5's > and Out-File write UTF-16LE with a byte order mark)
// loads as the same file in UTF-8 does, in either byte order, with or
// without the mark, its format detected: before, it failed at byte 0 with
// "invalid character '\xff'". UTF-16 telemetry is refused with a line that
// says how to convert it: before, every line was an invalid-json drop.
func TestUTF16Feeds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	write16 := func(src string, big, bom bool) string {
		in, err := os.ReadFile(src)
		require.NoError(t, err)
		order, policy := unicode.LittleEndian, unicode.IgnoreBOM
		if big {
			order = unicode.BigEndian
		}
		if bom {
			policy = unicode.UseBOM
		}
		out, err := unicode.UTF16(order, policy).NewEncoder().Bytes(in)
		require.NoError(t, err)
		path := filepath.Join(dir, filepath.Base(src)+map[bool]string{true: ".be", false: ".le"}[big]+map[bool]string{true: ".bom", false: ""}[bom])
		require.NoError(t, os.WriteFile(path, out, 0o600))
		return path
	}
	quiet := ingest.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	load := func(path string) string {
		st, pool := newStore(t)
		res, err := ingest.Run(ctx, st, []ingest.Feed{{Name: "f", Path: path}}, quiet)
		require.NoError(t, err, path)
		require.Equal(t, ingest.StatusOK, res[0].Status, "%s: %s", path, res[0].Error)
		require.Positive(t, res[0].Report.RecordsMapped, path)
		return pgtest.Dump(t, pool, pgtest.GraphQueries...)
	}
	for _, c := range []struct {
		src     string
		big     bool
		withBOM bool
	}{
		{filepath.Join("..", "testdata", "demo", "hellokitty-ransomware.json"), false, true},
		{filepath.Join("..", "testdata", "demo", "sednit_2018-11-20_Zebrocy.json"), true, false},
	} {
		require.Equal(t, load(c.src), load(write16(c.src, c.big, c.withBOM)), "%s: the same graph from UTF-16", c.src)
	}

	st, _ := newStore(t)
	tel := filepath.Join(dir, "edr.ndjson")
	require.NoError(t, os.WriteFile(tel, []byte(`{"src": "ipv4-addr:10.0.0.5", "relation": "connected-to", "dst": "ipv4-addr:10.0.0.6", "agent_id": "h", "observed_at": "2026-12-04T10:16:00Z"}`+"\n"), 0o600))
	tel16 := write16(tel, false, true)
	for _, f := range []ingest.Feed{{Name: "t", Path: tel16, Format: ingest.FormatTelemetry}, {Name: "t2", Path: write16(tel, false, false), Format: ingest.FormatTelemetry}} {
		res, err := ingest.Run(ctx, st, []ingest.Feed{f}, quiet)
		require.Error(t, err, f.Path)
		require.Equal(t, ingest.StatusFailed, res[0].Status, f.Path)
		require.Contains(t, res[0].Error, telemetry.ErrUTF16.Error(), f.Path)
	}
}

// TestWindows1252Text: text that is not UTF-8 in a feed (a Windows tool
// writing Windows-1252) is read as Windows-1252 in STIX, MISP and
// telemetry alike. Before, each such byte became U+FFFD, so the files
// "Rechnung_M\xe4rz.exe" and "Rechnung_M\xfcrz.exe" (März, Mürz) became one
// node "Rechnung_M\uFFFDrz.exe", and the malware "Caf\xe9Loader" was
// "Caf\uFFFDLoader".
func TestWindows1252Text(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	stixFile := filepath.Join(dir, "cp1252.json")
	require.NoError(t, os.WriteFile(stixFile, []byte(`{"type": "bundle", "id": "bundle--0b2b6a5c-33a5-4f38-9d0f-3b1c4c6e8a11", "objects": [
{"type": "malware", "spec_version": "2.1", "id": "malware--2b2b6a5c-33a5-4f38-9d0f-3b1c4c6e8a11", "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "name": "Caf`+"\xe9"+`Loader", "is_family": true, "description": "d`+"\xe9j\xe0"+` vu \u00e9"}]}`), 0o600))
	mispFile := filepath.Join(dir, "cp1252-event.json")
	require.NoError(t, os.WriteFile(mispFile, []byte(`{"Event": {"uuid": "5b2b6a5c-33a5-4f38-9d0f-3b1c4c6e8a11", "info": "Rechnungen `+"\x96"+` M`+"\xe4"+`rz", "date": "2024-03-01", "timestamp": "1709251200",
"Attribute": [{"uuid": "6b2b6a5c-33a5-4f38-9d0f-3b1c4c6e8a11", "type": "filename", "category": "Payload delivery", "value": "Rechnung_M`+"\xe4"+`rz.exe", "timestamp": "1709251200"},
              {"uuid": "7b2b6a5c-33a5-4f38-9d0f-3b1c4c6e8a11", "type": "filename", "category": "Payload delivery", "value": "Rechnung_M`+"\xfc"+`rz.exe", "timestamp": "1709251200"}]}}`), 0o600))
	telFile := filepath.Join(dir, "edr.ndjson")
	require.NoError(t, os.WriteFile(telFile, []byte(
		`{"src": "process:ws-1:42", "relation": "wrote", "dst": {"kind": "file", "name": "C:\\Users\\J`+"\xfc"+`rgen\\a.exe"}, "agent_id": "ws-1", "observed_at": "2026-12-04T10:16:00Z"}`+"\n"+
			`{"src": "process:ws-1:42", "relation": "wrote", "dst": {"kind": "file", "name": "C:\\Users\\J`+"\xe4"+`rgen\\a.exe"}, "agent_id": "ws-1", "observed_at": "2026-12-04T10:16:00Z"}`+"\n"), 0o600))

	st, pool := newStore(t)
	quiet := ingest.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res, err := ingest.Run(ctx, st, []ingest.Feed{
		{Name: "s", Path: stixFile}, {Name: "m", Path: mispFile}, {Name: "t", Path: telFile, Format: ingest.FormatTelemetry},
	}, quiet)
	require.NoError(t, err)
	for _, r := range res {
		require.Equal(t, ingest.StatusOK, r.Status, "%s: %s", r.Feed.Name, r.Error)
		require.Empty(t, r.Report.Dropped, r.Feed.Name)
	}
	var names []string
	rows, err := pool.Query(ctx, `SELECT name FROM nodes WHERE kind IN ('malware', 'file', 'report') ORDER BY name COLLATE "C"`)
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{`C:\Users\Järgen\a.exe`, `C:\Users\Jürgen\a.exe`, "CaféLoader", "Rechnung_März.exe", "Rechnung_Mürz.exe", "Rechnungen – März"}, names)
	var desc string
	require.NoError(t, pool.QueryRow(ctx, `SELECT props->>'description' FROM nodes WHERE kind = 'malware'`).Scan(&desc))
	require.Equal(t, "déjà vu é", desc)
}

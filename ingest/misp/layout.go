package misp

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"
)

// headBytes is how much of the start of an input the reader keeps, to say
// what the input is when it is no JSON object or array.
const headBytes = 1024

// headReader reads r and keeps the first headBytes bytes read.
type headReader struct {
	r    io.Reader
	head []byte
}

func (h *headReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if room := headBytes - len(h.head); room > 0 && n > 0 {
		h.head = append(h.head, p[:min(n, room)]...)
	}
	return n, err
}

// notJSONLayout says what an input is that does not start with a JSON
// object or array, from its first bytes: MISP's CSV export (the header
// MISP writes, uuid,event_id,category,type,value,…), another CSV file, a
// text file of one value a line (a freetext feed), or markup (an HTML
// error or login page saved for the feed). MISP reads its "csv" and
// "freetext" feeds itself, by the feed's settings (which column holds the
// value, which type it is); they are no MISP JSON, so intel refuses them
// by name rather than report a JSON syntax error at byte 0. It returns ""
// when the input starts as JSON does.
func notJSONLayout(head []byte) string {
	head = bytes.TrimLeft(head, " \t\r\n")
	if len(head) == 0 || head[0] == '{' || head[0] == '[' {
		return ""
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	first := strings.TrimSpace(string(line))
	shown := truncate(first, 80)
	if head[0] == '<' {
		return fmt.Sprintf("markup, not JSON (it starts %q: an HTML page, such as a login or error page, saved for the feed?)", shown)
	}
	cols := csvColumns(first)
	switch {
	case csvExport(cols):
		return fmt.Sprintf("a MISP CSV export (header %q), not MISP JSON: export the events as JSON (restSearch with returnFormat json, or a feed of MISP's own format) to load them", shown)
	case len(cols) > 1:
		return fmt.Sprintf("a CSV file (first line %q), not MISP JSON: MISP reads a CSV feed by its settings (the value column, the type); load it through MISP and export the events as JSON", shown)
	}
	return fmt.Sprintf("a text file (first line %q), not MISP JSON: a freetext feed (one value a line) is read by MISP's freetext import; load it through MISP and export the events as JSON", shown)
}

// csvColumns are the names of a CSV header line, in lower case.
func csvColumns(line string) map[string]bool {
	cols := map[string]bool{}
	for _, c := range strings.Split(strings.ToLower(line), ",") {
		cols[strings.Trim(strings.TrimSpace(c), `"`)] = true
	}
	return cols
}

// csvExport reports whether a CSV header is that of MISP's CSV export
// (uuid,event_id,category,type,value,comment,to_ids,date,…).
func csvExport(cols map[string]bool) bool {
	return cols["type"] && cols["value"] && (cols["category"] || cols["uuid"])
}

// IsCSVExport reports whether head, the start of an input, is MISP's CSV
// export: no JSON, and a first line naming MISP's attribute columns.
func IsCSVExport(head []byte) bool {
	head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	if len(head) == 0 || head[0] == '{' || head[0] == '[' || head[0] == '<' {
		return false
	}
	line, _, _ := bytes.Cut(head, []byte("\n"))
	return csvExport(csvColumns(string(line)))
}

// IsManifest reports whether head, the start of an input, is a MISP feed's
// manifest.json: an object whose first member is named by an event uuid
// and holds what a manifest says of an event (info, timestamp, Orgc, …).
// It lists events without their attributes; loaded as a file, it was said
// to hold no MISP records, as if it were a STIX file.
func IsManifest(head []byte) bool {
	dec := jsontext.NewDecoder(bytes.NewReader(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return false
	}
	tok, err := dec.ReadToken()
	if err != nil || uuid.Validate(strings.TrimSpace(tok.String())) != nil {
		return false
	}
	raw, err := dec.ReadValue()
	if err != nil || raw.Kind() != '{' {
		return false
	}
	var e rawManifestEntry
	if unmarshal(raw, &e) != nil {
		return false
	}
	return e.Info != "" || e.Timestamp != "" || e.Orgc != nil
}

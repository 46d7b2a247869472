package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ransomeye/intel/ingest/misp"
	"github.com/ransomeye/intel/ingest/stix"
)

// sniffLimit bounds how much of a feed format detection reads: 1 MiB.
const sniffLimit = 1 << 20

// Keys that decide a document's format when they are a member of its top
// object (or of the first object of a top array or of NDJSON).
var (
	stixKeys = map[string]bool{"objects": true, "spec_version": true}
	mispKeys = map[string]bool{
		"Event": true, "response": true, "Attribute": true, "Object": true, "Orgc": true, "Org": true,
		"Tag": true, "EventTag": true, "Galaxy": true, "GalaxyCluster": true, "ShadowAttribute": true,
		"RelatedEvent": true, "EventReport": true, "threat_level_id": true, "analysis": true,
		"attribute_count": true, "publish_timestamp": true, "values": true,
	}
)

// sniff tells MISP from STIX by content, in at most sniffLimit bytes of
// head (a UTF-8 byte order mark and any white space are skipped). It scans
// the member names of the top object, or of the first object of a top
// array or an NDJSON stream, with a streaming tokenizer that skips values
// without keeping them, until one decides: "type": "bundle", "objects",
// "spec_version" or an "id" of the form type--uuid mean STIX; "Event",
// "response", "Attribute", "Object", "Galaxy", "values" (a galaxy cluster
// file) and the other MISP event members, or "uuid" with "info", mean MISP.
// Member order does not matter. A document that decides neither way is
// STIX when it has a "type" member, MISP when it has a "uuid" or "info",
// and STIX otherwise (the loader then says what is wrong with it).
func sniff(head []byte) string {
	format, _ := sniffHead(head)
	return format
}

// sniffHead is sniff, and says whether the head decided: a deciding key,
// the end of the first object, or no object at all. An undecided head cut
// short may decide with more bytes.
func sniffHead(head []byte) (format string, decided bool) {
	format, decided, _ = sniffKeys(head)
	return format, decided
}

// sniffKeys is sniffHead, and says whether a member that only STIX or MISP
// documents have decided (byKey), not a guess at the end of the first
// object: a feed list in JSON ({"feeds": [...]}) decides only by guess.
func sniffKeys(head []byte) (format string, decided, byKey bool) {
	head = bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})
	if len(head) > sniffLimit {
		head = head[:sniffLimit]
	}
	dec := jsontext.NewDecoder(bytes.NewReader(head), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	var hasType, hasUUID, hasInfo bool
	guess := func() string {
		switch {
		case hasType:
			return FormatSTIX
		case hasUUID || hasInfo:
			return FormatMISP
		}
		return FormatSTIX
	}
	tok, err := dec.ReadToken()
	if err != nil {
		if misp.IsCSVExport(head) {
			// MISP's own CSV export: the MISP loader refuses it by name.
			return FormatMISP, true, true
		}
		return FormatSTIX, false, false
	}
	if tok.Kind() == '[' {
		if tok, err = dec.ReadToken(); err != nil {
			return FormatSTIX, false, false
		}
	}
	if tok.Kind() != '{' {
		return FormatSTIX, true, false
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return guess(), false, false
		}
		key := name.String()
		switch {
		case stixKeys[key]:
			return FormatSTIX, true, true
		case mispKeys[key]:
			return FormatMISP, true, true
		case key == "type" || key == "id":
			if dec.PeekKind() != '"' {
				break
			}
			v, err := dec.ReadToken()
			if err != nil {
				return guess(), false, false
			}
			val := v.String()
			if key == "type" {
				if val == "bundle" {
					return FormatSTIX, true, true
				}
				hasType = true
			} else if strings.Contains(val, "--") {
				return FormatSTIX, true, true
			}
			continue
		case key == "uuid":
			hasUUID = true
		case key == "info":
			hasInfo = true
		}
		if hasUUID && hasInfo {
			return FormatMISP, true, true
		}
		if err := dec.SkipValue(); err != nil {
			return guess(), false, false
		}
	}
	if dec.PeekKind() == '}' {
		return guess(), true, false
	}
	return guess(), false, false
}

// sniffReader detects the format of what r will read, without consuming
// it: it peeks 4 KiB, then more (up to sniffLimit, which r must be able to
// buffer) only while the head does not decide, so a slow stream is not
// waited on longer than it takes to decide.
func sniffReader(r interface{ Peek(int) ([]byte, error) }) string {
	for n := 4 << 10; ; n *= 4 {
		n = min(n, sniffLimit)
		head, err := r.Peek(n) // the loader meets any read error
		format, decided := sniffHead(head)
		if decided || err != nil || n == sniffLimit {
			return format
		}
	}
}

// galaxyDefinition reports whether head is the whole of a MISP galaxy
// definition (stix.MISPGalaxyDefinition) and returns its name and type.
// Sniffed, it looks like a STIX object (a "type" member) or a MISP
// document, and either loader found no record in it and said so in words
// that sent the user the wrong way.
func galaxyDefinition(head []byte) (name, typ string, ok bool) {
	var m map[string]any
	if json.Unmarshal(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), &m) != nil {
		return "", "", false // not one whole object
	}
	return stix.MISPGalaxyDefinition(m)
}

// errGalaxyDefinition says that a feed is a MISP galaxy definition, not
// intelligence, and where the galaxy's clusters are.
func errGalaxyDefinition(path, name, typ string) error {
	where := "the galaxy's clusters file (misp-galaxy's clusters/<galaxy>.json)"
	if path != "-" {
		where = "the clusters file of the same name (misp-galaxy's clusters/" + filepath.Base(path) + ")"
	}
	return fmt.Errorf("open feed %s: a MISP galaxy definition (%q, type %q), not a feed: it describes a galaxy and holds none of its clusters; load %s instead", path, name, typ, where)
}

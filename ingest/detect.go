package ingest

import (
	"bytes"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
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
		return FormatSTIX
	}
	if tok.Kind() == '[' {
		if tok, err = dec.ReadToken(); err != nil {
			return FormatSTIX
		}
	}
	if tok.Kind() != '{' {
		return FormatSTIX
	}
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			return guess()
		}
		key := name.String()
		switch {
		case stixKeys[key]:
			return FormatSTIX
		case mispKeys[key]:
			return FormatMISP
		case key == "type" || key == "id":
			if dec.PeekKind() != '"' {
				break
			}
			v, err := dec.ReadToken()
			if err != nil {
				return guess()
			}
			val := v.String()
			if key == "type" {
				if val == "bundle" {
					return FormatSTIX
				}
				hasType = true
			} else if strings.Contains(val, "--") {
				return FormatSTIX
			}
			continue
		case key == "uuid":
			hasUUID = true
		case key == "info":
			hasInfo = true
		}
		if hasUUID && hasInfo {
			return FormatMISP
		}
		if err := dec.SkipValue(); err != nil {
			return guess()
		}
	}
	return guess()
}

// peekHead returns up to sniffLimit bytes of the start of a reader that
// buffers at least that much, without consuming them.
func peekHead(r interface{ Peek(int) ([]byte, error) }) []byte {
	head, _ := r.Peek(sniffLimit) // what could be read; the loader meets the error
	return head
}

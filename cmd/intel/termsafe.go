package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// What feeds wrote (names, keys, values, aliases, pattern texts) reaches
// the analyst's terminal through show, search, related, feeds and errors.
// A hostile or broken feed can hide terminal control sequences there (ESC
// [2J clears the screen, OSC 0 sets the window title, OSC 52 writes the
// clipboard) or bidirectional overrides that show "Othertxt.exe" for
// "Other\u202eexe.txt". Output is made safe in two places: every byte the
// commands write to stdout goes through controlEscaper, and the last line
// on stderr through escapeControls; table cells and tree labels are made
// one line by cellText, so a name holding line breaks (an HTML page a
// MISP text attribute keeps) cannot break the layout.

// needsEscape reports whether r is written as an escape: C0 controls but
// tab and newline, DEL, C1 controls, and the bidirectional formatting
// characters (ALM, LRM, RLM, LRE…RLO, LRI…PDI).
func needsEscape(r rune) bool {
	switch {
	case r < 0x20:
		return r != '\t' && r != '\n'
	case r >= 0x7f && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// escapeControls returns b with each character needsEscape names written
// as \uXXXX, and each byte that is not UTF-8 as \xXX; b itself when there
// is none. Inside a JSON string \uXXXX is that character again, so JSON
// output keeps its values (its encoder escapes C0 itself and never writes
// bytes that are not UTF-8).
func escapeControls(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		bad := r == utf8.RuneError && size == 1
		if !bad && !needsEscape(r) {
			if out != nil {
				out = append(out, b[i:i+size]...)
			}
			i += size
			continue
		}
		if out == nil {
			out = append(make([]byte, 0, len(b)+16), b[:i]...)
		}
		if bad {
			out = fmt.Appendf(out, `\x%02x`, b[i])
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		i += size
	}
	if out == nil {
		return b
	}
	return out
}

// controlEscaper writes through escapeControls. It takes each Write as
// whole text: the printers write whole formatted strings and table cells,
// never a character cut in two.
type controlEscaper struct{ w io.Writer }

func (e controlEscaper) Write(b []byte) (int, error) {
	if _, err := e.w.Write(escapeControls(b)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// cellText is s on one line, for a table cell or a tree label: each tab,
// carriage return, line, form or paragraph break a space.
func cellText(s string) string {
	if !strings.ContainsAny(s, "\t\r\n\v\f\u0085\u2028\u2029") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\r', '\n', '\v', '\f', 0x85, 0x2028, 0x2029:
			return ' '
		}
		return r
	}, s)
}

// clipText is s cut to at most n characters (not bytes: a character is
// never cut in two), "..." standing for what was cut.
func clipText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	runes := []rune(s)
	return string(runes[:n-3]) + "..."
}

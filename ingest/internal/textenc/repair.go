package textenc

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// Feeds saved by Windows tools in Windows-1252 (or Latin-1, its subset)
// carry bytes that are not UTF-8 inside JSON strings. Replacing each by
// U+FFFD, as Go and most JSON libraries do, loses the character and can
// merge what the source kept apart: "Rechnung_März.exe" and
// "Rechnung_Mürz.exe" both became the file "Rechnung_M�rz.exe", one node.
// Repair reads such bytes as the Windows-1252 characters they almost
// always are instead; the valid UTF-8 around them is kept as it is.

// cp1252 maps a byte that is not part of valid UTF-8 to the Windows-1252
// character it stands for; the five bytes Windows-1252 leaves undefined map
// to the C1 controls of the same value, as the WHATWG encoding standard
// reads them, so that distinct bytes stay distinct characters.
func cp1252(b byte) rune {
	if r := charmap.Windows1252.DecodeByte(b); r != utf8.RuneError {
		return r
	}
	return rune(b)
}

// RepairString returns s unchanged when it is valid UTF-8; otherwise with
// every byte that is not part of a valid UTF-8 sequence read as
// Windows-1252 (the valid sequences kept).
func RepairString(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteRune(cp1252(s[i]))
			i++
			continue
		}
		b.WriteString(s[i : i+size])
		i += size
	}
	return b.String()
}

// RepairBytes is RepairString for a JSON text: it returns raw itself when
// valid UTF-8, else a repaired copy. Bytes that are not UTF-8 can only be
// inside strings in JSON that parses, and their repair writes no quote or
// backslash, so the text parses as before.
func RepairBytes(raw []byte) []byte {
	if utf8.Valid(raw) {
		return raw
	}
	out := make([]byte, 0, len(raw)+8)
	for i := 0; i < len(raw); {
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size <= 1 {
			out = utf8.AppendRune(out, cp1252(raw[i]))
			i++
			continue
		}
		out = append(out, raw[i:i+size]...)
		i += size
	}
	return out
}

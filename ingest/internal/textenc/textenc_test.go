package textenc_test

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/ingest/internal/textenc"
)

// encode16 writes s as UTF-16 in the given byte order, with or without a
// byte order mark.
func encode16(s string, big, bom bool) []byte {
	units := utf16.Encode([]rune(s))
	if bom {
		units = append([]uint16{0xFEFF}, units...)
	}
	out := make([]byte, 0, 2*len(units))
	for _, u := range units {
		if big {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

// TestReadsUTF16AsUTF8: UTF-16 in either byte order, with or without a
// byte order mark, reads as the UTF-8 text it holds (non-ASCII and a
// character outside the BMP included); UTF-8 passes through unchanged.
func TestReadsUTF16AsUTF8(t *testing.T) {
	t.Parallel()
	text := `{"type": "bundle", "objects": [{"name": "Лазарь 🐉 Ünïcode"}]}` + "\r\n"
	cases := []struct {
		name string
		in   []byte
		enc  textenc.Encoding
	}{
		{"utf-8", []byte(text), textenc.UTF8},
		{"utf-8 with bom", append([]byte{0xEF, 0xBB, 0xBF}, text...), textenc.UTF8},
		{"utf-16le bom", encode16(text, false, true), textenc.UTF16LE},
		{"utf-16be bom", encode16(text, true, true), textenc.UTF16BE},
		{"utf-16le", encode16(text, false, false), textenc.UTF16LE},
		{"utf-16be", encode16(text, true, false), textenc.UTF16BE},
	}
	for _, c := range cases {
		r, enc, err := textenc.NewReader(bufio.NewReader(bytes.NewReader(c.in)))
		require.NoError(t, err, c.name)
		require.Equal(t, c.enc, enc, c.name)
		got, err := io.ReadAll(r)
		require.NoError(t, err, c.name)
		want := text
		if c.name == "utf-8 with bom" {
			want = "\uFEFF" + text // the UTF-8 readers skip it themselves
		}
		require.Equal(t, want, string(got), c.name)
	}
}

// TestRefusesWhatItCannotRead: UTF-32 is refused by name, and a UTF-16
// input cut in the middle of a code unit is an error, not a silent U+FFFD.
func TestRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	for _, in := range [][]byte{{0xFF, 0xFE, 0, 0, '{', 0, 0, 0}, {0, 0, 0, '{', 0, 0, 0, '}'}} {
		_, enc, err := textenc.NewReader(bufio.NewReader(bytes.NewReader(in)))
		require.ErrorIs(t, err, textenc.ErrUTF32)
		require.Equal(t, textenc.UTF32, enc)
	}
	cut := encode16(`{"a": 1}`, false, true)
	cut = cut[:len(cut)-1]
	r, _, err := textenc.NewReader(bufio.NewReader(bytes.NewReader(cut)))
	require.NoError(t, err)
	_, err = io.ReadAll(r)
	require.ErrorContains(t, err, "odd number of bytes")
}

// TestShortInputsAreUTF8: inputs too short to judge, or whose first
// characters are not ASCII, are not taken for UTF-16.
func TestShortInputsAreUTF8(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "{", "{}", "[1]", "\n\n{}", "é{}"} {
		enc, _ := textenc.Detect([]byte(in))
		require.Equal(t, textenc.UTF8, enc, "%q", in)
	}
	require.Equal(t, "UTF-16LE", textenc.UTF16LE.String())
	require.True(t, strings.HasPrefix(textenc.ErrUTF32.Error(), "the input is UTF-32"))
}

// TestRepairReadsStrayBytesAsWindows1252: bytes that are not UTF-8 are
// read as Windows-1252, so distinct names stay distinct (with U+FFFD the
// two file names below were one); valid UTF-8 around them is kept, and
// valid input is returned as it is.
func TestRepairReadsStrayBytesAsWindows1252(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"Rechnung_M\xe4rz.exe":         "Rechnung_März.exe",
		"Rechnung_M\xfcrz.exe":         "Rechnung_Mürz.exe",
		"\x80 5 \x93quoted\x94 \x81":   "€ 5 “quoted” \u0081",
		"Лазарь \xe9t\xe9":             "Лазарь été",
		"cut \xe2\x82":                 "cut â‚",
		"already valid: café, 🐉, \x7f": "already valid: café, 🐉, \x7f",
	}
	for in, want := range cases {
		require.Equal(t, want, textenc.RepairString(in), "%q", in)
		require.Equal(t, want, string(textenc.RepairBytes([]byte(in))), "%q", in)
	}
	require.NotEqual(t, textenc.RepairString("M\xe4rz"), textenc.RepairString("M\xfcrz"))
	valid := []byte(`{"a": "café"}`)
	require.Same(t, &valid[0], &textenc.RepairBytes(valid)[0], "valid input is not copied")
}

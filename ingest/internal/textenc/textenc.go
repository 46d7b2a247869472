// Package textenc finds the text encoding a feed was saved in and reads it
// as UTF-8, the only encoding JSON exchanged between systems may use (RFC
// 8259 §8.1) and the only one the feed readers parse.
//
// Windows tools save JSON in UTF-16 often enough to matter: Windows
// PowerShell 5's ">" and Out-File write UTF-16LE with a byte order mark,
// and some TIP exports do the same. Such a file used to fail at byte 0
// ("invalid character '\xff'") or, read as lines, drop every line as
// invalid JSON. Detect recognises UTF-16 by its byte order mark or, without
// one, by the zero bytes around JSON's first character (an ASCII character:
// RFC 4627 §3), and UTF-32 (refused: nothing writes feeds in it).
package textenc

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encoding is a text encoding Detect recognises.
type Encoding int

// The encodings Detect tells apart. UTF8 covers everything that is neither
// UTF-16 nor UTF-32 (the readers themselves reject what is not JSON).
const (
	UTF8 Encoding = iota
	UTF16LE
	UTF16BE
	UTF32
)

func (e Encoding) String() string {
	switch e {
	case UTF16LE:
		return "UTF-16LE"
	case UTF16BE:
		return "UTF-16BE"
	case UTF32:
		return "UTF-32"
	default:
		return "UTF-8"
	}
}

// ErrUTF32 refuses a UTF-32 input.
var ErrUTF32 = errors.New("the input is UTF-32 text: convert it to UTF-8 first (iconv -f UTF-32 -t UTF-8 FILE > FILE.json); nothing was loaded")

// Detect says in which encoding head, the first bytes of an input (at
// least 4 for a decision without a byte order mark), is written, and
// whether it starts with a byte order mark.
func Detect(head []byte) (enc Encoding, bom bool) {
	switch {
	case len(head) >= 4 && (head[0] == 0xFF && head[1] == 0xFE && head[2] == 0 && head[3] == 0 ||
		head[0] == 0 && head[1] == 0 && head[2] == 0xFE && head[3] == 0xFF):
		return UTF32, true
	case len(head) >= 2 && head[0] == 0xFF && head[1] == 0xFE:
		return UTF16LE, true
	case len(head) >= 2 && head[0] == 0xFE && head[1] == 0xFF:
		return UTF16BE, true
	case len(head) >= 4 && (head[0] == 0 && head[1] == 0 && head[2] == 0 && head[3] != 0 ||
		head[0] != 0 && head[1] == 0 && head[2] == 0 && head[3] == 0):
		return UTF32, false
	case len(head) >= 4 && head[0] != 0 && head[1] == 0 && head[2] != 0 && head[3] == 0:
		return UTF16LE, false
	case len(head) >= 4 && head[0] == 0 && head[1] != 0 && head[2] == 0 && head[3] != 0:
		return UTF16BE, false
	}
	return UTF8, false
}

// DetectReader peeks at the start of r (without consuming it) and says
// in which encoding it is written.
func DetectReader(r *bufio.Reader) Encoding {
	head, _ := r.Peek(4) // a shorter input is decided on what there is
	enc, _ := Detect(head)
	return enc
}

// NewReader returns r read as UTF-8: unchanged when r is UTF-8, decoded
// (byte order mark dropped) when UTF-16; a UTF-32 input fails with
// ErrUTF32. An unpaired surrogate in UTF-16 reads as U+FFFD, as Go
// decodes invalid UTF-8; an odd byte at the end is an error.
func NewReader(r *bufio.Reader) (io.Reader, Encoding, error) {
	head, _ := r.Peek(4)
	enc, bom := Detect(head)
	var order unicode.Endianness
	switch enc {
	case UTF8:
		return r, enc, nil
	case UTF32:
		return nil, enc, ErrUTF32
	case UTF16LE:
		order = unicode.LittleEndian
	case UTF16BE:
		order = unicode.BigEndian
	}
	policy := unicode.IgnoreBOM
	if bom {
		policy = unicode.ExpectBOM
	}
	o := &oddTail{src: r, enc: enc}
	o.r = transform.NewReader(o.counted(), unicode.UTF16(order, policy).NewDecoder())
	return o, enc, nil
}

// oddTail reports a UTF-16 input that ends in half a code unit, which the
// decoder would turn into U+FFFD without a word.
type oddTail struct {
	src  io.Reader
	r    io.Reader
	read int64 // bytes of src read
	enc  Encoding
}

func (o *oddTail) counted() io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		n, err := o.src.Read(p)
		o.read += int64(n)
		return n, err
	})
}

func (o *oddTail) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err == io.EOF && o.read%2 == 1 {
		err = fmt.Errorf("the %s input ends in the middle of a character (an odd number of bytes, %d): is it cut short?", o.enc, o.read)
	}
	return n, err
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

package jsonguard

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"testing/iotest"
)

// FuzzGuard: whatever the Guard changes, valid JSON stays valid JSON, and a
// feed it has no reason to change is passed on unchanged. Readers arm the
// first element of a top-level array as soon as they see it.
func FuzzGuard(f *testing.F) {
	for _, s := range []string{
		`[{"a":"bcdefghijklmnop"},{"b":[[[[[1]]]]]}]`, `{"a":   [1,   2]}`, `[1e5,-0.5,true,null,"\u00e9\\"]`,
		`[{"a":{"b":[1,2,3,4,5,6,7,8,9]}}, 2]`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		g := New(iotest.OneByteReader(bytes.NewReader(in)), Options{MaxDepth: 4, MaxToken: 12, MaxSpace: 3})
		var out []byte
		p := make([]byte, 1)
		for {
			n, err := g.Read(p)
			out = append(out, p[:n]...)
			if n == 1 && len(out) == 2 && out[0] == '[' && (out[1] == '{' || out[1] == '[') {
				g.Arm(1, 1, 20)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if g.Consumed() != int64(len(in)) {
			t.Fatalf("consumed %d of %d bytes", g.Consumed(), len(in))
		}
		if !json.Valid(in) {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%q became %q", in, out)
		}
		if len(g.Take(int64(len(out)+1))) == 0 && longestSpace(in) <= 3 && !bytes.Equal(in, out) {
			t.Fatalf("%q changed to %q", in, out)
		}
	})
}

// longestSpace is the longest run of JSON white space in b.
func longestSpace(b []byte) int {
	longest, run := 0, 0
	for _, c := range b {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

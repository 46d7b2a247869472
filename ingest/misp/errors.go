package misp

import (
	"errors"
	"fmt"
)

// Sentinel errors of the misp package.
var (
	// ErrSyntax means the input is not well-formed JSON from some byte on;
	// the load stops there, keeping everything read before it. The error
	// returned is a *SyntaxError wrapping ErrSyntax.
	ErrSyntax = errors.New("JSON syntax error")
	// ErrNotMISP means the input is JSON but no MISP document: neither an
	// object nor an array at the top.
	ErrNotMISP = errors.New("not a MISP document")
	// ErrNoManifest means a feed directory has no manifest.json.
	ErrNoManifest = errors.New("no manifest.json")
	// ErrBadManifest means manifest.json is not a MISP feed manifest.
	ErrBadManifest = errors.New("invalid manifest")
)

// SyntaxError is the error that stops a load at a byte offset of its input.
type SyntaxError struct {
	// Offset is the byte offset of the input at or after which the JSON
	// stops being readable.
	Offset int64
	// Err is the decoder's description.
	Err error
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%v at byte %d: %v", ErrSyntax, e.Offset, e.Err)
}

// Unwrap lets errors.Is match ErrSyntax.
func (e *SyntaxError) Unwrap() []error { return []error{ErrSyntax, e.Err} }

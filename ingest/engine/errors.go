package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors of loading.
var (
	// ErrSyntax means the feed holds a JSON syntax error (or ends early)
	// that makes the rest of it unreadable. The error a load returns is an
	// *OffsetError that names the byte offset and wraps ErrSyntax.
	ErrSyntax = errors.New("JSON syntax error")
	// ErrRead means reading the feed failed (an I/O error of the reader);
	// it comes wrapped in an *OffsetError too.
	ErrRead = errors.New("read feed")
	// ErrPanic means the load stopped on a panic (a bug), recovered so
	// that it cannot take down other loads in the process.
	ErrPanic = errors.New("internal error (panic)")
)

// OffsetError is the error that stopped a feed at a byte offset: a JSON
// syntax error, a truncated feed or a read error. Everything before Offset
// was loaded.
type OffsetError struct {
	// Feed is the feed name from Options.Feed (Run fills it in).
	Feed string
	// Offset is the byte offset (from the start of the input, 0-based) at
	// or after which reading failed.
	Offset int64
	// Line is the 1-based line of Offset, 0 when unknown.
	Line int64
	// Records is the number of records read before the error.
	Records int64
	// Err is the underlying error; it wraps ErrSyntax or ErrRead.
	Err error
}

// SyntaxAt returns the *OffsetError for a syntax error at offset.
func SyntaxAt(offset int64, err error) *OffsetError {
	return &OffsetError{Offset: offset, Err: fmt.Errorf("%w: %w", ErrSyntax, err)}
}

// ReadErrorAt returns the *OffsetError for a read error at offset.
func ReadErrorAt(offset int64, err error) *OffsetError {
	return &OffsetError{Offset: offset, Err: fmt.Errorf("%w: %w", ErrRead, err)}
}

func (e *OffsetError) Error() string {
	where := fmt.Sprintf("at byte %d", e.Offset)
	if e.Line > 0 {
		where += fmt.Sprintf(" (line %d)", e.Line)
	}
	if e.Feed == "" {
		return fmt.Sprintf("read feed %s: %v", where, e.Err)
	}
	return fmt.Sprintf("read feed %q %s: %v", e.Feed, where, e.Err)
}

// Unwrap lets errors.Is match ErrSyntax or ErrRead.
func (e *OffsetError) Unwrap() error { return e.Err }

// ErrorOffset is the offset of the *OffsetError in err's chain, or -1.
func ErrorOffset(err error) int64 {
	var oe *OffsetError
	if errors.As(err, &oe) {
		return oe.Offset
	}
	return -1
}

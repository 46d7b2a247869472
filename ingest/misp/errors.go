package misp

import "errors"

// Sentinel errors of the misp package. A JSON syntax error stops a load
// with an *engine.OffsetError wrapping engine.ErrSyntax.
var (
	// ErrNotMISP means the input is JSON but no MISP document: neither an
	// object nor an array at the top.
	ErrNotMISP = errors.New("not a MISP document")
	// ErrNoManifest means a feed directory has no manifest.json.
	ErrNoManifest = errors.New("no manifest.json")
	// ErrBadManifest means manifest.json is not a MISP feed manifest.
	ErrBadManifest = errors.New("invalid manifest")
	// ErrManifestTooLarge means manifest.json is larger than
	// MaxManifestBytes or lists more than MaxManifestEntries events.
	ErrManifestTooLarge = errors.New("manifest too large")
	// ErrUnsafeFile means a file of a feed directory was refused unread:
	// a symbolic link leading outside the directory, or not a regular
	// file (a FIFO, a device, a directory).
	ErrUnsafeFile = errors.New("not a regular file inside the feed directory")
)

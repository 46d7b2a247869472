// Package migrations holds the goose SQL migrations of the ransomeye-intel
// schema, embedded so that the intel CLI and the test harness run exactly the
// files that the plain goose CLI runs in release pipelines.
package migrations

import "embed"

// FS holds every *.sql migration, in goose's sequential 00001_name.sql form.
//
//go:embed *.sql
var FS embed.FS

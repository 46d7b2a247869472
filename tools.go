//go:build tools

// Package tools pins the versions of the command-line tools this module runs
// with "go run" (sqlc for code generation, goose for release-pipeline
// migrations), so that every developer and CI use exactly the versions in go.mod.
package tools

import (
	_ "github.com/pressly/goose/v3/cmd/goose"
	_ "github.com/sqlc-dev/sqlc/cmd/sqlc"
)

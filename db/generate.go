// Package db holds the data layer's sources: goose migrations
// (db/migrations), the sqlc query files (db/queries) and the code sqlc
// generates from them (db/gen, never edited by hand).
//
// Regenerate db/gen after editing a migration or a query with
//
//	go generate ./...
//
// which runs the sqlc version pinned in tools/go.mod. That file is a module of
// its own (module github.com/ransomeye/intel/tools, a `tool` directive each
// for sqlc and goose), so the importable module does not require sqlc's
// dependencies; `go tool -modfile=tools/go.mod sqlc` runs it from the
// repository root, as the Makefile does.
package db

//go:generate go tool -modfile=../tools/go.mod sqlc generate -f ../sqlc.yaml

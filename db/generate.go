// Package db holds the data layer's sources: goose migrations
// (db/migrations), the sqlc query files (db/queries) and the code sqlc
// generates from them (db/gen, never edited by hand).
//
// Regenerate db/gen after editing a migration or a query with
//
//	go generate ./...
//
// which runs the sqlc version pinned in go.mod (tools.go).
package db

//go:generate go run github.com/sqlc-dev/sqlc/cmd/sqlc generate -f ../sqlc.yaml

package migrations

import (
	"database/sql"
	"fmt"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// NewProvider returns a goose Provider over the embedded migrations for db.
// It takes a PostgreSQL session-level advisory lock around every run, so
// that several processes migrating one database at once all succeed: one
// applies the migrations while the others wait and then find nothing to do.
func NewProvider(db *sql.DB, opts ...goose.ProviderOption) (*goose.Provider, error) {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("create migration session locker: %w", err)
	}
	all := append([]goose.ProviderOption{goose.WithSessionLocker(locker)}, opts...)
	p, err := goose.NewProvider(goose.DialectPostgres, db, FS, all...)
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return p, nil
}

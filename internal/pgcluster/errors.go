package pgcluster

import "errors"

// ErrNoServer means that no PostgreSQL server binaries were found. Its text
// says what to install, or to set DATABASE_URL to use an existing server.
var ErrNoServer = errors.New("no PostgreSQL server binaries (initdb, postgres, pg_ctl) found in PATH, " +
	"`pg_config --bindir` or /usr/lib/postgresql/*/bin: install the PostgreSQL server " +
	"(Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; " +
	"macOS: brew install postgresql) or set DATABASE_URL to an existing server")

// ErrNotInitialized means that a cluster directory has no initialized data directory.
var ErrNotInitialized = errors.New("cluster not initialized")

// ErrPasswordRejected means that the server refused the cluster's password.
var ErrPasswordRejected = errors.New("the server rejected the superuser's password")

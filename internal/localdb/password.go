package localdb

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ransomeye/intel/internal/pgcluster"
)

// PasswordFile returns the path of the password file of the cluster in dir:
// a libpq password file (~/.pgpass format), mode 0600.
func PasswordFile(dir string) string { return filepath.Join(dir, "pgpass") }

// url returns the URL of the intel database on port: no password, but the
// password file, which libpq, pgx and psql read (passfile=).
func (l *Local) url(port int) string {
	// A path needs no escaping of its slashes in a query; leaving them
	// makes the URL readable.
	passfile := strings.ReplaceAll(url.QueryEscape(PasswordFile(l.dir)), "%2F", "/")
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(l.cluster.Superuser()),
		Host:     "127.0.0.1:" + strconv.Itoa(port),
		Path:     "/" + Database,
		RawQuery: "sslmode=disable&passfile=" + passfile,
	}
	return u.String()
}

// ensurePassword returns the password kept in dir, first generating one and
// writing the password file if there is none. Concurrent callers agree: the
// file appears whole, once (link of a finished temporary file).
func ensurePassword(dir string) (string, error) {
	path := PasswordFile(dir)
	if pw, err := readPassword(path); !errors.Is(err, os.ErrNotExist) {
		if err == nil {
			err = ownerOnly(path)
		}
		return pw, err
	}
	pw, err := pgcluster.GeneratePassword()
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".pgpass-")
	if err != nil {
		return "", fmt.Errorf("create password file: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // the link below is what counts
	// Any host, port and database of this cluster's superuser.
	_, werr := fmt.Fprintf(tmp, "*:*:*:postgres:%s\n", pw)
	if werr == nil {
		werr = tmp.Chmod(0o600)
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		return "", fmt.Errorf("write password file: %w", werr)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("write password file: %w", err)
	}
	return readPassword(path)
}

// readPassword reads the password of the first line of a password file.
func readPassword(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	fields := strings.Split(strings.TrimSpace(line), ":")
	if len(fields) != 5 || fields[4] == "" {
		return "", fmt.Errorf("password file %s: want one line host:port:database:user:password", path)
	}
	return fields[4], nil
}

// ownerOnly takes away the access of group and others to path, should it
// have been given (libpq ignores such a password file).
func ownerOnly(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(path, st.Mode().Perm()&0o700); err != nil {
		return fmt.Errorf("make %s readable by its owner only: %w", path, err)
	}
	return nil
}

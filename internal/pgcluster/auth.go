package pgcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// GeneratePassword returns a random password: 32 hex digits (128 bits),
// which need no quoting in a URL, a password file or SQL.
func GeneratePassword() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate a password: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ScramIterations is the PBKDF2 iteration count of the verifiers
// SetPassword stores. PostgreSQL's default, 4096, slows brute force of a
// password a person chose, at a price every client pays on every connection
// (tens of milliseconds in a race-enabled test binary on a busy machine,
// which slow connection-heavy tests down and break their latency bounds).
// The passwords here are 128 random bits (GeneratePassword): stretching
// adds nothing against a search of 2^128, so a few iterations do.
const ScramIterations = 16

// ScramVerifier returns the SCRAM-SHA-256 verifier of password with a random
// salt and ScramIterations, in the form PostgreSQL stores in pg_authid and
// accepts in ALTER ROLE … PASSWORD (RFC 5802, RFC 7677).
func ScramVerifier(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("generate a salt: %w", err)
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, ScramIterations, sha256.Size)
	if err != nil {
		return "", fmt.Errorf("derive the SCRAM key: %w", err)
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	storedKey := sha256.Sum256(mac(salted, "Client Key"))
	serverKey := mac(salted, "Server Key")
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", ScramIterations, b64(salt), b64(storedKey[:]), b64(serverKey)), nil
}

// SetPassword gives role password, stored as a ScramVerifier. The password
// itself never reaches the server, its log or pg_stat_statements.
func SetPassword(ctx context.Context, conn *pgx.Conn, role, password string) error {
	verifier, err := ScramVerifier(password)
	if err != nil {
		return err
	}
	// ALTER ROLE takes no parameters; the verifier is base64 and '$', ':'.
	if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{role}.Sanitize()+" PASSWORD '"+verifier+"'"); err != nil {
		return fmt.Errorf("set the password of %s: %w", role, err)
	}
	return nil
}

// useFastVerifier stores the superuser's password as a ScramVerifier (initdb
// stored it with 4096 iterations).
func (c *Cluster) useFastVerifier(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect to set the password: %w", err)
	}
	defer conn.Close(ctx)
	var current string
	if err := conn.QueryRow(ctx, "SELECT coalesce(rolpassword, '') FROM pg_authid WHERE rolname = $1", c.opts.Superuser).Scan(&current); err != nil {
		return fmt.Errorf("read the superuser's verifier: %w", err)
	}
	if strings.HasPrefix(current, fmt.Sprintf("SCRAM-SHA-256$%d:", ScramIterations)) {
		return nil
	}
	return SetPassword(ctx, conn, c.opts.Superuser, c.opts.Password)
}

// hbaConf is the client authentication of every cluster: the superuser's
// password over loopback TCP, nothing else (the server opens no unix socket).
const hbaConf = `# Written by ransomeye-intel (internal/pgcluster): password (scram-sha-256)
# over loopback TCP only; no trust, no unix socket.
# TYPE  DATABASE        USER            ADDRESS                 METHOD
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
`

// passwordFileForInitdb writes the password to a new 0600 file that initdb,
// running as the server's user, can read, and returns its path.
func (c *Cluster) passwordFileForInitdb() (string, error) {
	f, err := os.CreateTemp("", "pgcluster-pw-")
	if err != nil {
		return "", fmt.Errorf("create initdb password file: %w", err)
	}
	_, werr := f.WriteString(c.opts.Password + "\n")
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = c.chown(f.Name())
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write initdb password file: %w", werr)
	}
	return f.Name(), nil
}

// TrustsConnections reports whether pg_hba.conf of the data directory lets
// any connection in without a password (a cluster made before passwords, or
// edited by hand).
func (c *Cluster) TrustsConnections() (bool, error) {
	raw, err := os.ReadFile(filepath.Join(c.opts.DataDir, "pg_hba.conf"))
	if err != nil {
		return false, fmt.Errorf("read pg_hba.conf: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) > 0 && fields[len(fields)-1] == "trust" {
			return true, nil
		}
	}
	return false, sc.Err()
}

// RequirePassword closes a running server that trusts connections: it sets
// the superuser's password to Password, rewrites pg_hba.conf to the
// password-only configuration New clusters get, and reloads it. A server
// that trusts nothing is left alone.
func (c *Cluster) RequirePassword(ctx context.Context) error {
	trusts, err := c.TrustsConnections()
	if err != nil || !trusts {
		return err
	}
	conn, err := pgx.Connect(ctx, c.DSN("postgres")) // trust ignores the password
	if err != nil {
		return fmt.Errorf("connect to set a password: %w", err)
	}
	defer conn.Close(ctx)
	if err := SetPassword(ctx, conn, c.opts.Superuser, c.opts.Password); err != nil {
		return err
	}
	hba := filepath.Join(c.opts.DataDir, "pg_hba.conf")
	if err := writeFileAtomic(hba, []byte(hbaConf), 0o600); err != nil {
		return err
	}
	if err := c.chown(hba); err != nil {
		return err
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_reload_conf()").Scan(&ok); err != nil || !ok {
		return fmt.Errorf("reload pg_hba.conf: %v", err)
	}
	return c.waitPasswordRequired(ctx)
}

// waitPasswordRequired waits until the server, reloading its configuration
// in the background, refuses a wrong password.
func (c *Cluster) waitPasswordRequired(ctx context.Context) error {
	wrong := *c
	wrong.opts.Password = "not-" + c.opts.Password
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, wrong.DSN("postgres"))
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "28P01" { // invalid_password
			return nil
		}
		if err == nil {
			_ = conn.Close(ctx)
			err = errors.New("a wrong password is still let in")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after reloading pg_hba.conf: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// writeFileAtomic writes data to a temporary file beside path and renames it
// over path.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Chmod(perm)
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, werr)
	}
	return nil
}

package localdb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// helperEnv makes the test binary, run as another user, try one connection
// (the DSN in the variable) and exit 0 if it got in, 3 if it was refused.
const helperEnv = "LOCALDB_TEST_CONNECT"

func TestMain(m *testing.M) {
	if dsn, ok := os.LookupEnv(helperEnv); ok {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			fmt.Println("refused:", err)
			os.Exit(3)
		}
		var who string
		_ = conn.QueryRow(ctx, "SELECT current_user").Scan(&who)
		fmt.Println("connected as", who)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStateDir(t *testing.T) {
	t.Parallel()
	home := func() (string, error) { return "/home/ann", nil }
	noHome := func() (string, error) { return "", errors.New("$HOME is not defined") }
	cases := []struct {
		name string
		euid int
		env  map[string]string
		home func() (string, error)
		want string
	}{
		{"user, nothing set", 1000, nil, home, "/home/ann/.local/state/ransomeye-intel"},
		{"user, XDG_STATE_HOME", 1000, map[string]string{"XDG_STATE_HOME": "/xdg"}, home, "/xdg/ransomeye-intel"},
		{"user, INTEL_STATE_DIR wins", 1000, map[string]string{"XDG_STATE_HOME": "/xdg", "INTEL_STATE_DIR": "/s"}, home, "/s"},
		{"root, nothing set", 0, nil, home, RootStateDir},
		{"root, XDG_STATE_HOME is not used", 0, map[string]string{"XDG_STATE_HOME": "/root/.local/state"}, home, RootStateDir},
		{"root, no home", 0, nil, noHome, RootStateDir},
		{"root, INTEL_STATE_DIR wins", 0, map[string]string{"XDG_STATE_HOME": "/xdg", "INTEL_STATE_DIR": "/s"}, home, "/s"},
	}
	for _, c := range cases {
		got, err := stateDir(c.euid, func(k string) string { return c.env[k] }, c.home)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, got, c.name)
	}
	_, err := stateDir(1000, func(string) string { return "" }, noHome)
	require.ErrorContains(t, err, "set INTEL_STATE_DIR or DATABASE_URL")
}

// TestReadmeStatesTheStateDirRule holds the README to StateDirRule, the
// words StateDir follows and `intel local --help` prints.
func TestReadmeStatesTheStateDirRule(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	readme := strings.Join(strings.Fields(strings.ReplaceAll(string(raw), "`", "")), " ")
	require.True(t, strings.Contains(readme, StateDirRule), "README.md does not say: %s", StateDirRule)
}

// TestOtherUsersCannotConnect starts the local cluster as root (its server
// running as an unprivileged user) and tries to get in as nobody over every
// path: TCP on 127.0.0.1 without a password, with the URL the owner is
// given (its password file is not readable by nobody), and the unix sockets
// a server might open. Then it does the same after turning the cluster into
// one made by an older version, which trusted every local connection.
func TestOtherUsersCannotConnect(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs the server as its user and connects as nobody (CI runs it as root)")
	}
	nobody, err := user.Lookup("nobody")
	require.NoError(t, err)
	uid, _ := strconv.ParseUint(nobody.Uid, 10, 32)
	gid, _ := strconv.ParseUint(nobody.Gid, 10, 32)

	// Not t.TempDir: the server's user must pass through every parent.
	root, err := os.MkdirTemp("", "localdb-test-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(root, 0o711))
	t.Cleanup(func() { _ = os.RemoveAll(root) })
	helper := filepath.Join(root, "helper")
	copyExecutable(t, helper)
	dir := filepath.Join(root, "state")

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	l, err := Open(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Stop(context.Background()) })
	dsn, err := l.Start(ctx)
	require.NoError(t, err)
	require.NotContains(t, dsn, l.cluster.Password(), "the URL names the password file, not the password")
	wantUser := "postgres"
	if _, err := user.Lookup("postgres"); err != nil {
		wantUser = "nobody"
	}
	require.Equal(t, wantUser, l.Status().ServerUser)

	asNobody := func(dsn string) (bool, string) {
		cmd := exec.Command(helper)
		cmd.Env = []string{helperEnv + "=" + dsn, "PATH=/usr/bin:/bin"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 3 {
			return false, string(out)
		}
		require.NoError(t, err, "helper as nobody: %s", out)
		return true, string(out)
	}
	check := func(stage string) {
		port := l.cluster.Port()
		// The owner gets in with the URL it was given.
		conn, err := pgx.Connect(ctx, dsn)
		require.NoError(t, err, stage)
		var sockets string
		require.NoError(t, conn.QueryRow(ctx, "SHOW unix_socket_directories").Scan(&sockets))
		require.Empty(t, sockets, "%s: the server opens no unix socket", stage)
		conn.Close(ctx)

		// The password file is the owner's alone.
		st, err := os.Stat(PasswordFile(dir))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), stage)

		tcp := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, Database)
		for _, try := range []string{
			tcp,
			dsn, // names the password file nobody cannot read
			fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", "nobody", port, Database),
			fmt.Sprintf("host=/var/run/postgresql port=%d user=postgres dbname=postgres", port),
			fmt.Sprintf("host=/tmp port=%d user=postgres dbname=postgres", port),
			fmt.Sprintf("host=%s port=%d user=postgres dbname=postgres", dir, port),
		} {
			in, out := asNobody(try)
			require.False(t, in, "%s: nobody got in with %s: %s", stage, try, out)
			if strings.HasPrefix(try, "postgres://") {
				// Refused for want of the password, by a running server.
				require.Regexp(t, `password|SASL`, out, "%s: %s", stage, try)
			}
		}
		// The same helper, as nobody, gets in when it has the password: what
		// stops it above is the password and nothing else.
		in, out := asNobody(fmt.Sprintf("postgres://postgres:%s@127.0.0.1:%d/%s?sslmode=disable", l.cluster.Password(), port, Database))
		require.True(t, in, "%s: control: %s", stage, out)
	}
	check("new cluster")

	// A cluster made before passwords: initdb --auth=trust.
	require.NoError(t, l.Stop(ctx))
	hba := filepath.Join(l.cluster.DataDir(), "pg_hba.conf")
	require.NoError(t, os.WriteFile(hba, []byte("local all all trust\nhost all all 127.0.0.1/32 trust\n"), 0o600))
	require.NoError(t, l.cluster.GiveTo(hba))
	trusts, err := l.cluster.TrustsConnections()
	require.NoError(t, err)
	require.True(t, trusts)
	dsn, err = l.Start(ctx)
	require.NoError(t, err)
	trusts, err = l.cluster.TrustsConnections()
	require.NoError(t, err)
	require.False(t, trusts, "start gave the old cluster a password")
	check("cluster that trusted connections")
	require.Zero(t, l.MovedFrom())

	// Another program takes the port while the cluster is stopped: Start
	// moves it and says so (MovedFrom), so that intel can warn that a URL
	// saved before names that program.
	require.NoError(t, l.Stop(ctx))
	old := l.cluster.Port()
	taken, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", old))
	require.NoError(t, err)
	defer taken.Close() //nolint:errcheck // test
	dsn, err = l.Start(ctx)
	require.NoError(t, err)
	require.Equal(t, old, l.MovedFrom())
	require.NotEqual(t, old, l.cluster.Port())
	require.NotContains(t, dsn, fmt.Sprintf(":%d/", old))
}

// copyExecutable copies the test binary where nobody may run it.
func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	src, err := os.Executable()
	require.NoError(t, err)
	in, err := os.Open(src)
	require.NoError(t, err)
	defer in.Close() //nolint:errcheck // read-only
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}

// TestPasswordFile: the first Open of a state directory writes one password
// file, mode 0600, that concurrent and later opens agree on.
func TestPasswordFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const n = 8
	got := make(chan string, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			pw, err := ensurePassword(dir)
			got <- pw
			errs <- err
		}()
	}
	first := ""
	for range n {
		require.NoError(t, <-errs)
		pw := <-got
		require.Len(t, pw, 32)
		if first == "" {
			first = pw
		}
		require.Equal(t, first, pw)
	}
	st, err := os.Stat(PasswordFile(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	leftovers, err := filepath.Glob(filepath.Join(dir, ".pgpass-*"))
	require.NoError(t, err)
	require.Empty(t, leftovers)
	pw, err := ensurePassword(dir)
	require.NoError(t, err)
	require.Equal(t, first, pw)

	// Opened to others by hand: closed again.
	require.NoError(t, os.Chmod(PasswordFile(dir), 0o644))
	_, err = ensurePassword(dir)
	require.NoError(t, err)
	st, err = os.Stat(PasswordFile(dir))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	require.NoError(t, os.WriteFile(PasswordFile(dir), []byte("garbage\n"), 0o600))
	_, err = ensurePassword(dir)
	require.ErrorContains(t, err, "want one line host:port:database:user:password")
}

// TestStateDirOthersCouldChangeIsRefused: a state directory another user
// could change (theirs, open to writes, reached through a directory or a
// symbolic link of theirs) is refused before intel writes in it. Before,
// root's `intel local start` with INTEL_STATE_DIR a directory nobody had
// made (mode 0777, its port file a link to /tmp/victim) wrote the port over
// the victim file, and the server's log through a link of theirs.
func TestStateDirOthersCouldChangeIsRefused(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	victim := filepath.Join(base, "victim")
	require.NoError(t, os.WriteFile(victim, []byte("precious\n"), 0o600))

	refused := func(t *testing.T, dir, why string) {
		t.Helper()
		_, err := Open(dir)
		require.ErrorIs(t, err, ErrUnsafeStateDir)
		require.ErrorContains(t, err, why)
		_, err = Inspect(dir)
		require.ErrorIs(t, err, ErrUnsafeStateDir)
		raw, err := os.ReadFile(victim)
		require.NoError(t, err)
		require.Equal(t, "precious\n", string(raw))
	}

	open := filepath.Join(base, "open")
	require.NoError(t, os.Mkdir(open, 0o700))
	require.NoError(t, os.Chmod(open, 0o777))
	require.NoError(t, os.Symlink(victim, filepath.Join(open, "port")))
	refused(t, open, "its mode 0777 lets others write in it")
	_, err := os.Lstat(filepath.Join(open, "pgpass"))
	require.ErrorIs(t, err, os.ErrNotExist, "a password file was written in the refused directory")

	// Below a directory others may write, not sticky: refused before the
	// state directory is even made.
	shared := filepath.Join(base, "shared")
	require.NoError(t, os.Mkdir(shared, 0o700))
	require.NoError(t, os.Chmod(shared, 0o777))
	refused(t, filepath.Join(shared, "state"), "above it (mode 0777) lets others replace it")
	_, err = os.Lstat(filepath.Join(shared, "state"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// Controls: a directory of one's own, made or existing, below a sticky
	// directory others may write (as /tmp is).
	sticky := filepath.Join(base, "sticky")
	require.NoError(t, os.Mkdir(sticky, 0o700))
	require.NoError(t, os.Chmod(sticky, 0o777|os.ModeSticky))
	_, err = Open(filepath.Join(sticky, "state"))
	require.NoError(t, err)
	_, err = Open(filepath.Join(sticky, "state"))
	require.NoError(t, err)

	if os.Geteuid() != 0 {
		t.Log("not root: the cases of another user's directory and link are not tried")
		return
	}
	const nobody = 65534
	theirs := filepath.Join(base, "theirs")
	require.NoError(t, os.Mkdir(theirs, 0o700))
	require.NoError(t, os.Chown(theirs, nobody, nobody))
	refused(t, theirs, "it belongs to")

	link := filepath.Join(sticky, "link")
	require.NoError(t, os.Symlink(filepath.Join(sticky, "state"), link))
	require.NoError(t, os.Lchown(link, nobody, nobody))
	refused(t, link, "the symbolic link "+link+" belongs to")
}

// TestStateDirInTheUsersPrivateGroupIsUsed: a directory writable by the
// user's own private group (Debian's and Ubuntu's USERGROUPS, where umask
// 002 makes ~/.local/state 0775) is the user's alone, so a state directory
// there, or one of mode 0770, is used; writable by another group it is
// refused. Before, the refusal of directories others could change took
// group-write as others' and refused such a user's default state directory.
func TestStateDirInTheUsersPrivateGroupIsUsed(t *testing.T) {
	t.Parallel()
	own := privateGroup(os.Geteuid())
	if own < 0 {
		t.Skipf("the user (uid %d) has no private group here: nothing to try", os.Geteuid())
	}
	base := t.TempDir()
	home := filepath.Join(base, "home")
	require.NoError(t, os.Mkdir(home, 0o700))
	require.NoError(t, os.Chown(home, os.Geteuid(), own))
	require.NoError(t, os.Chmod(home, 0o775))
	_, err := Open(filepath.Join(home, "state"))
	require.NoError(t, err, "a state directory below a directory of the user's private group, mode 0775")

	state := filepath.Join(home, "state0770")
	require.NoError(t, os.Mkdir(state, 0o700))
	require.NoError(t, os.Chown(state, os.Geteuid(), own))
	require.NoError(t, os.Chmod(state, 0o770))
	_, err = Open(state)
	require.NoError(t, err, "a state directory of the user's private group, mode 0770")

	if os.Geteuid() != 0 {
		t.Log("not root: the case of a directory of another group is not tried")
		return
	}
	const nogroup = 65534
	require.NoError(t, os.Chown(home, os.Geteuid(), nogroup))
	_, err = Open(filepath.Join(home, "other"))
	require.ErrorIs(t, err, ErrUnsafeStateDir)
	require.ErrorContains(t, err, "above it (mode 0775) lets others replace it")
}

package localdb

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ErrUnsafeStateDir is returned for a state directory that another user of
// the machine could change.
var ErrUnsafeStateDir = errors.New("unsafe state directory")

// checkStateDir refuses a state directory that another user could change,
// as PostgreSQL refuses a data directory others may write and ssh a key
// file: whoever can replace the directory's entries (its own owner, or the
// owner of a directory above it, or of a symbolic link on the way) could
// point its port file or lock file at any file of ours, which intel then
// writes (as root: any file of the machine), or swap its password file and
// data directory for their own. The directory must be owned by the
// effective user and writable by no one else; every directory above it, and
// every symbolic link on the way to it, must be owned by that user or root,
// and a directory above that others may write must be sticky (/tmp), so
// that they cannot rename what is ours. A directory writable by its group
// counts as writable by others unless that group is the user's own private
// group (Debian's and Ubuntu's USERGROUPS: a group of the user's name that
// is their primary group, under whose umask 002 ~/.local/state is made
// 0775), as Debian's OpenSSH allows there too. A part of the path that does
// not exist yet ends the check there (Open checks again after making it).
func checkStateDir(dir string) error {
	euid := os.Geteuid()
	paths := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		paths = append(paths, real)
	}
	for _, p := range paths {
		if err := checkPath(p, euid); err != nil {
			return fmt.Errorf("%w %s: %w; use a directory of your own (INTEL_STATE_DIR), "+
				"writable by you alone", ErrUnsafeStateDir, dir, err)
		}
	}
	return nil
}

// checkPath checks each part of the absolute path p, from the root down,
// without following symbolic links, as checkStateDir says.
func checkPath(p string, euid int) error {
	p = filepath.Clean(p)
	ownGroup := privateGroup(euid)
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := "/"
	for i, part := range append([]string{""}, parts...) {
		cur = filepath.Join(cur, part)
		var st syscall.Stat_t
		if err := syscall.Lstat(cur, &st); err != nil {
			if errors.Is(err, syscall.ENOENT) {
				return nil
			}
			return fmt.Errorf("look at %s: %w", cur, err)
		}
		last := i == len(parts)
		owner := int(st.Uid)
		mode := os.FileMode(st.Mode & 0o7777)
		switch {
		case st.Mode&syscall.S_IFMT == syscall.S_IFLNK:
			if owner != euid && owner != 0 {
				return fmt.Errorf("the symbolic link %s belongs to %s, who could point it elsewhere", cur, userName(owner))
			}
		case last && owner != euid:
			return fmt.Errorf("it belongs to %s, not to you (%s)", userName(owner), userName(euid))
		case last && othersMayWrite(st, ownGroup):
			return fmt.Errorf("its mode %04o lets others write in it (chmod go-w it)", mode.Perm())
		case owner != euid && owner != 0:
			return fmt.Errorf("the directory %s above it belongs to %s, who could replace it", cur, userName(owner))
		case othersMayWrite(st, ownGroup) && mode&os.FileMode(syscall.S_ISVTX) == 0:
			return fmt.Errorf("the directory %s above it (mode %04o) lets others replace it", cur, mode.Perm())
		}
	}
	return nil
}

// othersMayWrite reports whether a user other than the owner may write in
// the directory st describes: it is writable by all, or by a group that is
// not ownGroup (privateGroup's; -1 for none).
func othersMayWrite(st syscall.Stat_t, ownGroup int) bool {
	return st.Mode&0o002 != 0 || st.Mode&0o020 != 0 && int(st.Gid) != ownGroup
}

// privateGroup returns the gid of the user-private group of uid (a group
// named as the user, their primary group: useradd's USERGROUPS_ENAB), or -1
// when they have none.
func privateGroup(uid int) int {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return -1
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil || g.Name != u.Username {
		return -1
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return -1
	}
	return gid
}

// userName names uid as "name (uid N)", or "uid N" when it has no name.
func userName(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

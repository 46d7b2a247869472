package tuning

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultCgroupRoot is where the cgroup v2 hierarchy is mounted on Linux.
const DefaultCgroupRoot = "/sys/fs/cgroup"

// DefaultProcCgroup is the file that names the cgroup of the current process.
const DefaultProcCgroup = "/proc/self/cgroup"

// cgroupLimits is what readCgroup found: the tightest limits of the process's
// cgroup v2 group and its ancestors. Zero means "no limit found".
type cgroupLimits struct {
	path   string
	cpu    float64
	memory uint64
	notes  []string
}

// readCgroup reads memory.max and cpu.max of the group named in procCgroup and
// of every ancestor up to root, keeping the tightest of each: a parent's limit
// binds its children. Missing files mean no limit (the controller is not
// enabled there, or this is not cgroup v2); malformed files are skipped with a
// note. It never fails.
func readCgroup(root, procCgroup string) cgroupLimits {
	var lim cgroupLimits
	group, err := cgroupGroup(procCgroup)
	if err != nil {
		lim.notes = append(lim.notes, err.Error())
		return lim
	}
	lim.path = group

	// Walk from the group up to the root: /a/b, /a, /.
	for dir := group; ; dir = path.Dir(dir) {
		full := filepath.Join(root, filepath.FromSlash(dir))
		if mem, ok, err := readMemoryMax(filepath.Join(full, "memory.max")); err != nil {
			lim.notes = append(lim.notes, err.Error())
		} else if ok && (lim.memory == 0 || mem < lim.memory) {
			lim.memory = mem
		}
		if cpu, ok, err := readCPUMax(filepath.Join(full, "cpu.max")); err != nil {
			lim.notes = append(lim.notes, err.Error())
		} else if ok && (lim.cpu == 0 || cpu < lim.cpu) {
			lim.cpu = cpu
		}
		if dir == "/" {
			break
		}
	}
	return lim
}

// cgroupGroup returns the cgroup v2 group path ("0::/some/group") from a
// /proc/self/cgroup file, cleaned and absolute. A path outside the visible
// hierarchy (it starts with /.. inside a cgroup namespace) is an error.
func cgroupGroup(procCgroup string) (string, error) {
	f, err := os.Open(procCgroup)
	if err != nil {
		return "", fmt.Errorf("read cgroup membership: %w", err)
	}
	defer f.Close() //nolint:errcheck // read-only

	sc := bufio.NewScanner(f)
	for sc.Scan() {
		group, ok := strings.CutPrefix(sc.Text(), "0::")
		if !ok {
			continue
		}
		if !strings.HasPrefix(group, "/") {
			return "", fmt.Errorf("read cgroup membership %s: malformed cgroup v2 path %q", procCgroup, group)
		}
		if group == "/.." || strings.HasPrefix(group, "/../") {
			return "", fmt.Errorf("read cgroup membership %s: cgroup %q is outside the visible hierarchy", procCgroup, group)
		}
		return path.Clean(group), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read cgroup membership %s: %w", procCgroup, err)
	}
	return "", fmt.Errorf("read cgroup membership %s: no cgroup v2 entry", procCgroup)
}

// readMemoryMax reads a memory.max file: a byte count or "max". ok is false when
// there is no limit ("max" or no file).
func readMemoryMax(file string) (limit uint64, ok bool, err error) {
	content, found, err := readLimitFile(file)
	if err != nil || !found || content == "max" {
		return 0, false, err
	}
	n, perr := strconv.ParseUint(content, 10, 64)
	if perr != nil || n == 0 {
		return 0, false, fmt.Errorf("read %s: malformed memory limit %q, ignored", file, content)
	}
	return n, true, nil
}

// readCPUMax reads a cpu.max file, "$QUOTA $PERIOD" or "max $PERIOD", and
// returns quota/period in CPUs. ok is false when there is no limit.
func readCPUMax(file string) (cpus float64, ok bool, err error) {
	content, found, err := readLimitFile(file)
	if err != nil || !found {
		return 0, false, err
	}
	fields := strings.Fields(content)
	if len(fields) == 0 || len(fields) > 2 {
		return 0, false, fmt.Errorf("read %s: malformed cpu limit %q, ignored", file, content)
	}
	period := 100_000.0 // the kernel default when the period is omitted
	if len(fields) == 2 {
		p, perr := strconv.ParseUint(fields[1], 10, 64)
		if perr != nil || p == 0 {
			return 0, false, fmt.Errorf("read %s: malformed cpu period %q, ignored", file, content)
		}
		period = float64(p)
	}
	if fields[0] == "max" {
		return 0, false, nil
	}
	quota, perr := strconv.ParseUint(fields[0], 10, 64)
	if perr != nil || quota == 0 {
		return 0, false, fmt.Errorf("read %s: malformed cpu quota %q, ignored", file, content)
	}
	return float64(quota) / period, true, nil
}

// readLimitFile returns the trimmed content of a cgroup interface file; found
// is false when the file does not exist.
func readLimitFile(file string) (content string, found bool, err error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read %s: %w", file, err)
	}
	return strings.TrimSpace(string(b)), true, nil
}

// coresForLimit turns a CPU limit such as 1.5 into whole cores: rounded up, at
// least 1, and no more than math.MaxInt32.
func coresForLimit(cpus float64) int {
	return int(min(max(math.Ceil(cpus), 1), math.MaxInt32))
}

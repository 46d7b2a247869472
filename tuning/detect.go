package tuning

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/elastic/go-sysinfo"
)

// DetectOption changes where Detect looks.
type DetectOption func(*detectConfig)

type detectConfig struct {
	cgroupRoot string
	procCgroup string
	hostCores  func() int
	hostMemory func() (uint64, error)
}

// WithCgroupRoot makes Detect read cgroup v2 files under dir instead of
// DefaultCgroupRoot. An empty dir disables cgroup detection.
func WithCgroupRoot(dir string) DetectOption {
	return func(c *detectConfig) { c.cgroupRoot = dir }
}

// WithProcCgroup makes Detect read the process's cgroup membership from file
// instead of DefaultProcCgroup.
func WithProcCgroup(file string) DetectOption {
	return func(c *detectConfig) { c.procCgroup = file }
}

// Detect returns the resources the current process may use:
//
//   - Cores is runtime.GOMAXPROCS(0), which since Go 1.25 follows the CPU limit
//     of the process's own cgroup (rounded up, at least 2) and an explicit
//     GOMAXPROCS. When cpu.max of the group or of any ancestor allows fewer
//     CPUs (rounded up, at least 1), that number is used instead.
//   - MemoryBytes is the host's total physical memory from go-sysinfo, or the
//     group's (or an ancestor's) memory.max when that is lower.
//
// Only cgroup v2 is read. Missing cgroup files and "max" mean no limit;
// malformed ones are ignored and listed in Source.Notes. Detect fails, with
// ErrUnknownMemory, only when neither the host nor the cgroup gives a memory
// size.
func Detect(opts ...DetectOption) (Resources, error) {
	cfg := detectConfig{
		cgroupRoot: DefaultCgroupRoot,
		procCgroup: DefaultProcCgroup,
		hostCores:  func() int { return runtime.GOMAXPROCS(0) },
		hostMemory: hostMemory,
	}
	for _, opt := range opts {
		opt(&cfg)
	}

	var lim cgroupLimits
	if cfg.cgroupRoot != "" {
		lim = readCgroup(cfg.cgroupRoot, cfg.procCgroup)
	}

	src := Source{
		CPU:                    SourceRuntime,
		Memory:                 SourceHost,
		HostCores:              cfg.hostCores(),
		CgroupPath:             lim.path,
		CgroupCPULimit:         lim.cpu,
		CgroupMemoryLimitBytes: lim.memory,
		Notes:                  lim.notes,
	}
	res := Resources{Cores: src.HostCores}
	if lim.cpu > 0 {
		if n := coresForLimit(lim.cpu); n < res.Cores {
			res.Cores, src.CPU = n, SourceCgroup
		}
	}

	hostMem, memErr := cfg.hostMemory()
	src.HostMemoryBytes = hostMem
	res.MemoryBytes = hostMem
	if lim.memory > 0 && (hostMem == 0 || lim.memory < hostMem) {
		res.MemoryBytes, src.Memory = lim.memory, SourceCgroup
	}
	res.Source = src
	if res.MemoryBytes == 0 {
		if memErr == nil {
			memErr = errors.New("host reports 0 bytes")
		}
		return res, fmt.Errorf("detect memory: %w: %w", ErrUnknownMemory, memErr)
	}
	if memErr != nil {
		res.Source.Notes = append(res.Source.Notes, fmt.Sprintf("read host memory: %v", memErr))
	}
	return res, nil
}

// hostMemory returns the host's total physical memory.
func hostMemory() (uint64, error) {
	h, err := sysinfo.Host()
	if err != nil {
		return 0, fmt.Errorf("read host info: %w", err)
	}
	mem, err := h.Memory()
	if err != nil {
		return 0, fmt.Errorf("read host memory: %w", err)
	}
	return mem.Total, nil
}

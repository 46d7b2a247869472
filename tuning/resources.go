package tuning

// Binary size units, for building Resources by hand: 196 * tuning.GiB.
const (
	KiB uint64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
)

// DefaultSpindleFactor is the effective spindle count added to cores × 2 when
// Resources.SpindleFactor is zero. The PostgreSQL wiki formula counts each
// independent I/O path of the database storage as a spindle; 4 stands for a
// small SSD/NVMe array, and keeps a few connections available for the ones that
// wait on I/O. With it a 48-core machine gets 48 × 2 + 4 = 100 connections.
const DefaultSpindleFactor = 4

// Resources describes a machine, or the share of it the process may use. It is
// the only input of PlanFor; build it by hand to simulate a machine, or get it
// from Detect.
type Resources struct {
	// Cores is the number of CPUs the process may run on at once. It must be at
	// least 1.
	Cores int `json:"cores"`
	// MemoryBytes is the total memory the process may use, in bytes. It must be
	// at least 1.
	MemoryBytes uint64 `json:"memory_bytes"`
	// SpindleFactor is the effective spindle count in the pool formula
	// cores × 2 + spindle factor. Zero selects DefaultSpindleFactor; negative
	// values are an error.
	SpindleFactor int `json:"spindle_factor,omitempty"`
	// Source says where Cores and MemoryBytes came from. PlanFor ignores it.
	Source Source `json:"source"`
}

// Source records how Detect arrived at a Resources value, for reports and logs.
type Source struct {
	// CPU names where Cores came from: SourceRuntime, SourceCgroup or, for a
	// simulated machine, SourceManual.
	CPU string `json:"cpu,omitempty"`
	// Memory names where MemoryBytes came from: SourceHost, SourceCgroup or
	// SourceManual.
	Memory string `json:"memory,omitempty"`
	// HostCores is runtime.GOMAXPROCS(0) at detection time.
	HostCores int `json:"host_cores,omitempty"`
	// HostMemoryBytes is the host's total physical memory, 0 when unknown.
	HostMemoryBytes uint64 `json:"host_memory_bytes,omitempty"`
	// CgroupPath is the cgroup v2 group of the process, relative to the cgroup
	// root; empty when no cgroup v2 membership was found.
	CgroupPath string `json:"cgroup_path,omitempty"`
	// CgroupCPULimit is the tightest cpu.max quota/period of the group and its
	// ancestors, in CPUs; 0 means no limit was found.
	CgroupCPULimit float64 `json:"cgroup_cpu_limit,omitempty"`
	// CgroupMemoryLimitBytes is the tightest memory.max of the group and its
	// ancestors; 0 means no limit was found.
	CgroupMemoryLimitBytes uint64 `json:"cgroup_memory_limit_bytes,omitempty"`
	// Notes lists what detection skipped and why (a missing or malformed file).
	Notes []string `json:"notes,omitempty"`
}

// Values of Source.CPU and Source.Memory.
const (
	// SourceRuntime means Cores is runtime.GOMAXPROCS(0), which since Go 1.25
	// already follows the leaf cgroup's CPU limit (rounded up, at least 2).
	SourceRuntime = "runtime.GOMAXPROCS"
	// SourceHost means MemoryBytes is the host's total physical memory.
	SourceHost = "host"
	// SourceCgroup means the value is a cgroup v2 limit lower than the host's.
	SourceCgroup = "cgroup v2"
	// SourceManual means the value was given by hand (flags, tests).
	SourceManual = "manual"
)

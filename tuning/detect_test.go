package tuning_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/tuning"
)

// fakeCgroup is a cgroup v2 tree in a temporary directory: a /proc/self/cgroup
// file naming group, and interface files by path relative to the root.
type fakeCgroup struct {
	group string            // "" writes no cgroup v2 line
	files map[string]string // "kubepods/pod1/memory.max" → "4294967296\n"
}

func (f fakeCgroup) write(t *testing.T) (root, procCgroup string) {
	t.Helper()
	dir := t.TempDir()
	root = filepath.Join(dir, "cgroup")
	require.NoError(t, os.MkdirAll(root, 0o755))
	proc := "12:memory:/legacy\n"
	if f.group != "" {
		proc += "0::" + f.group + "\n"
	}
	procCgroup = filepath.Join(dir, "proc-self-cgroup")
	require.NoError(t, os.WriteFile(procCgroup, []byte(proc), 0o644))
	for name, content := range f.files {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return root, procCgroup
}

func TestDetectCgroup(t *testing.T) {
	t.Parallel()

	const (
		hostCores = 64
		hostMem   = 256 * tuning.GiB
	)
	tests := []struct {
		name      string
		cg        fakeCgroup
		cores     int
		memory    uint64
		cpuSrc    string
		memSrc    string
		cgCPU     float64
		cgMem     uint64
		noteCount int
	}{
		{
			name: "2 CPU 4 GiB container on a 64-core host",
			cg: fakeCgroup{group: "/kubepods/pod1", files: map[string]string{
				"kubepods/pod1/memory.max": "4294967296\n",
				"kubepods/pod1/cpu.max":    "200000 100000\n",
			}},
			cores: 2, memory: 4 * tuning.GiB, cpuSrc: tuning.SourceCgroup, memSrc: tuning.SourceCgroup,
			cgCPU: 2, cgMem: 4 * tuning.GiB,
		},
		{
			name: "fractional CPU limit rounds up",
			cg: fakeCgroup{group: "/app", files: map[string]string{
				"app/cpu.max": "150000 100000\n",
			}},
			cores: 2, memory: hostMem, cpuSrc: tuning.SourceCgroup, memSrc: tuning.SourceHost, cgCPU: 1.5,
		},
		{
			name: "tiny CPU limit gives at least one core",
			cg: fakeCgroup{group: "/app", files: map[string]string{
				"app/cpu.max": "10000 100000\n",
			}},
			cores: 1, memory: hostMem, cpuSrc: tuning.SourceCgroup, memSrc: tuning.SourceHost, cgCPU: 0.1,
		},
		{
			name: "unlimited max uses the host",
			cg: fakeCgroup{group: "/app", files: map[string]string{
				"app/memory.max": "max\n",
				"app/cpu.max":    "max 100000\n",
			}},
			cores: hostCores, memory: hostMem, cpuSrc: tuning.SourceRuntime, memSrc: tuning.SourceHost,
		},
		{
			name:  "missing files use the host",
			cg:    fakeCgroup{group: "/app"},
			cores: hostCores, memory: hostMem, cpuSrc: tuning.SourceRuntime, memSrc: tuning.SourceHost,
		},
		{
			name:  "no cgroup v2 membership uses the host",
			cg:    fakeCgroup{},
			cores: hostCores, memory: hostMem, cpuSrc: tuning.SourceRuntime, memSrc: tuning.SourceHost, noteCount: 1,
		},
		{
			name: "limits above the host are ignored",
			cg: fakeCgroup{group: "/app", files: map[string]string{
				"app/memory.max": "1125899906842624\n", // 1 PiB
				"app/cpu.max":    "12800000 100000\n",  // 128 CPUs
			}},
			cores: hostCores, memory: hostMem, cpuSrc: tuning.SourceRuntime, memSrc: tuning.SourceHost,
			cgCPU: 128, cgMem: tuning.PiB,
		},
		{
			name: "a parent's tighter limit binds the group",
			cg: fakeCgroup{group: "/system.slice/intel.service", files: map[string]string{
				"system.slice/memory.max":               "2147483648\n",
				"system.slice/cpu.max":                  "300000 100000\n",
				"system.slice/intel.service/memory.max": "8589934592\n",
				"system.slice/intel.service/cpu.max":    "max 100000\n",
			}},
			cores: 3, memory: 2 * tuning.GiB, cpuSrc: tuning.SourceCgroup, memSrc: tuning.SourceCgroup,
			cgCPU: 3, cgMem: 2 * tuning.GiB,
		},
		{
			name: "root group in a container namespace",
			cg: fakeCgroup{group: "/", files: map[string]string{
				"memory.max": "536870912\n",
				"cpu.max":    "100000\n", // period omitted: kernel default 100000
			}},
			cores: 1, memory: 512 * tuning.MiB, cpuSrc: tuning.SourceCgroup, memSrc: tuning.SourceCgroup,
			cgCPU: 1, cgMem: 512 * tuning.MiB,
		},
		{
			name: "malformed files are ignored with a note",
			cg: fakeCgroup{group: "/app", files: map[string]string{
				"app/memory.max": "lots\n",
				"app/cpu.max":    "200000 0\n",
			}},
			cores: hostCores, memory: hostMem, cpuSrc: tuning.SourceRuntime, memSrc: tuning.SourceHost, noteCount: 2,
		},
		{
			name: "more malformed shapes",
			cg: fakeCgroup{group: "/app", files: map[string]string{
				"app/memory.max": "0\n",
				"app/cpu.max":    "1 2 3\n",
			}},
			cores: hostCores, memory: hostMem, cpuSrc: tuning.SourceRuntime, memSrc: tuning.SourceHost, noteCount: 2,
		},
		{
			name:  "a group outside the namespace is not followed",
			cg:    fakeCgroup{group: "/../../escape"},
			cores: hostCores, memory: hostMem, cpuSrc: tuning.SourceRuntime, memSrc: tuning.SourceHost, noteCount: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			root, proc := tt.cg.write(t)
			res, err := tuning.Detect(
				tuning.WithCgroupRoot(root),
				tuning.WithProcCgroup(proc),
				tuning.WithHost(hostCores, hostMem, nil),
			)
			require.NoError(t, err)
			require.Equal(t, tt.cores, res.Cores)
			require.Equal(t, tt.memory, res.MemoryBytes)
			require.Equal(t, tt.cpuSrc, res.Source.CPU)
			require.Equal(t, tt.memSrc, res.Source.Memory)
			require.InDelta(t, tt.cgCPU, res.Source.CgroupCPULimit, 1e-9)
			require.Equal(t, tt.cgMem, res.Source.CgroupMemoryLimitBytes)
			require.Equal(t, hostCores, res.Source.HostCores)
			require.Equal(t, uint64(hostMem), res.Source.HostMemoryBytes)
			require.Len(t, res.Source.Notes, tt.noteCount, "notes: %q", res.Source.Notes)

			_, err = tuning.PlanFor(res)
			require.NoError(t, err)
		})
	}
}

func TestDetectSmallContainerPlansSmall(t *testing.T) {
	t.Parallel()

	root, proc := fakeCgroup{group: "/docker/abc", files: map[string]string{
		"docker/abc/memory.max": "4294967296\n",
		"docker/abc/cpu.max":    "200000 100000\n",
	}}.write(t)
	res, err := tuning.Detect(tuning.WithCgroupRoot(root), tuning.WithProcCgroup(proc),
		tuning.WithHost(64, 512*tuning.GiB, nil))
	require.NoError(t, err)
	plan, err := tuning.PlanFor(res)
	require.NoError(t, err)
	require.Equal(t, tuning.Small, plan.Class)
	require.Less(t, plan.MaxConns, int32(50))
	require.Equal(t, 500, plan.BatchSize)
	require.Equal(t, 1, plan.ParserWorkers)
}

func TestDetectFallbacks(t *testing.T) {
	t.Parallel()

	hostErr := errors.New("no /proc/meminfo")
	t.Run("host fails and no cgroup limit", func(t *testing.T) {
		t.Parallel()

		root, proc := fakeCgroup{group: "/app"}.write(t)
		_, err := tuning.Detect(tuning.WithCgroupRoot(root), tuning.WithProcCgroup(proc),
			tuning.WithHost(4, 0, hostErr))
		require.ErrorIs(t, err, tuning.ErrUnknownMemory)
		require.ErrorIs(t, err, hostErr)
	})
	t.Run("no /proc/self/cgroup uses the host with a note", func(t *testing.T) {
		t.Parallel()

		res, err := tuning.Detect(tuning.WithCgroupRoot(t.TempDir()),
			tuning.WithProcCgroup(filepath.Join(t.TempDir(), "missing")), tuning.WithHost(4, 8*tuning.GiB, nil))
		require.NoError(t, err)
		require.Equal(t, 4, res.Cores)
		require.Equal(t, 8*tuning.GiB, res.MemoryBytes)
		require.Len(t, res.Source.Notes, 1)
		require.Contains(t, res.Source.Notes[0], "read cgroup membership")
	})
	t.Run("host reports zero", func(t *testing.T) {
		t.Parallel()

		_, err := tuning.Detect(tuning.WithCgroupRoot(""), tuning.WithHost(4, 0, nil))
		require.ErrorIs(t, err, tuning.ErrUnknownMemory)
	})
	t.Run("host fails but the cgroup limit is known", func(t *testing.T) {
		t.Parallel()

		root, proc := fakeCgroup{group: "/app", files: map[string]string{
			"app/memory.max": "1073741824\n",
		}}.write(t)
		res, err := tuning.Detect(tuning.WithCgroupRoot(root), tuning.WithProcCgroup(proc),
			tuning.WithHost(4, 0, hostErr))
		require.NoError(t, err)
		require.Equal(t, tuning.GiB, res.MemoryBytes)
		require.Equal(t, tuning.SourceCgroup, res.Source.Memory)
		require.Len(t, res.Source.Notes, 1)
	})
}

func TestDetectThisMachine(t *testing.T) {
	t.Parallel()

	res, err := tuning.Detect()
	require.NoError(t, err)
	require.GreaterOrEqual(t, res.Cores, 1)
	require.LessOrEqual(t, res.Cores, runtime.GOMAXPROCS(0))
	require.Positive(t, res.MemoryBytes)
	require.Positive(t, res.Source.HostMemoryBytes)
	require.LessOrEqual(t, res.MemoryBytes, res.Source.HostMemoryBytes)

	_, err = tuning.PlanFor(res)
	require.NoError(t, err)
}

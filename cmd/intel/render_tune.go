package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ransomeye/intel/tuning"
)

// writeTuneTable writes a tuning report as an aligned two-part table: the
// resources with where each came from, then the plan with how MaxConns was
// reached.
func writeTuneTable(w io.Writer, rep tuning.Report) error {
	res, src, plan := rep.Resources, rep.Resources.Source, rep.Plan

	var cpuDetail []string
	if src.HostCores > 0 && src.HostCores != res.Cores {
		cpuDetail = append(cpuDetail, fmt.Sprintf("GOMAXPROCS %d", src.HostCores))
	}
	if src.CgroupCPULimit > 0 {
		cpuDetail = append(cpuDetail, "cgroup cpu.max "+strconv.FormatFloat(src.CgroupCPULimit, 'f', -1, 64))
	}
	var memDetail []string
	if src.HostMemoryBytes > 0 && src.HostMemoryBytes != res.MemoryBytes {
		memDetail = append(memDetail, "host "+formatBytes(src.HostMemoryBytes))
	}
	if src.CgroupMemoryLimitBytes > 0 {
		memDetail = append(memDetail, "cgroup memory.max "+formatBytes(src.CgroupMemoryLimitBytes))
	}

	t := newTable(w)
	t.row("RESOURCE", "VALUE", "FROM")
	t.row("cores", res.Cores, withDetail(src.CPU, cpuDetail))
	t.row("memory", formatBytes(res.MemoryBytes), withDetail(src.Memory, memDetail))
	if src.CgroupPath != "" {
		t.row("cgroup", src.CgroupPath, "")
	}
	for _, note := range src.Notes {
		t.row("note", note, "")
	}
	t.row()
	t.row("PLAN", "VALUE", "WHY")
	t.row("class", plan.Class, classWhy(plan.Class))
	t.row("max conns", plan.MaxConns, fmt.Sprintf("min(cores × 2 + spindle factor %d, %s cap %d)",
		plan.SpindleFactor, plan.Class, plan.PoolCap))
	t.row("min conns", plan.MinConns, "max conns / 4, at least 1")
	t.row("batch size", plan.BatchSize, "rows per insert batch")
	t.row("parser workers", plan.ParserWorkers, "goroutines parsing feed records")
	t.row("writers", plan.Writers, "write transactions at once: cores, at most max conns / 2")
	t.row("telemetry streams", plan.TelemetryStreams, "COPY streams of a shared telemetry writer: cores, at most max conns / 2")
	t.row("endpoint cache", plan.EndpointCacheKeys, "telemetry endpoints remembered per generation: memory / 64 KiB, 32,768-524,288")
	return t.flush("plan table")
}

// classWhy states the rule that puts a machine in class c.
func classWhy(c tuning.Class) string {
	switch c {
	case tuning.Small:
		return "memory < 16 GiB or cores <= 4"
	case tuning.Large:
		return "memory > 100 GiB and cores > 16"
	default:
		return "neither small nor large"
	}
}

// withDetail appends details in parentheses: "cgroup v2 (host 512 GiB)".
func withDetail(from string, details []string) string {
	if len(details) == 0 {
		return from
	}
	return strings.TrimSpace(from + " (" + strings.Join(details, ", ") + ")")
}

// formatBytes writes n with the largest binary unit that keeps it at least
// 1, with up to two decimals: 196 GiB, 1.5 GiB, 512 MiB, 1 TiB, 100 B.
// tuning.ParseBytes reads it back.
func formatBytes(n uint64) string {
	units := []struct {
		size uint64
		name string
	}{{tuning.PiB, "PiB"}, {tuning.TiB, "TiB"}, {tuning.GiB, "GiB"}, {tuning.MiB, "MiB"}, {tuning.KiB, "KiB"}}
	for _, u := range units {
		if n >= u.size {
			v := float64(n) / float64(u.size)
			return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64) + " " + u.name
		}
	}
	return strconv.FormatUint(n, 10) + " B"
}

package tuning

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is a machine's resources and the plan for them, for a command-line
// tool to print with WriteTable or encoding/json.
type Report struct {
	// Resources is what was detected or simulated.
	Resources Resources `json:"resources"`
	// Plan is PlanFor(Resources).
	Plan Plan `json:"plan"`
}

// NewReport plans for r and returns both. It fails as PlanFor does.
func NewReport(r Resources) (Report, error) {
	plan, err := PlanFor(r)
	if err != nil {
		return Report{}, err
	}
	return Report{Resources: r, Plan: plan}, nil
}

// WriteTable writes rep to w as an aligned two-part table: the resources with
// where each came from, then the plan with how MaxConns was reached.
func WriteTable(w io.Writer, rep Report) error {
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
		memDetail = append(memDetail, "host "+FormatBytes(src.HostMemoryBytes))
	}
	if src.CgroupMemoryLimitBytes > 0 {
		memDetail = append(memDetail, "cgroup memory.max "+FormatBytes(src.CgroupMemoryLimitBytes))
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// row ends a line after its last cell, so lines carry no trailing blanks.
	// The first write error is kept and reported with Flush's.
	var werr error
	write := func(a any) {
		if werr == nil {
			_, werr = fmt.Fprint(tw, a)
		}
	}
	row := func(cells ...any) {
		for len(cells) > 0 && cells[len(cells)-1] == "" {
			cells = cells[:len(cells)-1]
		}
		for i, c := range cells {
			if i > 0 {
				write("\t")
			}
			write(c)
		}
		write("\n")
	}
	row("RESOURCE", "VALUE", "FROM")
	row("cores", res.Cores, withDetail(src.CPU, cpuDetail))
	row("memory", FormatBytes(res.MemoryBytes), withDetail(src.Memory, memDetail))
	if src.CgroupPath != "" {
		row("cgroup", src.CgroupPath, "")
	}
	for _, note := range src.Notes {
		row("note", note, "")
	}
	row()
	row("PLAN", "VALUE", "WHY")
	row("class", plan.Class, classWhy(plan.Class))
	row("max conns", plan.MaxConns, fmt.Sprintf("min(cores × 2 + spindle factor %d, %s cap %d)",
		plan.SpindleFactor, plan.Class, plan.PoolCap))
	row("min conns", plan.MinConns, "max conns / 4, at least 1")
	row("batch size", plan.BatchSize, "rows per insert batch")
	row("parser workers", plan.ParserWorkers, "goroutines parsing feed records")
	if err := tw.Flush(); werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("write plan table: %w", werr)
	}
	return nil
}

// classWhy states the rule that puts a machine in class c.
func classWhy(c Class) string {
	switch c {
	case Small:
		return "memory < 16 GiB or cores <= 4"
	case Large:
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

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/tuning"
)

// tuneOptions are the flags of intel tune. cores and memory, when set,
// simulate another machine.
type tuneOptions struct {
	format              string
	cores               int
	memory              string
	coresSet, memorySet bool
	spindle             int
}

func (a *app) tuneCommand() *cobra.Command {
	var o tuneOptions
	cmd := &cobra.Command{
		Use:         "tune",
		Annotations: readOnlyCut,
		Short:       "Show the detected machine and the pool, batch and worker sizes derived from it",
		Long: `tune prints what intel detects about this machine (cores from the Go runtime,
memory from the host, both capped by cgroup v2 cpu.max and memory.max in a
container) and the plan derived from it: connection pool size
(cores × 2 + spindle factor, capped at 50 / 200 / 400 by memory class), insert
batch size and parser workers. --cores and --memory simulate another machine.`,
		Example: `  intel tune
  intel tune --cores 48 --memory 196GiB --format json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.coresSet, o.memorySet = cmd.Flags().Changed("cores"), cmd.Flags().Changed("memory")
			return a.runTune(o)
		},
	}
	cmd.Flags().StringVar(&o.format, "format", "table", "table or json")
	cmd.Flags().IntVar(&o.cores, "cores", 0, "simulate a machine with this many cores")
	cmd.Flags().StringVar(&o.memory, "memory", "", "simulate a machine with this much memory (e.g. 196GiB, 512MiB)")
	cmd.Flags().IntVar(&o.spindle, "spindle-factor", 0, fmt.Sprintf("spindle factor of the pool formula (0: default %d)", tuning.DefaultSpindleFactor))
	intRange(cmd.Flags(), "cores", 1, 1<<20)
	intRange(cmd.Flags(), "spindle-factor", 0, 1000)
	return cmd
}

// runTune prints the detected (or simulated) machine and the plan for it.
func (a *app) runTune(o tuneOptions) error {
	if err := formatFlag(o.format, "table", "json"); err != nil {
		return err
	}
	res, err := tuning.Detect()
	if err != nil && !o.coresSet && !o.memorySet {
		return fmt.Errorf("detect the machine: %w (simulate one with --cores and --memory)", err)
	}
	if o.coresSet {
		res.Cores = o.cores
		res.Source.CPU = tuning.SourceManual
	}
	if o.memorySet {
		n, err := tuning.ParseBytes(o.memory)
		if err != nil {
			return usagef("--memory: %v", err)
		}
		if n <= 0 {
			// Was: exit 1, "plan for 0 bytes of memory: total memory
			// is unknown", for what is a mistyped flag.
			return usagef("--memory %q: want a size above zero, such as 512MiB or 196GiB", o.memory)
		}
		res.MemoryBytes = n
		res.Source.Memory = tuning.SourceManual
	}
	res.SpindleFactor = o.spindle
	rep, err := tuning.NewReport(res)
	if err != nil {
		return err
	}
	return printAs(a.stdout, o.format, rep, writeTuneTable)
}

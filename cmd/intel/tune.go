package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/tuning"
)

func (a *app) tuneCommand() *cobra.Command {
	var format, memory string
	var cores, spindle int
	cmd := &cobra.Command{
		Use:   "tune",
		Short: "Show the detected machine and the pool, batch and worker sizes derived from it",
		Long: `tune prints what intel detects about this machine (cores from the Go runtime,
memory from the host, both capped by cgroup v2 cpu.max and memory.max in a
container) and the plan derived from it: connection pool size
(cores × 2 + spindle factor, capped at 50 / 200 / 400 by memory class), insert
batch size and parser workers. --cores and --memory simulate another machine.`,
		Example: `  intel tune
  intel tune --cores 48 --memory 196GiB --format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := formatFlag(format, "table", "json"); err != nil {
				return err
			}
			res, err := tuning.Detect()
			if err != nil && !cmd.Flags().Changed("cores") && !cmd.Flags().Changed("memory") {
				return fmt.Errorf("detect the machine: %w (simulate one with --cores and --memory)", err)
			}
			if cmd.Flags().Changed("cores") {
				res.Cores = cores
				res.Source.CPU = tuning.SourceManual
			}
			if cmd.Flags().Changed("memory") {
				n, err := tuning.ParseBytes(memory)
				if err != nil {
					return usagef("--memory: %v", err)
				}
				res.MemoryBytes = n
				res.Source.Memory = tuning.SourceManual
			}
			res.SpindleFactor = spindle
			rep, err := tuning.NewReport(res)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(a.stdout, rep)
			}
			return tuning.WriteTable(a.stdout, rep)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "table or json")
	cmd.Flags().IntVar(&cores, "cores", 0, "simulate a machine with this many cores")
	cmd.Flags().StringVar(&memory, "memory", "", "simulate a machine with this much memory (e.g. 196GiB, 512MiB)")
	cmd.Flags().IntVar(&spindle, "spindle-factor", 0, fmt.Sprintf("spindle factor of the pool formula (0: default %d)", tuning.DefaultSpindleFactor))
	return cmd
}

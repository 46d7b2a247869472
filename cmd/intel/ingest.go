package main

import (
	"github.com/spf13/cobra"
)

func (a *app) ingestCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Load STIX, MISP, feed lists and telemetry into the graph",
	}
	return cmd
}

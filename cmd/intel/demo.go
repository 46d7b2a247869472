package main

import (
	"github.com/spf13/cobra"
)

func (a *app) demoCommand() *cobra.Command {
	return &cobra.Command{Use: "demo", Short: "Run the whole product end to end on sample feeds"}
}

package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// usageError marks errors in how the command was called (bad flag, missing
// or extra argument, unknown subcommand), which exit with code 2. They are
// made where the mistake is found: the flag error func of the root, the
// argument validators below, and the validation of flag values.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// usageArgs wraps a cobra argument validator so that what it rejects is a
// usageError.
func usageArgs(validate cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := validate(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// noArgs is the validator of commands that take no arguments.
var noArgs = usageArgs(cobra.NoArgs)

// exactArgs is the validator of commands that take n arguments.
func exactArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.ExactArgs(n)) }

// group makes cmd a command that only holds subcommands: alone it prints its
// help; with an argument that names none of its subcommands it fails with a
// usageError (cobra by itself does that only for the root, and only with a
// plain error).
func group(cmd *cobra.Command, subcommands ...*cobra.Command) *cobra.Command {
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += " (did you mean " + strings.Join(s, " or ") + "?)"
		}
		return usageError{errors.New(msg)}
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.AddCommand(subcommands...)
	return cmd
}

// hideGroupUseLine sets cmd's usage template (which its subcommands
// inherit) to the default one without the "intel [flags]" line for groups:
// they run only to print their help.
func hideGroupUseLine(cmd *cobra.Command) {
	cmd.SetUsageTemplate(strings.Replace(cmd.UsageTemplate(),
		"Usage:{{if .Runnable}}", "Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
}

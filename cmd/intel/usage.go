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

// oneInput is the validator of intel ingest stix, misp and telemetry: one
// file, directory or -. Several (a shell glob) are refused saying how to
// load them, not with cobra's bare count.
func oneInput(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		several := map[string]string{
			"stix":      "give their directory, or list them in a feed list (intel ingest feeds)",
			"misp":      "give their directory, or list them in a feed list (intel ingest feeds)",
			"telemetry": "list them in a feed list (intel ingest feeds), or cat them | intel ingest telemetry -",
		}[cmd.Name()]
		shown := strings.Join(args[:min(len(args), 3)], " ")
		if len(args) > 3 {
			shown += " …"
		}
		return usagef("%s loads one input, a file, a directory or - (got %d arguments: %s); to load several, %s",
			cmd.CommandPath(), len(args), shown, several)
	}
	return exactArgs(1)(cmd, args)
}

// exactArgs is the validator of commands that take n arguments.
func exactArgs(n int) cobra.PositionalArgs { return usageArgs(cobra.ExactArgs(n)) }

// group makes cmd a command that only holds subcommands: alone it prints its
// help; with an argument that names none of its subcommands it fails with a
// usageError (cobra by itself does that only for the root, and only with a
// plain error).
func group(cmd *cobra.Command, subcommands ...*cobra.Command) *cobra.Command {
	cmd.Args = groupArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
	cmd.AddCommand(subcommands...)
	return cmd
}

// groupArgs is the argument validator of a group: no argument.
func groupArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return unknownCommand(cmd, args[0])
}

// unknownCommand is the usage error for name, which is no subcommand of
// cmd, with cobra's suggestions of what was meant; run suggests the help
// of cmd.
func unknownCommand(cmd *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q for %q", name, cmd.CommandPath())
	if s := cmd.SuggestionsFor(name); len(s) > 0 {
		msg += " (did you mean " + strings.Join(s, " or ") + "?)"
	}
	return unknownCommandError{usageError{errors.New(msg)}, cmd.CommandPath()}
}

// unknownCommandError is a usageError about a subcommand of the command at
// path, whose help is the one to read.
type unknownCommandError struct {
	usageError
	path string
}

func (e unknownCommandError) Unwrap() error { return e.usageError }

// strictHelp makes asking for help about an unknown command a usage error
// like running it: intel frobnicate --help, intel migrate redo --help and
// intel help frobnicate exit 2 instead of printing the parent's help. It
// also sets up cobra's completion command (added on its own only when the
// root runs), whose group and subcommands then validate their arguments
// like every other command.
func (a *app) strictHelp(root *cobra.Command) {
	help := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		// --help stopped cobra before the group's argument validator ran:
		// what is left after the flags names a subcommand that is not one.
		if rest := cmd.Flags().Args(); cmd.HasSubCommands() && len(rest) > 0 {
			a.helpErr = unknownCommand(cmd, rest[0])
			return
		}
		help(cmd, args)
	})
	root.SetHelpCommand(&cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		Long:  "help prints the help of a command: intel help ingest stix is intel ingest stix --help.",
		Args:  usageArgs(cobra.ArbitraryArgs),
		RunE: func(_ *cobra.Command, args []string) error {
			cmd := root
			for _, name := range args {
				sub, _, err := cmd.Find([]string{name})
				if err != nil || sub == cmd || sub == nil {
					return unknownCommand(cmd, name)
				}
				cmd = sub
			}
			return cmd.Help()
		},
	})
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() != "completion" {
			continue
		}
		c.Args = groupArgs
		c.RunE = func(cmd *cobra.Command, _ []string) error { return cmd.Help() }
		for _, sub := range c.Commands() {
			sub.Args = usageArgs(sub.Args)
		}
	}
}

// hideGroupUseLine sets cmd's usage template (which its subcommands
// inherit) to the default one without the "intel [flags]" line for groups:
// they run only to print their help.
func hideGroupUseLine(cmd *cobra.Command) {
	cmd.SetUsageTemplate(strings.Replace(cmd.UsageTemplate(),
		"Usage:{{if .Runnable}}", "Usage:{{if and .Runnable (not .HasAvailableSubCommands)}}", 1))
}

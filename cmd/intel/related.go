package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/graph"
)

func (a *app) relatedCommand() *cobra.Command {
	var (
		format, output, since, until string
		opts                         graph.RelatedOptions
	)
	cmd := &cobra.Command{
		Use:   "related <node id | kind:key | source id>",
		Short: "Show what is related to a node, up to N hops, in one query",
		Long: `related walks the graph from a node: intelligence relations in both
directions and endpoint telemetry inside a time window, each node expanded
once, with caps on fan-out and size. The node is named by its id, by a source
identifier a feed used (a STIX id such as malware--…, a MISP uuid), or by
kind:key — ipv4-addr:198.51.100.7, domain-name:evil.example,
hash:SHA-256:<hex>, malware:lockbit, intrusion-set:apt28, vulnerability:CVE-2021-44228.

--format table draws a tree of the first path to each node; json is for
scripts; dot is for Graphviz (dot -Tsvg).`,
		Example: `  intel related malware:lockbit --depth 2
  intel related hash:SHA-256:9f86d081... --since 720h --format json
  intel related file:invoice.exe --format dot -o related.dot && dot -Tsvg related.dot > related.svg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := formatFlag(format, "table", "json", "dot"); err != nil {
				return err
			}
			now := time.Now().UTC()
			var err error
			if opts.Since, err = parseWhen(since, now); err != nil {
				return usagef("--since: %v", err)
			}
			if opts.Until, err = parseWhen(until, now); err != nil {
				return usagef("--until: %v", err)
			}
			if opts.Depth == 0 {
				opts.Depth = -1 // --depth 0 asks for the start node alone
			}
			store, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			start, err := store.ResolveNode(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			nb, err := store.FindRelated(cmd.Context(), start.ID, opts)
			if err != nil {
				return err
			}
			w := a.stdout
			if output != "" && output != "-" {
				f, err := os.Create(output)
				if err != nil {
					return fmt.Errorf("create %s: %w", output, err)
				}
				defer f.Close()
				w = f
			}
			switch format {
			case "json":
				return writeJSON(w, nb)
			case "dot":
				return writeDOT(w, nb)
			}
			return writeTree(w, nb)
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Depth, "depth", graph.DefaultDepth, "hops to walk (0: the node alone)")
	f.IntVar(&opts.Fanout, "fanout", graph.DefaultFanout, "most edges followed from one node")
	f.IntVar(&opts.MaxNodes, "max-nodes", graph.DefaultMaxNodes, "most nodes returned")
	f.StringVar(&since, "since", "168h", "walk telemetry observed since: a duration back from now (72h) or a date (2026-11-01)")
	f.StringVar(&until, "until", "", "walk telemetry observed before: a duration back from now or a date (default: tomorrow)")
	f.StringVar(&format, "format", "table", "table, json or dot")
	f.StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// parseWhen reads a duration back from now ("72h", "30d") or a date or
// RFC 3339 time; empty means the zero time (the default).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := cutDays(s); ok {
		return now.AddDate(0, 0, -n), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (72h, 30d) nor a date (2006-01-02) or RFC 3339 time", s)
}

func cutDays(s string) (int, bool) {
	if len(s) < 2 || s[len(s)-1] != 'd' {
		return 0, false
	}
	n, err := strconv.Atoi(s[:len(s)-1])
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

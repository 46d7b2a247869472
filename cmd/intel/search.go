package main

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/graph"
)

// searchOptions are the argument and flags of intel search.
type searchOptions struct {
	text   string
	kinds  []string
	limit  int
	exact  bool
	format string
}

func (a *app) searchCommand() *cobra.Command {
	var o searchOptions
	cmd := &cobra.Command{
		Use:         "search <text>",
		Annotations: readOnlyCut,
		Short:       "Find nodes by name, alias or external id (prefix and fuzzy)",
		Long: `search finds nodes whose name, alias, synonym or external id (ATT&CK T1059,
S0606, G0007, CVE ids, ...) equals the text, starts with it, or resembles it
(trigram word similarity, for misspellings), case-insensitively, through a
trigram index. Exact matches come first, then prefixes, then the most
similar. A file hash is found by its digest or a prefix of at least 8 hex
digits of it, with or without the algorithm ("sha256:9f86d081"). Each result
shows the entry that matched; name a result by its id or kind:key in show and
related.`,
		Example: `  intel search sofacy
  intel search 9f86d081
  intel search "bad rabit" --kinds malware
  intel search T1059 --exact --limit 50 --format json`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.text = args[0]
			return a.runSearch(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.kinds, "kinds", nil, "search only these kinds (comma-separated); a kind no node has is refused")
	f.IntVar(&o.limit, "limit", graph.DefaultSearchLimit, "most results")
	intRange(f, "limit", 1, 10_000)
	f.BoolVar(&o.exact, "exact", false, "only entries equal to the text or starting with it (no fuzzy matches)")
	f.StringVar(&o.format, "format", "table", "table or json")
	return cmd
}

func (a *app) runSearch(ctx context.Context, o searchOptions) error {
	if err := formatFlag(o.format, "table", "json"); err != nil {
		return err
	}
	if strings.TrimSpace(o.text) == "" {
		return usagef("search: the text is empty")
	}
	if o.limit <= 0 {
		return usagef("--limit %d: want a positive number", o.limit)
	}
	st, err := a.openReader(ctx)
	if err != nil {
		return err
	}
	opts := graph.SearchOptions{Limit: o.limit, Exact: o.exact}
	for _, k := range o.kinds {
		opts.Kinds = append(opts.Kinds, graph.Kind(k))
	}
	if err := a.checkKinds(ctx, st, "--kinds", opts.Kinds, nil); err != nil {
		return err
	}
	hits, err := st.Search(ctx, o.text, opts)
	if err != nil {
		return err
	}
	if o.format == "json" {
		return writeJSON(a.stdout, hits)
	}
	return writeSearchHits(a.stdout, hits)
}

package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/store"
)

// relatedOptions are the argument and flags of intel related.
type relatedOptions struct {
	node         string // node id, kind:key or source id
	format       string
	output       string
	since, until string
	kinds        []string
	pathsTo      []string
	engine       string
	explain      bool
	walk         graph.RelatedOptions
}

func (a *app) relatedCommand() *cobra.Command {
	var o relatedOptions
	cmd := &cobra.Command{
		Use:         "related <node id | kind:key | source id>",
		Annotations: readOnlyCut,
		Short:       "Show what is related to a node, up to N hops, in one query",
		Long: `related walks the graph from a node: intelligence relations in both
directions and endpoint telemetry inside a time window, each node expanded
once, with caps on fan-out and size. The node is named by its id, by a source
identifier a feed used (a STIX id such as malware--…, a MISP uuid), or by
kind:key — ipv4-addr:198.51.100.7, domain-name:evil.example,
hash:SHA-256:<hex>, malware:lockbit, intrusion-set:apt28, vulnerability:CVE-2021-44228.
A reference naming no node exits 4, one naming several (listed) exits 5.

Relations have a class (see the README): intelligence (indicates, uses,
attributed-to, ...), containment (a report or MISP event holding an object),
provenance (created-by, x-mitre-modified-by, markings) and lifecycle
(revoked-by). The walk follows intelligence and containment; provenance only
with --include-provenance, and any type named by --relations. From each node
it follows at most --fanout edges, intelligence first; a node whose edges
were cut shows its true degree and how many were cut.

Revoked and deprecated objects (STIX revoked, ATT&CK x_mitre_deprecated) are
not live: the walk neither returns nor expands them unless
--include-withdrawn, which returns them marked REVOKED or DEPRECATED (the
start node is always returned, marked if withdrawn). A relationship a source
revoked or deprecated (in any version of it) is not followed either, unless
--include-withdrawn.

--kinds keeps the walk itself to those kinds: from a file, --kinds
intrusion-set reaches an intrusion set only one hop away. To ask which actor
is behind a file through any chain (file -> hash <- indicator -> malware ->
intrusion set), use --paths-to intrusion-set (threat actors too: the two are
one actor entity): the walk goes through every kind, and only the nodes of
those kinds and the path that first reached each are shown.

--format table draws a tree of the first path to each node; json is for
scripts; dot is for Graphviz (dot -Tsvg). The tree and the DOT labels mark a
node whose TLP restricts sharing (TLP:GREEN, TLP:AMBER, TLP:AMBER+STRICT,
TLP:RED); clear and unmarked nodes get no marker.

--explain says which records state each edge, read in one more query after
the walk (json and table only). In json every edge gets "stated_by": one
entry per relationship record behind it, with "ids" (the STIX relationship
ids or misp--<uuid> of MISP object references that name it; none for a link
an object states through its own properties, such as a report's
object_refs), "src_ref" and "dst_ref" (the references the feed wrote),
"feeds", "tlp", "confidence", "first_seen", "last_seen", "props" (what the
source said about the link: a STIX relationship's description and external
references, a MISP object reference's comment), "withdrawn" (with
--include-withdrawn), and "src"/"dst" (the stored nodes) when the record
links nodes that stand for the edge's ends (a revoked object, a name-keyed
node of a group); an edge between such entities lists every stored relation
between them, so its feeds may be more than the edge's "sources". A
telemetry edge gets one entry: "telemetry", "observations", "agents" and the
times inside the window. The table adds a "stated by:" line under each
node for the edge that reached it, quoting the record's description or
comment (cut at 120 characters). An indicator (or a MISP attribute's own
node) that expiration sightings end (a MISP sighting of type 2) says so, as
intel show does: "expiration" on the node in json, "expiration: 2021-01-07
(expired), by 1 expiration sighting" on its line in the table.`,
		Example: `  intel related malware:lockbit --depth 2
  intel related intrusion-set:apt28 --kinds malware,tool --exclude-relations related-to
  intel related file:invoice.exe --paths-to intrusion-set
  intel related hash:SHA-256:9f86d081... --since 720h --format json
  intel related attack-pattern:T1086 --include-withdrawn
  intel related malware:lockbit --engine levels
  intel related intrusion-set:G0007 --depth 1 --format json --explain
  intel related file:invoice.exe --format dot -o related.dot && dot -Tsvg related.dot > related.svg`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.node = args[0]
			return a.runRelated(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.walk.Depth, "depth", graph.DefaultDepth, "hops to walk (0: the node alone)")
	f.IntVar(&o.walk.Fanout, "fanout", graph.DefaultFanout, "most edges followed from one node")
	f.IntVar(&o.walk.MaxNodes, "max-nodes", graph.DefaultMaxNodes, "most nodes returned")
	intRange(f, "depth", 0, noMax)
	intRange(f, "fanout", 1, noMax)
	intRange(f, "max-nodes", 1, noMax)
	f.StringVar(&o.since, "since", "168h", "walk telemetry observed since: a duration back from now (72h) or a date (2026-11-01)")
	f.StringVar(&o.until, "until", "", "walk telemetry observed before: a duration back from now or a date (default: tomorrow)")
	f.StringSliceVar(&o.walk.Relations, "relations", nil, "walk only these relation types (comma-separated; names any class, e.g. created-by); a type no relation has is refused")
	f.StringSliceVar(&o.walk.ExcludeRelations, "exclude-relations", nil, "never walk these relation types (comma-separated)")
	f.StringSliceVar(&o.kinds, "kinds", nil, "reach only nodes of these kinds (comma-separated, e.g. malware,intrusion-set); a kind no node has is refused")
	f.StringSliceVar(&o.pathsTo, "paths-to", nil, "show only the nodes of these kinds reached through any kinds, each with the path that first reached it (comma-separated, e.g. intrusion-set,malware; intrusion-set and threat-actor name each other)")
	f.BoolVar(&o.walk.IncludeProvenance, "include-provenance", false, "walk provenance relations too (created-by, x-mitre-modified-by, markings)")
	f.BoolVar(&o.walk.IncludeWithdrawn, "include-withdrawn", false, "return and expand revoked and deprecated nodes too, marked, and follow revoked and deprecated relationships")
	f.StringVar(&o.format, "format", "table", "table, json or dot")
	f.BoolVar(&o.explain, "explain", false, "say which records state each edge: relationship ids, feeds, TLP, confidence, what the record says (table and json)")
	f.StringVar(&o.engine, "engine", engineAuto, "walk engine: recursive (one statement), levels (one per hop) or auto (levels on Citus)")
	f.StringVarP(&o.output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// runRelated walks the graph from o.node and prints the neighbourhood as a
// tree, JSON or DOT, to stdout or o.output.
func (a *app) runRelated(ctx context.Context, o relatedOptions) error {
	if err := formatFlag(o.format, "table", "json", "dot"); err != nil {
		return err
	}
	if o.engine != engineAuto && o.engine != engineRecursive && o.engine != engineLevels {
		return usagef("--engine %q: want auto, recursive or levels", o.engine)
	}
	if o.explain && o.format == "dot" {
		return usagef("--explain: for --format table or json, not dot")
	}
	if err := checkNodeRef(o.node); err != nil {
		return err
	}
	walk := o.walk
	for _, r := range walk.Relations {
		if slices.Contains(walk.ExcludeRelations, r) {
			// The walk would follow nothing of that type: the start
			// node alone, exit 0, as if nothing were related.
			return usagef("--relations and --exclude-relations both name %q: give it to one of them", r)
		}
	}
	now := time.Now().UTC()
	var err error
	if walk.Since, err = parseWhen(o.since, now); err != nil {
		return usagef("--since: %v", err)
	}
	if walk.Until, err = parseWhen(o.until, now); err != nil {
		return usagef("--until: %v", err)
	}
	if !walk.Since.IsZero() && !walk.Until.IsZero() && !walk.Since.Before(walk.Until) {
		return usagef("--since %s is not before --until %s: the window would be empty", o.since, o.until)
	}
	for _, k := range o.kinds {
		walk.Kinds = append(walk.Kinds, graph.Kind(k))
	}
	if walk.Depth == 0 {
		walk.Depth = -1 // --depth 0 asks for the start node alone
	}
	store, err := a.openReader(ctx)
	if err != nil {
		return err
	}
	if err := a.checkFilters(ctx, store, walk, now); err != nil {
		return err
	}
	pathsTo := make([]graph.Kind, 0, len(o.pathsTo))
	for _, k := range o.pathsTo {
		pathsTo = append(pathsTo, graph.Kind(k))
	}
	if err := a.checkKinds(ctx, store, "--paths-to", pathsTo, graph.PathKinds); err != nil {
		return err
	}
	start, err := a.resolve(ctx, store, o.node)
	if err != nil {
		return err
	}
	nb, err := a.findRelated(ctx, store, start.Node.ID, walk, o.engine)
	if err != nil {
		return err
	}
	if len(pathsTo) > 0 {
		nb = nb.KeepPathsTo(pathsTo)
		if len(nb.Nodes) == 1 {
			_, _ = fmt.Fprintf(a.stderr, "intel: no node of kind %s within %d hops\n", strings.Join(o.pathsTo, " or "), max(walk.Depth, 0))
		}
	}
	if o.explain {
		if err := store.ExplainEdges(ctx, nb); err != nil {
			return err
		}
	}
	render := func(w io.Writer) error {
		switch o.format {
		case "json":
			return writeJSON(w, nb)
		case "dot":
			return writeDOT(w, nb)
		}
		return writeTree(w, nb)
	}
	if o.output != "" && o.output != "-" {
		return writeFile(o.output, render) // its errors name the file
	}
	return render(a.stdout)
}

// parseWhen reads a duration back from now ("72h", "30d") or a date or
// RFC 3339 time; empty means the zero time (the default).
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := cutDays(s); ok {
		// Years 1 to 9999, as a date may name: further back the day
		// count wraps or the server refuses the time ("timestamp out of
		// range", exit 1, for what is a mistyped flag).
		if n > maxWhenDays {
			return time.Time{}, fmt.Errorf("%q: want at most %dd", s, maxWhenDays)
		}
		return now.AddDate(0, 0, -n), nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d < 0 {
			// "-5d" is refused below; "-5h" was taken as 5 hours
			// from now, a window in the future.
			return time.Time{}, fmt.Errorf("%q: want a duration back from now of zero or more (72h, 30d), or a date", s)
		}
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (72h, 30d) nor a date (2006-01-02) or RFC 3339 time", s)
}

// maxWhenDays is the longest "Nd" --since or --until takes: 1,000 years.
const maxWhenDays = 365_250

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

// checkFilters refuses a filter naming only what no node or relation in
// the graph is (a typo: --kinds malwar, --relations usess; the walk would
// answer with the start alone), and warns of each such name beside others
// that exist; --exclude-relations only warns (it excludes nothing). Kinds
// are looked up in nodes; relation types the project does not classify
// (graph.ExplicitClass) in relations and the walk's telemetry window.
func (a *app) checkFilters(ctx context.Context, st *store.Store, walk graph.RelatedOptions, now time.Time) error {
	if err := a.checkKinds(ctx, st, "--kinds", walk.Kinds, nil); err != nil {
		return err
	}
	window := walk.WithDefaults(now)
	for _, f := range []struct {
		flag   string
		names  []string
		refuse bool
	}{{"--relations", walk.Relations, true}, {"--exclude-relations", walk.ExcludeRelations, false}} {
		var ask, found []string
		for _, r := range f.names {
			if _, known := graph.ExplicitClass(r); known {
				found = append(found, r)
			} else {
				ask = append(ask, r)
			}
		}
		if len(ask) == 0 {
			continue
		}
		have, err := st.RelationTypesInUse(ctx, ask, window.Since, window.Until)
		if err != nil {
			return err
		}
		if err := a.missingNames(f.flag, "no relation in the graph is of type", f.names, append(found, have...), f.refuse); err != nil {
			return err
		}
	}
	return nil
}

// checkKinds refuses a flag naming kinds (--kinds of related and search,
// --paths-to) when no node has any kind it names, and warns of each kind
// no node has when others do. readAs, when not nil, gives the kinds a
// named one stands for (--paths-to: graph.PathKinds, intrusion-set and
// threat-actor each other); nil: the kind itself.
func (a *app) checkKinds(ctx context.Context, st *store.Store, flag string, kinds []graph.Kind, readAs func([]graph.Kind) []graph.Kind) error {
	if len(kinds) == 0 {
		return nil
	}
	if readAs == nil {
		readAs = func(k []graph.Kind) []graph.Kind { return k }
	}
	have, err := st.KindsWithNodes(ctx, readAs(kinds))
	if err != nil {
		return err
	}
	named := make([]string, 0, len(kinds))
	var found []string
	for _, k := range kinds {
		named = append(named, string(k))
		if slices.ContainsFunc(readAs([]graph.Kind{k}), func(x graph.Kind) bool { return slices.Contains(have, x) }) {
			found = append(found, string(k))
		}
	}
	return a.missingNames(flag, "no node in the graph is of kind", named, found, true)
}

// missingNames says which of the names a filter flag gives are not found:
// a usage error when none is and refuse is set, else a warning on stderr.
func (a *app) missingNames(flag, what string, named, found []string, refuse bool) error {
	var missing []string
	for _, n := range named {
		if !slices.Contains(found, n) {
			missing = append(missing, fmt.Sprintf("%q", n))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("%s: %s %s", flag, what, strings.Join(missing, ", "))
	if refuse && len(missing) == len(named) {
		return usagef("%s", msg)
	}
	_, _ = fmt.Fprintf(a.stderr, "intel: %s\n", msg)
	return nil
}

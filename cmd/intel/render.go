package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/graph"
)

// nodeLabel is how a node is shown to a person: kind and name (or key).
func nodeLabel(n graph.Node) string {
	return fmt.Sprintf("%s %s", n.Kind, clipText(cellText(nodeName(n)), 80))
}

// writeTree writes the neighbourhood as an indented tree: each node under
// the node that first reached it, with the relation and its direction.
func writeTree(w io.Writer, nb *graph.Neighbourhood) error {
	children := map[uuid.UUID][]graph.RelatedNode{}
	var root *graph.RelatedNode
	for i := range nb.Nodes {
		n := nb.Nodes[i]
		if n.Via == nil {
			root = &nb.Nodes[i]
			continue
		}
		children[n.Via.From] = append(children[n.Via.From], n)
	}
	if root == nil {
		return fmt.Errorf("write tree: no start node")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s  [%s]%s\n", nodeLabel(root.Node), root.ID, nodeNote(*root))
	var walk func(id uuid.UUID, prefix string)
	walk = func(id uuid.UUID, prefix string) {
		kids := children[id]
		sort.SliceStable(kids, func(i, j int) bool { return nodeLabel(kids[i].Node) < nodeLabel(kids[j].Node) })
		for i, k := range kids {
			branch, next := "├─ ", "│  "
			if i == len(kids)-1 {
				branch, next = "└─ ", "   "
			}
			fmt.Fprintf(&b, "%s%s%s %s  [%s]%s\n", prefix, branch, stepArrow(k.Via), nodeLabel(k.Node), k.ID, nodeNote(k))
			if line := statedByLine(viaEdge(nb, k)); line != "" {
				fmt.Fprintf(&b, "%s%s   %s\n", prefix, next, line)
			}
			walk(k.ID, prefix+next)
		}
	}
	walk(root.ID, "")
	if note := truncationNote(nb); note != "" {
		b.WriteString("(" + note + ")\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// viaEdge returns the edge that first reached n (nil when none: the
// start).
func viaEdge(nb *graph.Neighbourhood, n graph.RelatedNode) *graph.Edge {
	if n.Via == nil {
		return nil
	}
	src, dst := n.Via.From, n.ID
	if n.Via.Direction == "in" || n.Via.Direction == "telemetry-in" {
		src, dst = dst, src
	}
	telemetry := strings.HasPrefix(n.Via.Direction, "telemetry")
	for i, e := range nb.Edges {
		if e.Src == src && e.Dst == dst && e.Relation == n.Via.Relation && e.Telemetry == telemetry {
			return &nb.Edges[i]
		}
	}
	return nil
}

// statedByLine shows an explained edge's records in one line (--explain):
// each record's relationship ids (or, for a link an object states through
// its own properties, that object's reference), feeds, TLP and confidence,
// and the stored nodes when they are not the edge's; empty when the edge
// was not explained.
func statedByLine(e *graph.Edge) string {
	if e == nil || e.StatedBy == nil {
		return ""
	}
	parts := make([]string, 0, len(e.StatedBy))
	for _, st := range e.StatedBy {
		if st.Telemetry {
			parts = append(parts, fmt.Sprintf("telemetry: %d observations by %d agents, %s .. %s", st.Observations, st.Agents,
				st.FirstSeen.Format(time.RFC3339), st.LastSeen.Format(time.RFC3339)))
			continue
		}
		what := strings.Join(st.IDs, ",")
		var attrs []string
		if what == "" {
			what = st.SrcRef
			if len(st.Objects) > 0 {
				what = strings.Join(st.Objects, ",")
			}
			attrs = append(attrs, "its own property")
		}
		if len(st.Feeds) > 0 {
			attrs = append(attrs, strings.Join(st.Feeds, ","))
		}
		if st.TLP != "" {
			attrs = append(attrs, tlpText(st.TLP))
		}
		if st.Confidence != nil {
			attrs = append(attrs, fmt.Sprintf("confidence %d", *st.Confidence))
		}
		if st.Withdrawn {
			attrs = append(attrs, "WITHDRAWN")
		}
		if said := recordSays(st.Props); said != "" {
			attrs = append(attrs, strconv.Quote(clipText(cellText(said), 120)))
		}
		if st.Src != nil || st.Dst != nil {
			attrs = append(attrs, "stored "+storedEnd(st.Src)+" -> "+storedEnd(st.Dst))
		}
		parts = append(parts, what+" ("+strings.Join(attrs, "; ")+")")
	}
	if len(parts) == 0 {
		return "stated by: no stored record"
	}
	return "stated by: " + strings.Join(parts, " + ")
}

// recordSays is what a link's record says about it in words, for the
// stated-by line: a STIX relationship's description, else a MISP object
// reference's comment (kept under the reference's uuid), else "". The
// whole props are in --format json.
func recordSays(props map[string]any) string {
	if d, ok := props["description"].(string); ok && strings.TrimSpace(d) != "" {
		return strings.TrimSpace(d)
	}
	var comments []string
	for _, v := range props {
		if m, ok := v.(map[string]any); ok {
			if c, ok := m["comment"].(string); ok && strings.TrimSpace(c) != "" {
				comments = append(comments, strings.TrimSpace(c))
			}
		}
	}
	slices.Sort(comments)
	return strings.Join(slices.Compact(comments), "; ")
}

// storedEnd names a stored relation's end: its node when it is not the
// edge's own, else "=".
func storedEnd(stored *uuid.UUID) string {
	if stored == nil {
		return "="
	}
	return stored.String()
}

// nodeNote marks a node whose TLP restricts sharing (tlpMarker), a
// withdrawn node (REVOKED, DEPRECATED) and a node whose edges the fan-out
// cap cut: its true degree and how many edges were not followed.
func nodeNote(n graph.RelatedNode) string {
	note := ""
	if m := tlpMarker(n.TLP); m != "" {
		note = "  " + m
	}
	if n.Withdrawn != "" {
		note += "  " + strings.ToUpper(n.Withdrawn)
	}
	if n.Expiration != nil {
		// Set by --explain (store.ExplainEdges): why it is related
		// includes that it stopped being valid.
		note += "  expiration: " + expirationText(n.Kind, *n.Expiration, time.Now())
	}
	if n.EdgesCut <= 0 {
		return note
	}
	return note + fmt.Sprintf("  (cut %d of %d edges)", n.EdgesCut, n.Degree)
}

// tlpMarker is how the tree and the DOT label mark a node's TLP:
// "TLP:AMBER" for a marking that restricts sharing (green, amber,
// amber+strict, red); nothing for clear (TLP 1.0's white) or none, which
// most nodes of a walk are, so that a marker stands out.
func tlpMarker(t graph.TLP) string {
	if t.Rank() <= graph.TLPClear.Rank() {
		return ""
	}
	return tlpText(t)
}

// tlpText spells a marking as people read it: TLP:AMBER+STRICT.
func tlpText(t graph.TLP) string {
	return "TLP:" + strings.ToUpper(string(t))
}

// stepArrow shows the relation that reached a node from its parent: -rel->,
// <-rel-, =rel=> or <=rel= for relations out, in, and telemetry out, in.
func stepArrow(s *graph.Step) string {
	if s == nil {
		return ""
	}
	switch s.Direction {
	case "in":
		return "<-" + s.Relation + "-"
	case "telemetry-out":
		return "=" + s.Relation + "=>"
	case "telemetry-in":
		return "<=" + s.Relation + "="
	}
	return "-" + s.Relation + "->"
}

// writeDOT writes the neighbourhood as a Graphviz digraph: one vertex per
// node (the start doubled-circled), relations as solid edges and telemetry
// as dashed edges labelled with their observation counts.
func writeDOT(w io.Writer, nb *graph.Neighbourhood) error {
	var b strings.Builder
	b.WriteString("digraph related {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	for _, n := range nb.Nodes {
		// A node's restrictive TLP is marked, a withdrawn node
		// (--include-withdrawn) is marked and dotted, a node the fan-out
		// cap cut says so and is dashed, as in the tree.
		label, style := string(n.Kind)+"\n"+nodeName(n.Node), ""
		if m := tlpMarker(n.TLP); m != "" {
			label += "\n" + m
		}
		if n.Withdrawn != "" {
			label, style = label+"\n"+strings.ToUpper(n.Withdrawn), "rounded,dotted"
		}
		if n.EdgesCut > 0 {
			label, style = label+fmt.Sprintf("\n(cut %d of %d edges)", n.EdgesCut, n.Degree), "rounded,dashed"
		}
		attrs := "label=" + dotQuote(label)
		if style != "" {
			attrs += ", style=" + dotQuote(style)
		}
		if n.ID == nb.Start {
			attrs += ", peripheries=2"
		}
		if c, ok := kindColors[n.Kind]; ok {
			attrs += ", color=" + dotQuote(c)
		}
		fmt.Fprintf(&b, "  %s [%s];\n", dotQuote(n.ID.String()), attrs)
	}
	for _, e := range nb.Edges {
		label := e.Relation
		style := ""
		if e.Telemetry {
			label = fmt.Sprintf("%s ×%d", e.Relation, e.Count)
			style = ", style=dashed"
		}
		fmt.Fprintf(&b, "  %s -> %s [label=%s%s];\n", dotQuote(e.Src.String()), dotQuote(e.Dst.String()), dotQuote(label), style)
	}
	if note := truncationNote(nb); note != "" {
		fmt.Fprintf(&b, "  label=%s;\n  labelloc=b;\n", dotQuote(note))
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// truncationNote says which caps cut a walk, "" when none did: the
// fan-out cap (the nodes whose edges it cut are marked "cut") and the node
// cap (nodes beyond it left out, none marked).
func truncationNote(nb *graph.Neighbourhood) string {
	if !nb.Truncated {
		return ""
	}
	var parts []string
	cut := 0
	for _, n := range nb.Nodes {
		if n.EdgesCut > 0 {
			cut++
		}
	}
	if cut > 0 {
		nodes := "nodes"
		if cut == 1 {
			nodes = "node"
		}
		parts = append(parts, fmt.Sprintf("the fan-out cap (--fanout %d) cut the edges of %d %s, marked \"cut\"", nb.Options.Fanout, cut, nodes))
	}
	if nb.MaxNodesReached || cut == 0 {
		parts = append(parts, fmt.Sprintf("the node cap (--max-nodes %d) was reached: nodes beyond it are left out", nb.Options.MaxNodes))
	}
	return "truncated: " + strings.Join(parts, "; ")
}

var kindColors = map[graph.Kind]string{
	graph.KindIntrusionSet: "red", graph.KindThreatActor: "red", graph.KindMalware: "darkorange",
	graph.KindIndicator: "blue", graph.KindHash: "gray40", graph.KindFile: "darkgreen", graph.KindProcess: "darkgreen",
}

func nodeName(n graph.Node) string {
	if n.Name != "" {
		return n.Name
	}
	return n.Key
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

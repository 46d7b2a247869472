package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/ransomeye/intel/graph"
)

// nodeLabel is how a node is shown to a person: kind and name (or key).
func nodeLabel(n graph.Node) string {
	name := n.Name
	if name == "" {
		name = n.Key
	}
	if len(name) > 80 {
		name = name[:77] + "..."
	}
	return fmt.Sprintf("%s %s", n.Kind, name)
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
	fmt.Fprintf(&b, "%s  [%s]%s\n", nodeLabel(root.Node), root.ID, cutNote(*root))
	var walk func(id uuid.UUID, prefix string)
	walk = func(id uuid.UUID, prefix string) {
		kids := children[id]
		sort.SliceStable(kids, func(i, j int) bool { return nodeLabel(kids[i].Node) < nodeLabel(kids[j].Node) })
		for i, k := range kids {
			branch, next := "├─ ", "│  "
			if i == len(kids)-1 {
				branch, next = "└─ ", "   "
			}
			fmt.Fprintf(&b, "%s%s%s %s  [%s]%s\n", prefix, branch, stepArrow(k.Via), nodeLabel(k.Node), k.ID, cutNote(k))
			walk(k.ID, prefix+next)
		}
	}
	walk(root.ID, "")
	if nb.Truncated {
		b.WriteString("(truncated: the fan-out cap (nodes marked \"cut\") or the node cap left some nodes out)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// cutNote marks a withdrawn node (REVOKED, DEPRECATED) and a node whose
// edges the fan-out cap cut: its true degree and how many edges were not
// followed.
func cutNote(n graph.RelatedNode) string {
	note := ""
	if n.Withdrawn != "" {
		note = "  " + strings.ToUpper(n.Withdrawn)
	}
	if n.EdgesCut <= 0 {
		return note
	}
	return note + fmt.Sprintf("  (cut %d of %d edges)", n.EdgesCut, n.Degree)
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
		attrs := fmt.Sprintf("label=%s", dotQuote(string(n.Kind)+"\n"+nodeName(n.Node)))
		if n.EdgesCut > 0 {
			attrs = fmt.Sprintf("label=%s, style=\"rounded,dashed\"",
				dotQuote(fmt.Sprintf("%s\n%s\n(cut %d of %d edges)", n.Kind, nodeName(n.Node), n.EdgesCut, n.Degree)))
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
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
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

package graph

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/google/uuid"
)

// Label is how a node is shown to a person: kind and name (or key).
func (n Node) Label() string {
	name := n.Name
	if name == "" {
		name = n.Key
	}
	if len(name) > 80 {
		name = name[:77] + "..."
	}
	return fmt.Sprintf("%s %s", n.Kind, name)
}

// WriteTree writes the neighbourhood as an indented tree: each node under
// the node that first reached it, with the relation and its direction.
func (nb *Neighbourhood) WriteTree(w io.Writer) error {
	children := map[uuid.UUID][]RelatedNode{}
	var root *RelatedNode
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
	fmt.Fprintf(&b, "%s  [%s]\n", root.Label(), root.ID)
	var walk func(id uuid.UUID, prefix string)
	walk = func(id uuid.UUID, prefix string) {
		kids := children[id]
		sort.SliceStable(kids, func(i, j int) bool { return kids[i].Label() < kids[j].Label() })
		for i, k := range kids {
			branch, next := "├─ ", "│  "
			if i == len(kids)-1 {
				branch, next = "└─ ", "   "
			}
			fmt.Fprintf(&b, "%s%s%s %s  [%s]\n", prefix, branch, k.Via.Arrow(), k.Label(), k.ID)
			walk(k.ID, prefix+next)
		}
	}
	walk(root.ID, "")
	if nb.Truncated {
		b.WriteString("(truncated: the fan-out or node cap left some nodes out)\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Arrow shows the relation that reached a node from its parent: -rel->,
// <-rel-, =rel=> or <=rel= for relations out, in, and telemetry out, in.
func (s *Step) Arrow() string {
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

// WriteDOT writes the neighbourhood as a Graphviz digraph: one vertex per
// node (the start doubled-circled), relations as solid edges and telemetry
// as dashed edges labelled with their observation counts.
func (nb *Neighbourhood) WriteDOT(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph related {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n")
	for _, n := range nb.Nodes {
		attrs := fmt.Sprintf("label=%s", dotQuote(string(n.Kind)+"\n"+nodeName(n.Node)))
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

var kindColors = map[Kind]string{
	KindIntrusionSet: "red", KindThreatActor: "red", KindMalware: "darkorange",
	KindIndicator: "blue", KindHash: "gray40", KindFile: "darkgreen", KindProcess: "darkgreen",
}

func nodeName(n Node) string {
	if n.Name != "" {
		return n.Name
	}
	return n.Key
}

func dotQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

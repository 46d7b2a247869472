package main

import (
	"cmp"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
)

// validity renders a STIX indicator's valid_from and valid_until (props, as
// the feed wrote them) as "2023-01-10 .. 2023-04-10", marked "(expired)"
// when valid_until is before now, or "" when the node has neither. An
// expired indicator stays in the graph and in walks (what it indicated
// was so); show says that it is no longer to be matched.
func validity(props map[string]any, now time.Time) string {
	day := func(k string) (string, time.Time) {
		s, _ := props[k].(string)
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "", time.Time{}
		}
		return t.UTC().Format("2006-01-02"), t
	}
	from, _ := day("valid_from")
	until, end := day("valid_until")
	if from == "" && until == "" {
		return ""
	}
	v := cmp.Or(from, "?") + " .. " + until
	if until != "" && end.Before(now) {
		v += " (expired)"
	}
	return v
}

// writeNodeDetails writes what intel show prints: one "field: value" line
// per fact, then the relations per class and type.
// expirationText says when MISP expiration sightings end a node's
// validity: the earliest one's day, "(expired)" once it has passed, as a
// STIX indicator's valid_until is shown ("2021-01-07 (expired), by 1
// expiration sighting"). An expired indicator stays in the graph and in
// walks; it is no longer to be matched. A node of a value (an address, a
// domain), which every record naming the value shares, is not what
// expired: an attribute naming it did, and the text says so.
func expirationText(kind graph.Kind, s graph.Sighted, now time.Time) string {
	day := s.FirstSeen.UTC().Format("2006-01-02")
	n := "1 expiration sighting"
	if s.Sightings != 1 {
		n = fmt.Sprintf("%d expiration sightings", s.Sightings)
	}
	// An attribute's own node: its indicator, or its x-misp-attribute
	// (ingest/misp KindAttribute).
	if kind != graph.KindIndicator && kind != graph.Kind("x-misp-attribute") {
		return "an attribute naming it expired on " + day + ", by " + n + " (the value may be named elsewhere)"
	}
	if s.FirstSeen.Before(now) {
		day += " (expired)"
	}
	return day + ", by " + n
}

// sightedText says how many times and when a node was sighted: "10 times
// in 1 sighting, 2020-03-12 .. 2020-03-12", "at least 3 times" when a
// sighting gave no count (counted once).
func sightedText(s graph.Sighted) string {
	times := fmt.Sprintf("%d times", s.Times)
	if s.Times == 1 {
		times = "1 time"
	}
	if s.Uncounted > 0 {
		times = "at least " + times
	}
	sightings := "sightings"
	if s.Sightings == 1 {
		sightings = "sighting"
	}
	return fmt.Sprintf("%s in %d %s, %s .. %s", times, s.Sightings, sightings,
		s.FirstSeen.Format("2006-01-02"), s.LastSeen.Format("2006-01-02"))
}

func writeNodeDetails(w io.Writer, d graph.NodeDetails) error {
	n := d.Node
	p := newTablePrinter(w)
	row := func(field, value string) { p.printf("%s:\t%s\n", field, cellText(value)) }
	if d.Note != "" {
		row("note", d.Note)
	}
	row("node", nodeLabel(n))
	row("id", n.ID.String())
	row("kind", string(n.Kind))
	row("key", n.Key)
	if n.Name != "" {
		row("name", n.Name)
	}
	if len(d.Names) > 0 {
		row("aliases", strings.Join(d.Names, ", "))
	}
	for _, e := range d.ExternalIDs {
		v := e.ID
		if e.Source != "" {
			v = e.Source + " " + e.ID
		}
		if e.URL != "" {
			v += "  " + e.URL
		}
		row("external id", v)
	}
	for _, s := range d.SourceIDs {
		v := s.ID
		if s.Feed != "" {
			v += "  (" + s.Feed + ")"
		}
		if s.Version != nil {
			v += "  newest version " + s.Version.Format(time.RFC3339)
		}
		row("source id", v)
	}
	if len(n.Sources) > 0 {
		row("sources", strings.Join(n.Sources, ", "))
	}
	row("seen", fmt.Sprintf("%s .. %s", n.FirstSeen.UTC().Format("2006-01-02"), n.LastSeen.UTC().Format("2006-01-02")))
	if v := validity(n.Props, time.Now()); v != "" {
		row("valid", v)
	}
	if d.Sighted != nil {
		row("sighted", sightedText(*d.Sighted))
	}
	if d.Expiration != nil {
		row("expiration", expirationText(n.Kind, *d.Expiration, time.Now()))
	}
	if n.Confidence != nil {
		row("confidence", fmt.Sprint(*n.Confidence))
	}
	if n.TLP != "" {
		row("tlp", string(n.TLP))
	}
	if v := distributionText(n.Props); v != "" {
		row("distribution", v)
	}
	if dc, _ := n.Props["disable_correlation"].(bool); dc {
		row("correlation", "disabled at the source (MISP disable_correlation)")
	}
	if len(n.Labels) > 0 {
		row("labels", strings.Join(n.Labels, ", "))
	}
	life := "live"
	switch {
	case d.Revoked && d.Deprecated:
		life = "REVOKED, DEPRECATED"
	case d.Revoked:
		life = "REVOKED"
	case d.Deprecated:
		life = "DEPRECATED"
	}
	for _, r := range d.RevokedBy {
		life += fmt.Sprintf("; replaced by %s [%s]", r.Label(), r.ID)
	}
	row("lifecycle", life)
	for _, r := range d.Replaces {
		row("replaces", fmt.Sprintf("%s (%s) [%s]", r.Label(), r.Key, r.ID))
	}
	switch {
	case d.Entity != nil && d.EntityVersionOf != "":
		row("same entity as", fmt.Sprintf("%s (%s) [%s], its newer version under another name (%s)", d.Entity.Label(), d.Entity.Key, d.Entity.ID, d.EntityVersionOf))
	case d.Entity != nil:
		row("same entity as", fmt.Sprintf("%s (%s) [%s], the one entity claiming its names", d.Entity.Label(), d.Entity.Key, d.Entity.ID))
	}
	for _, r := range d.SameEntity {
		row("same entity", fmt.Sprintf("%s (%s) [%s], named only by names this one claims", r.Label(), r.Key, r.ID))
	}
	for _, r := range d.OlderVersions {
		row("older name", fmt.Sprintf("%s (%s) [%s], an older version of this object", r.Label(), r.Key, r.ID))
	}
	for _, a := range d.Ambiguous {
		others := make([]string, 0, len(a.Others))
		for _, o := range a.Others {
			others = append(others, fmt.Sprintf("%s (%s) [%s]", o.Label(), o.Key, o.ID))
		}
		row("ambiguous alias", fmt.Sprintf("%s, also claimed by %s", a.Alias, strings.Join(others, ", ")))
	}
	for _, a := range d.WithdrawnClaims {
		others := make([]string, 0, len(a.Others))
		for _, o := range a.Others {
			others = append(others, fmt.Sprintf("%s (%s) [%s]", o.Label(), o.Key, o.ID))
		}
		row("alias", fmt.Sprintf("%s, also claimed by withdrawn %s (not counted: the name is this one's)", a.Alias, strings.Join(others, ", ")))
	}
	var degrees []string
	for _, c := range graph.RelationClasses {
		degrees = append(degrees, fmt.Sprintf("%s %d", c, d.Degree[c]))
	}
	row("degree", strings.Join(degrees, ", "))
	for _, r := range d.Relations {
		arrow := "-" + r.Relation + "->"
		if r.Direction == "in" {
			arrow = "<-" + r.Relation + "-"
		}
		var notes []string
		if r.Through > 0 {
			notes = append(notes, fmt.Sprintf("%d through the nodes it replaces or that are it", r.Through))
		}
		if r.Withdrawn > 0 {
			notes = append(notes, fmt.Sprintf("%d withdrawn, not walked", r.Withdrawn))
		}
		if r.Itself > 0 {
			notes = append(notes, fmt.Sprintf("%d to itself, not walked", r.Itself))
		}
		note := ""
		if len(notes) > 0 {
			note = " (" + strings.Join(notes, "; ") + ")"
		}
		row("  "+string(r.Class), fmt.Sprintf("%s %d%s", arrow, r.Edges, note))
	}
	for _, r := range d.Superseded {
		row("superseded", fmt.Sprintf("-%s-> %d (stated only by older versions of its objects; kept, not walked)", r.Relation, r.Edges))
	}
	return p.flush()
}

// distributionText is who a MISP record may be shared with, as its node's
// props give it (ingest/misp sharing.go): the distribution level's name,
// and for a sharing group its name and releasability, then the
// restriction of its event when the event restricts it ("all communities,
// within its event's sharing group "CERT partners""); "" for none.
func distributionText(props map[string]any) string {
	level := func(prefix string) string {
		d, _ := props[prefix+"distribution"].(string)
		if d == "" {
			return ""
		}
		if g, _ := props[prefix+"sharing_group"].(string); g != "" {
			d += " " + strconv.Quote(g)
		}
		if r, _ := props[prefix+"sharing_group_releasability"].(string); r != "" {
			d += " (releasability: " + r + ")"
		}
		return d
	}
	own, ev := level(""), level("event_")
	switch {
	case ev == "":
		return own
	case own == "":
		return "as its event: " + ev
	}
	return own + ", within its event's: " + ev
}

// writeRelationRecord writes what intel show prints about a relationship
// id: the references the feed wrote and the nodes they resolve to.
func writeRelationRecord(w io.Writer, r graph.RelationRecord) error {
	p := newTablePrinter(w)
	row := func(field, value string) { p.printf("%s:\t%s\n", field, cellText(value)) }
	end := func(ref graph.Ref, n *graph.NodeBrief) string {
		if n == nil {
			return string(ref) + "  (not loaded yet)"
		}
		return fmt.Sprintf("%s [%s]  (%s)", n.Label(), n.ID, ref)
	}
	row("relationship", r.ID)
	row("relation", r.Relation)
	row("source", end(r.Src, r.SrcNode))
	row("target", end(r.Dst, r.DstNode))
	if r.Feed != "" {
		row("feed", r.Feed)
	}
	return p.flush()
}

// writeSearchHits writes search results as a table: how each matched, the
// entry that matched, and the node (marked REVOKED or DEPRECATED when it is
// not live, as in the related tree).
func writeSearchHits(w io.Writer, hits []graph.SearchHit) error {
	p := newTablePrinter(w)
	if len(hits) == 0 {
		p.println("no match")
		return p.flush()
	}
	p.printf("MATCH\tMATCHED\tNODE\tID\n")
	for _, h := range hits {
		match := h.Match
		if h.Match == "fuzzy" {
			match = fmt.Sprintf("fuzzy %.2f", h.Similarity)
		}
		label := clipText(cellText(h.Label()), 80)
		if h.Withdrawn != "" {
			label += "  " + strings.ToUpper(h.Withdrawn)
		}
		p.printf("%s\t%s\t%s\t%s\n", match, cellText(h.Matched), label, h.ID)
	}
	return p.flush()
}

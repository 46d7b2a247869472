package misp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
)

// attrOut is an attribute mapped: its node, or, for a type that names no
// entity inside an object, only its type and value.
type attrOut struct {
	node      graph.Node
	propsOnly bool
	typ       string
	value     string
	relation  string
	toIDs     bool
	labels    []string
	tlp       string
}

// attributeRecord maps an event-level attribute (or one of a search
// result).
func (l *loader) attributeRecord(j job, b *graph.Batch) {
	l.report.AddRead(1)
	var a rawAttribute
	if err := unmarshal(j.raw, &a); err != nil {
		l.countRead(recAttribute)
		l.drop(j, "attribute", recordUUID(j.raw), ReasonMalformed, err)
		return
	}
	l.tallyAttribute(a, false)
	out, reason, err := l.attribute(j, b, a, false)
	if err != nil {
		l.drop(j, "attribute", a.UUID.String(), reason, err)
		return
	}
	l.report.AddMapped(1)
	props := map[string]any{"misp_type": out.typ, "to_ids": out.toIDs}
	if u := a.UUID.String(); u != "" {
		props["misp_uuid"] = strings.ToLower(u)
	}
	if c := a.Category.String(); c != "" {
		props["misp_category"] = c
	}
	if c := strings.TrimSpace(a.Comment.String()); c != "" {
		props["comment"] = c
	}
	if rel, ok := j.fr.addLink(link{typ: RelObject, dst: out.node.Ref(), props: props}); ok {
		rel.Sources = []string{l.feed}
		b.Relations = append(b.Relations, rel)
	}
}

func (l *loader) tallyAttribute(a rawAttribute, inObject bool) {
	l.tally.add(func(t *Tally) {
		if inObject {
			t.ObjectAttributes++
		} else {
			t.Attributes++
		}
		t.AttributeTypes[a.Type.String()]++
		t.AttributeTags += int64(len(a.Tags))
		t.AttributeGalaxies += int64(len(a.Galaxies))
		t.Sightings += int64(len(a.Sightings))
		for _, g := range a.Galaxies {
			t.AttributeClusters += int64(len(g.Clusters))
		}
	})
}

// attribute maps one attribute and adds its nodes, relations, clusters and
// sightings to b. Inside an object (inObject), a type that names no entity
// is returned as props only. The returned reason says why it was dropped.
func (l *loader) attribute(j job, b *graph.Batch, a rawAttribute, inObject bool) (attrOut, string, error) {
	out := attrOut{typ: strings.TrimSpace(a.Type.String()), value: a.Value.String(), relation: strings.TrimSpace(a.ObjectRelation.String()), toIDs: bool(a.ToIDs)}
	uuid := strings.ToLower(strings.TrimSpace(a.UUID.String()))
	switch {
	case bool(a.Deleted):
		return out, ReasonDeleted, errors.New("attribute deleted")
	case out.typ == "":
		return out, ReasonMissingType, errors.New("attribute without a type")
	case strings.TrimSpace(out.value) == "":
		return out, ReasonMissingValue, fmt.Errorf("%s attribute without a value", out.typ)
	}
	tg := readTags(a.Tags)
	out.labels, out.tlp = tg.labels, tg.tlp
	var o observed
	if m := valueMappers[out.typ]; m != nil {
		var err error
		if o, err = m(out.typ, out.value); err != nil {
			return out, ReasonInvalidValue, fmt.Errorf("%s: %w", out.typ, err)
		}
	} else if inObject {
		out.propsOnly = true
		return out, "", nil
	} else {
		if uuid == "" {
			return out, ReasonMissingUUID, fmt.Errorf("%s attribute without a uuid", out.typ)
		}
		kind, props := KindAttribute, map[string]any{"value": out.value}
		if pt, ok := patternTypes[out.typ]; ok {
			kind, props = graph.KindIndicator, map[string]any{"pattern": out.value, "pattern_type": pt}
		}
		// Keyed by the id MISP's STIX 2.1 export gives the attribute
		// (indicator--<uuid>, x-misp-attribute--<uuid>), so the two meet.
		o.node = graph.SourceNode(kind, string(kind)+"--"+uuid)
		o.node.Name = truncate(strings.TrimSpace(out.value), 200)
		o.props = props
	}
	n := o.node
	props := map[string]any{"misp_type": out.typ, "to_ids": out.toIDs}
	if c := a.Category.String(); c != "" {
		props["misp_category"] = c
	}
	if c := strings.TrimSpace(a.Comment.String()); c != "" && !inObject {
		props["comment"] = c
	}
	for k, v := range o.props {
		props[k] = v
	}
	n.Props = props
	n.Labels, n.TLP = tg.labels, tg.tlp
	n.FirstSeen, n.LastSeen = attributeSeen(a.FirstSeen.String(), a.LastSeen.String(), a.Timestamp.String())
	n.Sources = []string{l.feed}
	if uuid != "" && !slices.Contains(n.Aliases, alias(uuid)) {
		n.Aliases = append(n.Aliases, alias(uuid))
	}
	out.node = n
	b.Nodes = append(b.Nodes, n)
	for _, e := range o.extra {
		e.Sources = n.Sources
		b.Nodes = append(b.Nodes, e)
	}
	for _, r := range o.rels {
		r.Sources = n.Sources
		b.Relations = append(b.Relations, r)
	}
	// Clusters named by the attribute's galaxies and galaxy tags.
	def := RelRelatedTo
	if out.toIDs {
		def = graph.RelIndicates
	}
	clusters := append(galaxyClusters(a.Galaxies), tg.clusters...)
	l.addClusters(j, b, clusters, n.Ref(), def)
	for _, s := range a.Sightings {
		l.addSighting(j, b, s, n.Ref())
	}
	return out, "", nil
}

// attributeSeen is the first/last seen of an attribute: first_seen and
// last_seen when given, else its timestamp (when it was last changed).
func attributeSeen(first, last, ts string) (f, la time.Time) {
	f, la = parseTime(first), parseTime(last)
	t := parseTime(ts)
	if f.IsZero() {
		f = t
	}
	if la.IsZero() {
		la = t
	}
	return seen(f, la)
}

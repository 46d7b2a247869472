package misp

import (
	"cmp"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// sightingTypes names MISP's sighting types.
var sightingTypes = map[string]string{"0": "sighting", "1": "false-positive", "2": "expiration"}

// sightingRelations link the MISP sighting types that are no sighting:
// a false positive and an expiration say something of the value; they
// never saw it. Other types (0, and any MISP adds) are sightings.
var sightingRelations = map[string]string{"1": graph.RelFalsePositiveOf, "2": graph.RelExpirationOf}

// addSighting maps a MISP sighting of the node at of (the attribute with
// uuid attr): a graph.Sighting keyed by the sighting uuid, or by
// sightingUUID when it has none, seen at date_sighting, where = the
// organisation.
// tlp is the attribute's own TLP (its tags'): a sighting of a tlp:red
// attribute is red whatever its event's TLP. A sighting of the event's
// Sighting list, which names its attribute by uuid, takes it at the
// event's end (sightingRecord). It returns the sighting node, false when
// the sighting was dropped. tlpFrom, when given, names the records whose
// TLP the sighting takes that are not in its document (its attribute and
// event, for a sighting read outside its event): kept in props
// graph.PropTLPFrom, read by the store's explanations.
func (m *mapper) addSighting(j job, b *graph.Batch, s rawSighting, of graph.Ref, attr string, tlp graph.TLP, tlpFrom []string) (graph.NodeBrief, bool) {
	j.out.res.Read++
	at, err := parseTimeChecked(s.DateSighting.String())
	id := canonUUID(s.UUID.String())
	if id == "" && err == nil {
		id = sightingUUID(s, of, attr)
	}
	if err != nil {
		m.drop(j, "sighting", id, ReasonInvalidTimestamp, fmt.Errorf("date_sighting: %w", err))
		return graph.NodeBrief{}, false
	}
	props := map[string]any{"type": nameOr(sightingTypes, s.Type.String()), "source_format": "misp"}
	if src := strings.TrimSpace(s.Source.String()); src != "" {
		props["source"] = src
	}
	if len(tlpFrom) > 0 {
		props[graph.PropTLPFrom] = tlpFrom
	}
	rel := sightingRelations[strings.TrimSpace(s.Type.String())]
	sg := graph.Sighting{
		SourceID: alias(id), Of: of, OfRelation: rel, Count: 1, FirstSeen: at, LastSeen: at,
		Sources: []string{m.feed}, Props: props,
	}
	if s.Organisation != nil {
		if org := strings.TrimSpace(s.Organisation.Name.String()); org != "" && len(org) <= maxValueBytes {
			o := orgNode(*s.Organisation, m.feed)
			o.FirstSeen, o.LastSeen = at, at
			b.Nodes = append(b.Nodes, o)
			sg.Where = []graph.Ref{o.Ref()}
		}
	}
	b.AddSighting(sg)
	// The sighting node is the event's own content (keyed by its uuid).
	j.out.own = append(j.out.own, ownOf(sg.Brief()))
	if tlp != graph.TLPNone {
		b.Nodes = append(b.Nodes, sg.Brief().TLPRecord(tlp, sg.Sources))
	}
	if rel == "" {
		j.out.res.Sightings++
	}
	j.out.res.Mapped++
	return sg.Brief(), true
}

// sightingUUID is the uuid of a sighting written without one (PyMISP's
// add_sighting before a server saves it, scripts writing feeds): a UUIDv5
// (graph.Namespace) over what the sighting says — the attribute sighted
// (its uuid, else the node), the time, the type, the source and the
// organisation (uuid, else name) — so every load of it gives the same
// node, and sightings that differ in any of these are two.
func sightingUUID(s rawSighting, of graph.Ref, attr string) string {
	what := attr
	if what == "" {
		what = string(of)
	}
	org := ""
	if s.Organisation != nil {
		org = cmp.Or(canonUUID(s.Organisation.UUID.String()), strings.TrimSpace(s.Organisation.Name.String()))
	}
	parts := []string{"misp-sighting", what, parseTime(s.DateSighting.String()).UTC().Format(time.RFC3339),
		strings.TrimSpace(s.Type.String()), strings.TrimSpace(s.Source.String()), org}
	return uuid.NewSHA1(graph.Namespace, []byte(strings.Join(parts, "\x00"))).String()
}

// sightingRecord maps a sighting outside its attribute: one of an event's
// Sighting list, or of a ZMQ misp_json_sighting message ({"Sighting":
// {…, "Attribute": {"uuid": …}, "Event": {"uuid": …}}}, MISP's
// Sighting::getSighting), which names its attribute by uuid.
func (m *mapper) sightingRecord(j job, b *graph.Batch) {
	var s rawSighting
	if err := unmarshal(j.raw, &s); err != nil {
		j.out.res.Read++
		m.tally.countRead(recSighting)
		m.drop(j, "sighting", recordUUID(j.raw), engine.ReasonInvalidProperty, err)
		return
	}
	m.tally.add(func(t *Tally) { t.Sightings++ })
	if j.deletedAtSource {
		// A ZMQ message saying MISP deleted the sighting: not a
		// sighting (one loaded before from its "add" message stays).
		j.out.res.Read++
		m.drop(j, "sighting", s.UUID.String(), ReasonDeleted, errors.New(`sighting deleted in MISP ("action": "delete")`))
		return
	}
	attr := canonUUID(s.AttributeUUID.String())
	if attr == "" && s.Attribute != nil {
		attr = canonUUID(s.Attribute.UUID.String())
	}
	if attr == "" {
		j.out.res.Read++
		m.drop(j, "sighting", s.UUID.String(), engine.ReasonMissingID,
			errors.New("sighting names its attribute by no uuid (neither attribute_uuid nor Attribute.uuid; an attribute_id is local to its MISP server)"))
		return
	}
	var from []string
	if !j.evFrame {
		// Outside its event (a ZMQ message): its attribute and event,
		// and so their TLPs, are in other documents; the store's
		// explanations read them (graph.PropTLPFrom).
		from = []string{alias(attr)}
		ev := canonUUID(s.EventUUID.String())
		if ev == "" && s.Event != nil {
			ev = canonUUID(s.Event.UUID.String())
		}
		if ev != "" {
			from = append(from, alias(ev))
		}
	}
	if sg, ok := m.addSighting(j, b, s, graph.Ref(alias(attr)), attr, graph.TLPNone, from); ok && j.fr != nil {
		// Its attribute's TLP, read with the attribute before or after
		// it, marks it at the event's end, as a sighting inside the
		// attribute is marked (frame.sightingTLPs).
		j.out.sighted = append(j.out.sighted, sighted{attr: attr, brief: sg})
	}
}

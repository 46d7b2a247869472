package misp

import (
	"errors"
	"strings"

	"github.com/ransomeye/intel/graph"
)

// sightingTypes names MISP's sighting types.
var sightingTypes = map[string]string{"0": "sighting", "1": "false-positive", "2": "expiration"}

// addSighting maps a MISP sighting of the node at of: a graph.Sighting keyed
// by the sighting uuid, seen at date_sighting, where = the organisation.
func (l *loader) addSighting(j job, b *graph.Batch, s rawSighting, of graph.Ref) {
	l.report.AddRead(1)
	id := canonUUID(s.UUID.String())
	if id == "" {
		l.drop(j, "sighting", "", ReasonMissingUUID, errors.New("sighting without a uuid"))
		return
	}
	at := parseTime(s.DateSighting.String())
	props := map[string]any{"type": nameOr(sightingTypes, s.Type.String()), "source_format": "misp"}
	if src := strings.TrimSpace(s.Source.String()); src != "" {
		props["source"] = src
	}
	sg := graph.Sighting{
		SourceID: alias(id), Of: of, Count: 1, FirstSeen: at, LastSeen: at,
		Sources: []string{l.feed}, Props: props,
	}
	if s.Organisation != nil {
		if org := strings.TrimSpace(s.Organisation.Name.String()); org != "" && len(org) <= maxValueBytes {
			o := orgNode(*s.Organisation, l.feed)
			o.FirstSeen, o.LastSeen = at, at
			b.Nodes = append(b.Nodes, o)
			sg.Where = []graph.Ref{o.Ref()}
		}
	}
	b.AddSighting(sg)
	l.report.AddSightings(1)
	l.report.AddMapped(1)
}

// sightingRecord maps an event-level sighting, which names its attribute by
// uuid.
func (l *loader) sightingRecord(j job, b *graph.Batch) {
	var s rawSighting
	if err := unmarshal(j.raw, &s); err != nil {
		l.report.AddRead(1)
		l.countRead(recSighting)
		l.drop(j, "sighting", recordUUID(j.raw), ReasonMalformed, err)
		return
	}
	l.tally.add(func(t *Tally) { t.Sightings++ })
	attr := canonUUID(s.AttributeUUID.String())
	if attr == "" {
		l.report.AddRead(1)
		l.drop(j, "sighting", s.UUID.String(), ReasonMissingUUID, errors.New("event sighting without attribute_uuid"))
		return
	}
	l.addSighting(j, b, s, graph.Ref(alias(attr)))
}

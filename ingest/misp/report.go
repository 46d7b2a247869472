package misp

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// rawEventReport is a MISP EventReport: an analyst's write-up in Markdown,
// whose content names the event's attributes and objects as
// @[attribute](<uuid>) and @[object](<uuid>).
type rawEventReport struct {
	UUID      text `json:"uuid"`
	Name      text `json:"name"`
	Content   text `json:"content"`
	Timestamp text `json:"timestamp"`
	Deleted   flag `json:"deleted"`
}

// reportMention is an attribute or object an event report's Markdown names.
var reportMention = regexp.MustCompile(`@\[(?:attribute|object)\]\(([0-9A-Fa-f-]{36})\)`)

// eventReportRecord maps an EventReport as misp-stix exports it: a note
// keyed "note--<uuid>" (alias "misp--<uuid>"), named by the report's name,
// its Markdown in props "content", linked "object" from its event and
// "object" to every attribute and object its content mentions.
func (m *mapper) eventReportRecord(j job, b *graph.Batch) {
	j.out.res.Read++
	var r rawEventReport
	if err := unmarshal(j.raw, &r); err != nil {
		m.tally.countRead(recEventReport)
		m.drop(j, "event report", recordUUID(j.raw), engine.ReasonInvalidProperty, err)
		return
	}
	m.tally.add(func(t *Tally) { t.EventReports++ })
	uuid := canonUUID(r.UUID.String())
	switch {
	case bool(r.Deleted):
		m.drop(j, "event report", uuid, ReasonDeleted, errors.New("event report deleted"))
		return
	case uuid == "":
		m.drop(j, "event report", r.UUID.String(), engine.ReasonMissingID, errors.New("event report without a valid uuid"))
		return
	}
	n := graph.SourceNode(graph.KindNote, "note--"+uuid)
	n.Aliases = append(n.Aliases, alias(uuid))
	n.Name = strings.TrimSpace(r.Name.String())
	n.Props = map[string]any{"misp_uuid": uuid, "source_format": "misp-event-report"}
	content := r.Content.String()
	if content != "" {
		n.Props["content"] = content
	}
	n.FirstSeen, n.LastSeen = j.first, j.last
	if ts, err := parseTimeChecked(r.Timestamp.String()); err != nil {
		m.badTime(j, "event report", uuid, err)
	} else if !ts.IsZero() {
		n.FirstSeen, n.LastSeen = seen(ts, ts)
	}
	n.Sources = []string{m.feed}
	b.Nodes = append(b.Nodes, n)
	// The report is its event's own content: the event's TLP marks it.
	j.out.own = append(j.out.own, ownOf(n.Brief()))
	var mentioned []string
	for _, sm := range reportMention.FindAllStringSubmatch(content, -1) {
		if u := canonUUID(sm[1]); u != "" && !slices.Contains(mentioned, u) {
			mentioned = append(mentioned, u)
			b.Relations = append(b.Relations, graph.Relation{Src: n.Ref(), Type: RelObject, Dst: graph.Ref(alias(u)),
				Sources: n.Sources, FirstSeen: n.FirstSeen, LastSeen: n.LastSeen})
		}
	}
	// What the report names, its event states in its version (as an
	// object's links): a newer version that changed the report or no
	// longer holds it supersedes the mentions it dropped.
	if by := cmp.Or(j.evUUID, uuid); !j.version.IsZero() {
		b.Nodes[len(b.Nodes)-1].Versions = map[string]time.Time{alias(by): j.version}
	}
	eventStated(j, b.Relations[len(b.Relations)-len(mentioned):], uuid, n.Ref())
	if rel, ok := m.addLink(j, link{typ: RelObject, dst: n.Ref(), first: n.FirstSeen, last: n.LastSeen}); ok {
		rel.Sources = n.Sources
		b.Relations = append(b.Relations, rel)
	}
	j.out.res.Mapped++
}

// rawAnalystData is a MISP analyst note or opinion (MISP 2.4.184+), kept
// in a "Note" or "Opinion" list of the event, object or attribute it is
// about (object_uuid).
type rawAnalystData struct {
	UUID       text `json:"uuid"`
	ObjectUUID text `json:"object_uuid"`
	Note       text `json:"note"`
	Language   text `json:"language"`
	Opinion    text `json:"opinion"`
	Comment    text `json:"comment"`
	Authors    text `json:"authors"`
	Created    text `json:"created"`
	Modified   text `json:"modified"`
	Deleted    flag `json:"deleted"`
}

// opinionLevel is the STIX opinion of a MISP opinion (0 to 100), as
// misp-stix maps it.
func opinionLevel(v string) (string, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	switch {
	case err != nil || n < 0 || n > 100:
		return "", false
	case n <= 20:
		return "strongly-disagree", true
	case n <= 40:
		return "disagree", true
	case n <= 60:
		return "neutral", true
	case n <= 80:
		return "agree", true
	}
	return "strongly-agree", true
}

// analystData maps the analyst notes and opinions about the node at
// about as misp-stix exports them: a note keyed "note--<uuid>" (the text
// in props "content") or an opinion keyed "opinion--<uuid>" (props
// "opinion" and the MISP score "x_misp_opinion"), aliased "misp--<uuid>",
// linked "object" to what it is about. Each is a record, mapped or
// dropped.
func (m *mapper) analystData(j job, b *graph.Batch, notes, opinions list[jsontext.Value], about graph.Ref, first, last time.Time) {
	for i, raw := range append(slices.Clone(notes), opinions...) {
		kind, what := graph.KindNote, "analyst note"
		if i >= len(notes) {
			kind, what = graph.KindOpinion, "analyst opinion"
		}
		m.analystRecord(j, b, raw, kind, what, about, first, last)
	}
}

func (m *mapper) analystRecord(j job, b *graph.Batch, raw []byte, kind graph.Kind, what string, about graph.Ref, first, last time.Time) {
	j.out.res.Read++
	m.tally.add(func(t *Tally) { t.AnalystData++ })
	var d rawAnalystData
	if err := unmarshal(raw, &d); err != nil {
		m.drop(j, what, recordUUID(raw), engine.ReasonInvalidProperty, err)
		return
	}
	uuid := canonUUID(d.UUID.String())
	switch {
	case bool(d.Deleted):
		m.drop(j, what, uuid, ReasonDeleted, fmt.Errorf("%s deleted", what))
		return
	case uuid == "":
		m.drop(j, what, d.UUID.String(), engine.ReasonMissingID, fmt.Errorf("%s without a valid uuid", what))
		return
	}
	if about == "" {
		if o := canonUUID(d.ObjectUUID.String()); o != "" {
			about = graph.Ref(alias(o))
		} else {
			m.drop(j, what, uuid, engine.ReasonMissingID, fmt.Errorf("%s without a valid object_uuid", what))
			return
		}
	}
	n := graph.SourceNode(kind, string(kind)+"--"+uuid)
	n.Aliases = append(n.Aliases, alias(uuid))
	n.Props = map[string]any{"misp_uuid": uuid, "source_format": "misp-analyst-data"}
	if kind == graph.KindNote {
		if s := d.Note.String(); s != "" {
			n.Props["content"] = s
		}
		if s := strings.TrimSpace(d.Language.String()); s != "" {
			n.Props["lang"] = s
		}
	} else {
		level, ok := opinionLevel(d.Opinion.String())
		if !ok {
			m.drop(j, what, uuid, ReasonInvalidValue, fmt.Errorf("opinion %q is not a score from 0 to 100", d.Opinion.String()))
			return
		}
		n.Props["opinion"], n.Props["x_misp_opinion"] = level, strings.TrimSpace(d.Opinion.String())
		if s := strings.TrimSpace(d.Comment.String()); s != "" {
			n.Props["explanation"] = s
		}
	}
	if s := strings.TrimSpace(d.Authors.String()); s != "" {
		n.Props["authors"] = []string{s}
	}
	n.FirstSeen, n.LastSeen = first, last
	for _, f := range []text{d.Modified, d.Created} {
		if ts, err := parseTimeChecked(f.String()); err == nil && !ts.IsZero() {
			n.FirstSeen, n.LastSeen = seen(ts, ts)
			break
		}
	}
	n.Sources = []string{m.feed}
	b.Nodes = append(b.Nodes, n)
	j.out.own = append(j.out.own, ownOf(n.Brief()))
	b.Relations = append(b.Relations, graph.Relation{Src: n.Ref(), Type: RelObject, Dst: about,
		Sources: n.Sources, FirstSeen: n.FirstSeen, LastSeen: n.LastSeen})
	eventStated(j, b.Relations[len(b.Relations)-1:], "", n.Ref())
	j.out.res.Mapped++
}

// rawAnalystRelationship is a MISP analyst relationship (MISP 2.4.184+):
// the event, object or attribute it is kept in (object_uuid) related to
// another record by uuid.
type rawAnalystRelationship struct {
	UUID              text    `json:"uuid"`
	ObjectUUID        text    `json:"object_uuid"`
	RelatedObjectUUID text    `json:"related_object_uuid"`
	RelationshipType  relName `json:"relationship_type"`
	Deleted           flag    `json:"deleted"`
}

// analystRelationships maps analyst relationships as object references
// are mapped: a relation from the node at from (or, without it, the
// record object_uuid names) to "misp--<related_object_uuid>", typed by
// relationship_type (related-to when empty), its own uuid its id.
func (m *mapper) analystRelationships(j job, b *graph.Batch, raws list[jsontext.Value], from graph.Ref, first, last time.Time) {
	const what = "analyst relationship"
	for _, raw := range raws {
		j.out.res.Read++
		m.tally.add(func(t *Tally) { t.AnalystData++ })
		var r rawAnalystRelationship
		if err := unmarshal(raw, &r); err != nil {
			m.drop(j, what, recordUUID(raw), engine.ReasonInvalidProperty, err)
			continue
		}
		src := from
		if o := canonUUID(r.ObjectUUID.String()); src == "" && o != "" {
			src = graph.Ref(alias(o))
		}
		dst := canonUUID(r.RelatedObjectUUID.String())
		switch {
		case bool(r.Deleted):
			m.drop(j, what, r.UUID.String(), ReasonDeleted, errors.New("analyst relationship deleted"))
			continue
		case src == "" || dst == "":
			m.drop(j, what, r.UUID.String(), engine.ReasonMissingID, errors.New("analyst relationship without a valid object_uuid or related_object_uuid"))
			continue
		}
		typ := strings.ToLower(strings.TrimSpace(r.RelationshipType.String()))
		if typ == "" {
			typ = RelRelatedTo
		}
		rel := graph.Relation{Src: src, Type: typ, Dst: graph.Ref(alias(dst)), Sources: []string{m.feed}, FirstSeen: first, LastSeen: last}
		if u := canonUUID(r.UUID.String()); u != "" {
			rel.IDs = []string{alias(u)}
		}
		b.Relations = append(b.Relations, rel)
		eventStated(j, b.Relations[len(b.Relations)-1:], "", src)
		j.out.res.Mapped++
	}
}

package misp

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

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
	j.out.own = append(j.out.own, n.Brief())
	var mentioned []string
	for _, sm := range reportMention.FindAllStringSubmatch(content, -1) {
		if u := canonUUID(sm[1]); u != "" && !slices.Contains(mentioned, u) {
			mentioned = append(mentioned, u)
			b.Relations = append(b.Relations, graph.Relation{Src: n.Ref(), Type: RelObject, Dst: graph.Ref(alias(u)),
				Sources: n.Sources, FirstSeen: n.FirstSeen, LastSeen: n.LastSeen})
		}
	}
	if !j.version.IsZero() {
		// What the report names, it names in its event's version.
		b.Nodes[len(b.Nodes)-1].Versions = map[string]time.Time{alias(uuid): j.version}
		graph.MarkStated(b.Relations[len(b.Relations)-len(mentioned):], alias(uuid), j.version, n.Ref())
	}
	if rel, ok := m.addLink(j, link{typ: RelObject, dst: n.Ref(), first: n.FirstSeen, last: n.LastSeen}); ok {
		rel.Sources = n.Sources
		b.Relations = append(b.Relations, rel)
	}
	j.out.res.Mapped++
}

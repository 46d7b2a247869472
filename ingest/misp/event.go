package misp

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/stixid"
)

// maxDeferred bounds the links an event keeps while its uuid is unknown
// (bare events with sorted keys put "Attribute" before "uuid").
const maxDeferred = 1 << 20

// frameKeys are the scalar members a frame keeps: those of an event, and
// those of a galaxy or cluster file that name its type.
var frameKeys = map[string]bool{
	"uuid": true, "info": true, "date": true, "timestamp": true, "publish_timestamp": true,
	"threat_level_id": true, "analysis": true, "published": true, "distribution": true,
	"attribute_count": true, "id": true, "extends_uuid": true, "disable_correlation": true,
	"type": true, "name": true, "namespace": true, "version": true,
	// a ZMQ message's: "delete" for a record MISP deleted
	"action": true,
}

// eventMarkers are the members only an event has; a frame holding one of
// them (or wrapped in "Event") is an event.
var eventMarkers = map[string]bool{
	"info": true, "date": true, "threat_level_id": true, "analysis": true,
	"published": true, "attribute_count": true, "Orgc": true, "Org": true,
}

// link is a relation from the event to a node made from one of its records.
type link struct {
	typ         string
	dst         graph.Ref
	props       map[string]any
	first, last time.Time
}

// frame is one JSON object being read at the document level: an event, a
// wrapper ({"Event": …}, {"response": …}), a search result or a galaxy.
// The reading goroutine owns it until it emits the end of the event; the
// links kept for the event's end (deferred, overflow) belong to the
// engine's batcher goroutine, which reads the rest only at the event's end.
type frame struct {
	wrapped bool // the value of an "Event" member
	fields  map[string]string
	marked  bool // holds an event marker
	// holdsEvent: the frame has an "Event" member, so it is a wrapper
	// of the event (a ZMQ misp_json_event message, {"Event": {…},
	// "EventTag": […], "Orgc": {…}, "action": …}), not an event, even
	// with an event marker (Orgc) beside it.
	holdsEvent bool
	tags       []rawTag
	// tagsGiven counts the tags of a wrapper (tags) given to the event
	// it holds (frame.takeWrapper); the rest, read after the event was
	// written, are said at WARN.
	tagsGiven int
	orgc      rawOrg
	// sharingGroup is the frame's SharingGroup, nil for none: an event's
	// own; beside the one attribute of a document that is no event (a ZMQ
	// misp_json_attribute message), the attribute's (job.sharingGroup).
	sharingGroup *rawSharingGroup
	offset       int64
	// first and last cache seen(); seenValid is reset when date or
	// timestamp is read.
	first, last time.Time
	seenValid   bool
	// late are the event's galaxies read before its times (sorted keys put
	// "Galaxy" before "date" and "timestamp"), emitted at its end.
	late []engine.Record[*job]
	// files are its event-level attributes naming a file by name and
	// hash, held to be mapped with the other hashes of that name
	// (samplefiles.go); heldBytes is their size.
	files     []heldFile
	heldBytes int
	// evRef and evUUID are set once the frame is known to be an event with
	// a uuid.
	evRef  graph.Ref
	evUUID string
	// members is set once an Attribute, Object or EventReport list of the frame is
	// read (empty or not): a copy of the event without either (MISP's
	// metadata-only search results, the Event a ZMQ attribute message
	// carries) says nothing of what the event holds, so it states no
	// version of its links (endEvent).
	members bool
	// stubSent is set once the event node has been queued early (the
	// stub): links are written with their records from then on, and kept
	// for the end of the event before. A link written before its event
	// node would wait among the pending relations.
	stubSent bool

	// Batcher goroutine: the links of records read before the stub, and
	// the event's own nodes (mapping.own), for its end.
	deferred    []link
	overflow    bool
	own         []ownNode
	ownOverflow bool
	// stated are the relations its records stated before its uuid or
	// version was read (mapping.stated), for its end.
	stated []graph.Relation
	// held are its own nodes its records wrote before its uuid or
	// version was read, and the relations naming them (mapping.held),
	// for its end; heldCount bounds them (maxHeld), heldOverflow says
	// some were written at once, without a version.
	held         []graph.Node
	heldRels     []graph.Relation
	heldCount    int
	heldOverflow bool
	// parent is the frame this one is the "Event" or "response" member
	// of, or nil. nestedEvents counts the events read as its members,
	// nestedEvent is the last; ownRecords is set once a record of its
	// own (an attribute, an object, ...) is read. Reading goroutine.
	parent       *frame
	nestedEvents int
	nestedEvent  *frame
	ownRecords   bool
	// holdSighting is set while the one sighting of a top-level frame
	// that may be a ZMQ message is read: it waits in late for the
	// frame's "action" (fileSource.records). Reading goroutine.
	holdSighting bool
	// holdAttribute is set while the one attribute of a top-level frame
	// that may be a ZMQ misp_json_attribute message is read: it waits in
	// late for the frame's end, where the SharingGroup MISP gives beside
	// it (its own, read after it) is known (fileSource.records).
	holdAttribute bool
	// attrTags are the tags of an AttributeTag list beside the frame's
	// attribute (a ZMQ misp_json_attribute message's), read at
	// attrTagsOffset, for the attribute held to the frame's end.
	attrTags       []rawTag
	attrTagsOffset int64

	// element is set when the frame is an element of an array (a bare
	// event of an array or of a response's list); spooling while a list
	// read before anything said what the frame is is kept, in spool, for
	// its end (undecided). Reading goroutine.
	element  bool
	spooling bool
	spool    *spool

	// ownVersions are the versions of the record of the one attribute
	// of a ZMQ misp_json_attribute message (mapping.ownVersions): the
	// restriction its Event gives the sightings beside it is in that
	// version. Batcher goroutine.
	ownVersions map[string]time.Time

	// attrTLPs are the TLPs of its attributes tagged with one (objects'
	// too), by uuid, and sighted its sightings that name their attribute
	// by uuid alone (mapping.tlps, mapping.sighted), for its end.
	attrTLPs       map[string]graph.TLP
	sighted        []sighted
	sightsOverflow bool
}

// sighted is a sighting of the attribute with uuid attr, whose TLP it
// takes once that is known (frame.sightingTLPs).
type sighted struct {
	attr  string
	brief graph.NodeBrief
}

// ownNode names one of an event's own nodes, kept to the event's end
// (frame.own) for its TLP: compactly, since an event holds one per
// attribute of its own (an indicator of each to_ids attribute, a text
// attribute): a node keyed "<kind>--<uuid>" of those two kinds by its
// uuid alone (the kind a constant), any other by its brief, unnamed.
//
// stamped says the node's record was written in its event's version
// (stampOwn): the event's next version replaces that record, so only a
// TLP needs a record at the event's end.
type ownNode struct {
	kind    graph.Kind
	uuid    uuid.UUID
	brief   *graph.NodeBrief
	stamped bool
}

// id is the node's id.
func (o ownNode) id() uuid.UUID {
	if o.brief != nil {
		return o.brief.ID
	}
	return graph.SourceNode(o.kind, string(o.kind)+"--"+o.uuid.String()).ID
}

// stampOwn writes the records in nodes of the event's own nodes own as the
// event's (by, its uuid's alias) in its version v (graph.Node.Versions;
// node_records: graph.RecordSource), and marks own stamped: a newer
// version of the event replaces what this one gave them, its TLP too.
func stampOwn(nodes []graph.Node, own []ownNode, by string, v time.Time) {
	for i := range own {
		id := own[i].id()
		for k := range nodes {
			if nodes[k].ID != id {
				continue
			}
			if cur, ok := nodes[k].Versions[by]; !ok || !cur.Equal(v) {
				vs := maps.Clone(nodes[k].Versions)
				if vs == nil {
					vs = map[string]time.Time{}
				}
				vs[by] = v
				nodes[k].Versions = vs
			}
			own[i].stamped = true
		}
	}
}

// ownOf is the ownNode of b.
func ownOf(b graph.NodeBrief) ownNode {
	for _, k := range []graph.Kind{graph.KindIndicator, KindAttribute} {
		if rest, ok := strings.CutPrefix(b.Key, string(k)+"--"); ok && b.Kind == k {
			if u, err := uuid.Parse(rest); err == nil && u.String() == rest {
				return ownNode{kind: k, uuid: u}
			}
		}
	}
	b.Name = ""
	return ownNode{brief: &b}
}

// propsRecord is the record of the node with the props alone (no name,
// TLP or times), merged into what its own record wrote.
func (o ownNode) propsRecord(props map[string]any, sources []string) graph.Node {
	n := o.tlpRecord(graph.TLPNone, sources)
	n.Props = maps.Clone(props)
	return n
}

// tlpRecord is the record of the node's TLP alone (graph.NodeBrief.TLPRecord).
func (o ownNode) tlpRecord(tlp graph.TLP, sources []string) graph.Node {
	if o.brief != nil {
		return o.brief.TLPRecord(tlp, sources)
	}
	return graph.SourceNode(o.kind, string(o.kind)+"--"+o.uuid.String()).Brief().TLPRecord(tlp, sources)
}

// keepOwn keeps the event's own nodes for its end, up to maxDeferred;
// called in feed order on the batcher goroutine.
func (f *frame) keepOwn(own []ownNode) {
	if len(f.own)+len(own) > maxDeferred {
		f.ownOverflow = true
		own = own[:max(0, maxDeferred-len(f.own))]
	}
	f.own = append(f.own, own...)
}

// keepSighted keeps the TLPs of attributes and the sightings naming
// attributes by uuid for the end of the event, up to maxDeferred each;
// called in feed order on the batcher goroutine.
func (f *frame) keepSighted(tlps map[string]graph.TLP, sighted []sighted) {
	for u, tlp := range tlps {
		if f.attrTLPs == nil {
			f.attrTLPs = map[string]graph.TLP{}
		}
		if len(f.attrTLPs) >= maxDeferred {
			f.sightsOverflow = true
			break
		}
		f.attrTLPs[u] = f.attrTLPs[u].Stricter(tlp)
	}
	if len(f.sighted)+len(sighted) > maxDeferred {
		f.sightsOverflow = true
		sighted = sighted[:max(0, maxDeferred-len(f.sighted))]
	}
	f.sighted = append(f.sighted, sighted...)
}

// sightingTLPs are the records of the TLP of each sighting kept by
// keepSighted whose attribute is tagged with one: the rule a sighting
// read inside its attribute follows (addSighting), for the sightings of
// the event's Sighting list, which name their attribute by uuid and may
// come before it.
func (f *frame) sightingTLPs(feed string) []graph.Node {
	var out []graph.Node
	for _, s := range f.sighted {
		if tlp := f.attrTLPs[s.attr]; tlp != graph.TLPNone {
			out = append(out, s.brief.TLPRecord(tlp, []string{feed}))
		}
	}
	f.attrTLPs, f.sighted = nil, nil
	return out
}

func newFrame(wrapped bool, offset int64) *frame {
	return &frame{wrapped: wrapped, fields: map[string]string{}, offset: offset}
}

// undecided reports whether nothing read of the frame yet says whether
// it is an event (a bare event whose keys are sorted gives "Attribute",
// "EventReport", "Galaxy" and "Object" before "info", "Orgc" and
// "uuid"), in a place where an event may be: at the top of the document
// or an element of an array. A search result's list ({"response":
// {"Attribute": […]}}) is none: it is read as it comes.
func (f *frame) undecided() bool {
	return !f.wrapped && !f.marked && !f.holdsEvent && (f.parent == nil || f.element)
}

// waits reports whether the records of a list read in the frame now
// wait for its end (spool): nothing says yet whether it is an event
// (undecided), or it is an event whose uuid or timestamp is not known
// yet (sorted keys put them after "Attribute" and "Object"), which what
// its records state needs.
func (f *frame) waits() bool {
	if f.isEvent() {
		return f.uuid() == "" || strings.TrimSpace(f.fields["timestamp"]) == ""
	}
	return f.undecided()
}

// isEvent reports whether the frame is an event.
func (f *frame) isEvent() bool { return f.wrapped || (f.marked && !f.holdsEvent) }

// takeWrapper gives the event f what its wrapper w states beside it and
// f does not: the creator organisation (Orgc) and the tags (an EventTag
// list's or a Tag list's) of a ZMQ misp_json_event message, which MISP
// writes beside the Event it wraps ({"Event": {…}, "Orgc": {…},
// "EventTag": [{"Tag": {"name": …}}, …], "action": …}: MISP
// app/Model/Event.php quickFetchEvent, the event its pubsub tool
// publishes on every save). It returns the number of tags given. Only the
// tags w read since its last call are given; a tag the event already has
// is not given twice.
func (f *frame) takeWrapper(w *frame) int {
	if strings.TrimSpace(f.orgc.Name.String()) == "" && strings.TrimSpace(f.orgc.UUID.String()) == "" {
		f.orgc = w.orgc
	}
	had := make(map[string]bool, len(f.tags))
	for _, t := range f.tags {
		had[strings.TrimSpace(t.Name.String())] = true
	}
	given := 0
	for _, t := range w.tags[w.tagsGiven:] {
		name := strings.TrimSpace(t.Name.String())
		if name == "" || had[name] {
			continue
		}
		had[name] = true
		f.tags = append(f.tags, t)
		given++
	}
	w.tagsGiven = len(w.tags)
	return given
}

// uuid is the event uuid, lower-cased.
func (f *frame) uuid() string { return canonUUID(f.fields["uuid"]) }

// derivedEventUUID is the uuid of an event given without one: derived from
// its creator organisation (its uuid, else its name), its info and its
// date, so a reload of the event is the same event (and a newer version of
// it, by its timestamp, supersedes what the older stated). None when the
// event has no info: nothing to tell one such event from another.
func derivedEventUUID(f *frame) string {
	info := strings.TrimSpace(f.fields["info"])
	if info == "" {
		return ""
	}
	org := cmp.Or(canonUUID(f.orgc.UUID.String()), strings.TrimSpace(f.orgc.Name.String()))
	parts := []string{"misp-event", org, info, strings.TrimSpace(f.fields["date"])}
	return uuid.NewSHA1(graph.Namespace, []byte(strings.Join(parts, "\x00"))).String()
}

// settle makes the event's ref known when the frame is an event with a
// uuid; called by the reading goroutine as members arrive.
func (f *frame) settle() {
	if !f.isEvent() || f.uuid() == "" || f.evRef != "" {
		return
	}
	f.evUUID = f.uuid()
	f.evRef = eventNode(f.evUUID).Ref()
}

// keepStated keeps relations its records state for the end of the event,
// up to maxDeferred, and returns those it could not keep; called in feed
// order on the batcher goroutine.
func (f *frame) keepStated(rels []graph.Relation) []graph.Relation {
	n := min(len(rels), max(0, maxDeferred-len(f.stated)))
	f.stated = append(f.stated, rels[:n]...)
	return rels[n:]
}

// maxHeld bounds the node records and relations an event holds for its
// end (frame.held): whole records, larger than a link, so fewer than
// maxDeferred (about 128 MiB at 1 KiB each).
const maxHeld = 1 << 17

// keepHeld keeps own nodes and the relations naming them for the end of
// the event (frame.held), up to maxHeld of both, and returns those it
// could not keep; called in feed order on the batcher goroutine.
func (f *frame) keepHeld(nodes []graph.Node, rels []graph.Relation) ([]graph.Node, []graph.Relation) {
	if len(nodes)+len(rels) == 0 {
		return nil, nil
	}
	if f.heldCount+len(nodes)+len(rels) > maxHeld {
		f.heldOverflow = true
		return nodes, rels
	}
	f.heldCount += len(nodes) + len(rels)
	f.held = append(f.held, nodes...)
	f.heldRels = append(f.heldRels, rels...)
	return nil, nil
}

// holdOwn takes out of b the records of the own nodes own and the
// relations naming one of them, and returns them.
func holdOwn(b *graph.Batch, own []ownNode) ([]graph.Node, []graph.Relation) {
	ids := make(map[graph.Ref]bool, len(own))
	for _, o := range own {
		ids[graph.NodeRef(o.id())] = true
	}
	var nodes []graph.Node
	var rels []graph.Relation
	b.Nodes = slices.DeleteFunc(b.Nodes, func(n graph.Node) bool {
		if ids[n.Ref()] {
			nodes = append(nodes, n)
			return true
		}
		return false
	})
	if len(nodes) == 0 {
		return nil, nil
	}
	b.Relations = slices.DeleteFunc(b.Relations, func(r graph.Relation) bool {
		if ids[r.Src] || ids[r.Dst] {
			rels = append(rels, r)
			return true
		}
		return false
	})
	return nodes, rels
}

// keep keeps links for the end of the event, up to maxDeferred; called in
// feed order on the batcher goroutine.
func (f *frame) keep(links []link) {
	for _, l := range links {
		if len(f.deferred) >= maxDeferred {
			f.overflow = true
			return
		}
		f.deferred = append(f.deferred, l)
	}
}

// relation is the link as a relation from src.
func (l link) relation(src graph.Ref) graph.Relation {
	return graph.Relation{Src: src, Type: l.typ, Dst: l.dst, Props: l.props, FirstSeen: l.first, LastSeen: l.last}
}

// eventNode is the bare node of the event with this uuid: kind report,
// keyed by its alias.
func eventNode(uuid string) graph.Node {
	return graph.SourceNode(graph.KindReport, alias(uuid))
}

// alias is the node alias of a MISP uuid (event, attribute, object, galaxy
// cluster, sighting): "misp--<uuid>".
func alias(uuid string) string {
	return "misp--" + strings.ToLower(strings.TrimSpace(uuid))
}

// threatLevels and analysisLevels name MISP's numeric codes.
var (
	threatLevels   = map[string]string{"1": "high", "2": "medium", "3": "low", "4": "undefined"}
	analysisLevels = map[string]string{"0": "initial", "1": "ongoing", "2": "completed"}
)

// buildEvent returns the event's node and the relations it owns (to its
// creator and its galaxy clusters from tags), plus identity nodes.
func (f *frame) buildEvent(feed string) ([]graph.Node, []graph.Relation) {
	uuid := f.uuid()
	n := eventNode(uuid)
	n.Name = strings.TrimSpace(f.fields["info"])
	if n.Name == "" {
		n.Name = "MISP event " + uuid
	}
	props := map[string]any{"misp_uuid": uuid, "source_format": "misp"}
	for _, k := range []string{"info", "date", "published", "attribute_count", "extends_uuid"} {
		if v := f.fields[k]; v != "" {
			props[k] = v
		}
	}
	dc := strings.TrimSpace(f.fields["disable_correlation"])
	addSharing(props, f.fields["distribution"], f.sharingGroup, dc == "true" || dc == "1")
	if ts := parseTime(f.fields["timestamp"]); !ts.IsZero() {
		props["timestamp"] = ts
	}
	if ts := parseTime(f.fields["publish_timestamp"]); !ts.IsZero() {
		props["publish_timestamp"] = ts
	}
	if v := f.fields["threat_level_id"]; v != "" {
		props["threat_level"] = nameOr(threatLevels, v)
	}
	if v := f.fields["analysis"]; v != "" {
		props["analysis"] = nameOr(analysisLevels, v)
	}
	n.FirstSeen, n.LastSeen = f.seen()
	n.Sources = []string{feed}
	tg := readTags(f.tags)
	n.Labels, n.TLP = tg.labels, tg.tlp
	nodes := []graph.Node{}
	var rels []graph.Relation
	if org := strings.TrimSpace(f.orgc.Name.String()); org != "" && len(org) <= maxValueBytes {
		props["orgc"] = org
		id := orgNode(f.orgc, feed)
		id.FirstSeen, id.LastSeen = n.FirstSeen, n.LastSeen
		nodes = append(nodes, id)
		rels = append(rels, graph.Relation{Src: n.Ref(), Type: RelCreatedBy, Dst: id.Ref(), Sources: n.Sources, FirstSeen: n.FirstSeen, LastSeen: n.LastSeen})
	}
	n.Props = props
	for _, c := range tg.clusters {
		cn := c.node(feed)
		cn.FirstSeen, cn.LastSeen = n.FirstSeen, n.LastSeen
		nodes = append(nodes, cn)
		rels = append(rels, graph.Relation{Src: n.Ref(), Type: c.relType(RelObject), Dst: cn.Ref(), Sources: n.Sources, FirstSeen: n.FirstSeen, LastSeen: n.LastSeen})
	}
	nodes = append([]graph.Node{n}, nodes...)
	return nodes, rels
}

// seen is the event's first/last seen: its date and its timestamp.
func (f *frame) seen() (time.Time, time.Time) {
	if !f.seenValid {
		f.first, f.last = seen(parseTime(f.fields["date"]), parseTime(f.fields["timestamp"]))
		f.seenValid = true
	}
	return f.first, f.last
}

// stub is the event node with what is known before its end (uuid, title,
// date and timestamp), written early so its records' links find it. It is
// only written when the event's times are known: a node without them would
// be stamped with the time of loading, and every load would change it.
func (f *frame) stub(feed string) graph.Node {
	n := eventNode(f.uuid())
	n.Name = strings.TrimSpace(f.fields["info"])
	if n.Name == "" {
		n.Name = "MISP event " + f.uuid()
	}
	n.Props = map[string]any{"misp_uuid": f.uuid(), "source_format": "misp"}
	n.Sources = []string{feed}
	n.FirstSeen, n.LastSeen = f.seen()
	return n
}

// orgNode is the identity node of a MISP organisation: keyed by
// "identity--<org uuid>", the id MISP's STIX export gives the organisation,
// so the two meet; by its name when it has no uuid.
func orgNode(org rawOrg, feed string) graph.Node {
	name := strings.TrimSpace(org.Name.String())
	var n graph.Node
	if u, err := uuid.Parse(strings.TrimSpace(org.UUID.String())); err == nil {
		n = graph.SourceNode(graph.KindIdentity, stixid.STIXID("identity", u))
		n.Name = name
	} else {
		n = graph.NamedNode(graph.KindIdentity, name)
	}
	n.Props = map[string]any{"identity_class": "organization"}
	n.Sources = []string{feed}
	return n
}

func nameOr(names map[string]string, v string) string {
	if n, ok := names[strings.TrimSpace(v)]; ok {
		return n
	}
	return v
}

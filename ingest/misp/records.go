package misp

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/stix"
)

// attrOut is an attribute mapped: its node, or, for a type that names no
// entity inside an object, only its type and value; details are what the
// link to it from its event or object carries.
type attrOut struct {
	node      graph.Node
	propsOnly bool
	// own: the node is this attribute's alone (keyed by its uuid, not a
	// value other records share), so its event's TLP applies to it.
	own      bool
	uuid     string
	typ      string
	value    string
	relation string
	labels   []string
	tlp      graph.TLP
	details  map[string]any
	// toIDs: flagged for detection (to_ids).
	toIDs bool
	// sightings of an object's attribute, for its object to write
	// (objectRecord): of the attribute's node, or of the object's when
	// the attribute's node is not written (a property, a file's name).
	sightings []rawSighting
}

// attributeRecord maps an event-level attribute (or one of a search
// result).
func (m *mapper) attributeRecord(j job, b *graph.Batch) {
	j.out.res.Read++
	var a rawAttribute
	if err := unmarshal(j.raw, &a); err != nil {
		m.tally.countRead(recAttribute)
		m.drop(j, "attribute", recordUUID(j.raw), engine.ReasonInvalidProperty, err)
		return
	}
	a.Tags = append(a.Tags, j.tags...) // those beside it in its message
	m.tallyAttribute(a, false)
	// An attribute of an object read outside its event (a search result,
	// a ZMQ attribute message, naming its object by a numeric object_id
	// and object_relation) is mapped as its object maps it in the event:
	// its value's node, never an indicator or node of its own (a to_ids
	// one is its object's indicator, indicator--<object uuid>, which only
	// the whole object says), nor a node for a value the object keeps as
	// a property (text, port, …). One attribute gives the same nodes
	// whichever way it arrives.
	ofObject := !j.evFrame && strings.TrimSpace(a.ObjectRelation.String()) != ""
	if ofObject && isObjectFileName(a) {
		// The name of the file its object describes: in the event, the
		// file keyed by its hashes and this name (isFileName), which
		// only the whole object says; the file of the name alone, which
		// every file of the name would share, is no node of it. Its
		// sightings are of the attribute's uuid, which names that file.
		j.out.res.Mapped++
		m.sightingsOfObjectAttribute(j, b, a.Sightings, "", canonUUID(a.UUID.String()), readTags(a.Tags).tlp)
		return
	}
	out, reason, err := m.attribute(j, b, a, ofObject)
	if err != nil {
		m.drop(j, "attribute", a.UUID.String(), reason, err)
		return
	}
	j.out.res.Mapped++
	if ofObject {
		m.sightingsOfObjectAttribute(j, b, out.sightings, out.node.Ref(), out.uuid, out.tlp)
	}
	n := out.node
	switch {
	case out.own && !j.evFrame && j.besideEvent:
		// The one attribute of a ZMQ misp_json_attribute message, beside
		// a copy of its event that restricts it: the restriction is part
		// of its record, in its version (its timestamp), so a newer
		// message of the attribute replaces it, as a search result's
		// event summary's (boundOutside). Written by the frame's end
		// (endFrameRecords), it had no version: nothing took it away.
		if j.evSharing != nil {
			r := ownOf(n.Brief()).propsRecord(j.evSharing, []string{m.feed})
			r.Versions = n.Versions
			b.Nodes = append(b.Nodes, r)
		}
		m.boundOutside(b, a.Event, n)
		// The sightings beside it take that restriction (or none) in
		// the same version (endFrameRecords).
		j.out.ownVersions = n.Versions
	case out.own:
		j.out.own = append(j.out.own, ownOf(n.Brief()))
		if !j.evFrame {
			m.boundOutside(b, a.Event, n)
		}
	}
	if ofObject {
		// Its event links its object, not it; a property of its object
		// (out.propsOnly) is written by no node but the object's.
		return
	}
	l := link{typ: RelObject, dst: n.Ref(), props: marked(keyed(out.uuid, out.details), out.tlp), first: n.FirstSeen, last: n.LastSeen}
	if ev, ok := searchResultEvent(a.EventUUID, a.Event, m.feed, n); ok && !j.evFrame {
		// A search result, linked from the event it names. (A record
		// of a frame not yet known to be an event, as in a bare event
		// with sorted keys, keeps its link for the event's end.)
		rel := l.relation(ev.Ref())
		rel.Sources = []string{m.feed}
		b.Nodes = append(b.Nodes, ev)
		b.Relations = append(b.Relations, rel)
		return
	}
	if rel, ok := m.addLink(j, l); ok {
		rel.Sources = []string{m.feed}
		b.Relations = append(b.Relations, rel)
	}
}

// sightingsOfObjectAttribute writes the sightings of an object's
// attribute read outside its event: of its node when it has one, else of
// its uuid (misp--<uuid>, which its object's node takes in the event: a
// file's name is the file's).
func (m *mapper) sightingsOfObjectAttribute(j job, b *graph.Batch, ss []rawSighting, of graph.Ref, uuid string, tlp graph.TLP) {
	if of == "" && uuid != "" {
		of = graph.Ref(alias(uuid))
	}
	for _, s := range ss {
		if of == "" {
			j.out.res.Read++
			m.drop(j, "sighting", s.UUID.String(), engine.ReasonMissingID, errors.New("sighting of an object's attribute without a uuid, read outside its event"))
			continue
		}
		m.addSighting(j, b, s, of, uuid, tlp, nil)
	}
}

// isObjectFileName reports whether a is the filename attribute of a
// file, lnk or image object (object_relation "filename", type filename),
// as isFileName sees it in its object.
func isObjectFileName(a rawAttribute) bool {
	return strings.EqualFold(strings.TrimSpace(a.ObjectRelation.String()), "filename") &&
		canonicalType(a.Type.String()) == "filename" && !bool(a.Deleted)
}

// searchResultEvent is the event an attribute or object of a search
// result names (MISP's /attributes/restSearch gives each attribute its
// event's uuid and info in "Event", or event_uuid): its node as far as the
// record tells it, named by the info (unnamed without one, so the event's
// own record names it), seen when the record was (the event held it then).
// The link to the record is the one the event's file gives, not stated by
// a version of the event (the result says nothing of the event's version).
func searchResultEvent(evUUID text, brief *rawEventBrief, feed string, attr graph.Node) (graph.Node, bool) {
	id, info := canonUUID(evUUID.String()), ""
	if brief != nil {
		id = cmp.Or(canonUUID(brief.UUID.String()), id)
		info = strings.TrimSpace(brief.Info.String())
	}
	if id == "" {
		return graph.Node{}, false
	}
	ev := eventNode(id)
	if len(info) <= maxValueBytes {
		ev.Name = info
	}
	ev.Props = map[string]any{"misp_uuid": id, "source_format": "misp"}
	ev.Sources = []string{feed}
	ev.FirstSeen, ev.LastSeen = attr.FirstSeen, attr.LastSeen
	return ev, true
}

// marked sets the TLP of a link a record's own tags mark (props "tlp", as
// the STIX loader writes a marked object's links): the event's link to a
// tlp:red attribute of a tlp:green event is red, as the attribute is,
// whatever TLP the event stating it gives (the strictest counts). props is
// returned, made when nil; tlp none leaves it as it is.
func marked(props map[string]any, tlp graph.TLP) map[string]any {
	if tlp == graph.TLPNone {
		return props
	}
	if props == nil {
		props = map[string]any{}
	}
	props["tlp"] = string(tlp)
	return props
}

// keyed puts a record's details under its uuid, so that two records of one
// event or object that map to the same node keep both, and loading them
// again changes nothing.
func keyed(uuid string, details map[string]any) map[string]any {
	if uuid == "" {
		return details
	}
	return map[string]any{uuid: details}
}

func (m *mapper) tallyAttribute(a rawAttribute, inObject bool) {
	m.tally.add(func(t *Tally) {
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
func (m *mapper) attribute(j job, b *graph.Batch, a rawAttribute, inObject bool) (attrOut, engine.Reason, error) {
	// Types and object relations are read in any case (canonicalType; MISP's
	// object relations are all lower case).
	out := attrOut{typ: canonicalType(a.Type.String()), value: a.Value.String(), relation: strings.ToLower(strings.TrimSpace(a.ObjectRelation.String()))}
	uuid := canonUUID(a.UUID.String())
	switch {
	case bool(a.Deleted):
		if !inObject {
			m.withdrawDeleted(b, uuid, out.typ, out.value, bool(a.ToIDs), a.Timestamp.String())
		}
		return out, ReasonDeleted, errors.New("attribute deleted")
	case out.typ == "":
		return out, engine.ReasonMissingType, errors.New("attribute without a type")
	case strings.TrimSpace(out.value) == "":
		return out, ReasonMissingValue, fmt.Errorf("%s attribute without a value", out.typ)
	}
	tg := readTags(a.Tags)
	out.labels, out.tlp, out.uuid, out.toIDs = tg.labels, tg.tlp, uuid, bool(a.ToIDs)
	details := map[string]any{"misp_type": out.typ, "to_ids": bool(a.ToIDs)}
	if c := strings.TrimSpace(a.Category.String()); c != "" {
		details["misp_category"] = c
	}
	if c := strings.TrimSpace(a.Comment.String()); c != "" {
		details["comment"] = c
	}
	if out.relation != "" {
		details["object_relation"] = out.relation
	}
	sg := a.SharingGroup.g
	if sg == nil && !inObject {
		sg = j.sharingGroup // beside it in its message
	}
	addSharing(details, a.Distribution.String(), sg, bool(a.DisableCorrelation))
	out.details = details
	var o observed
	var props map[string]any
	var ind graph.Node
	var obs basis
	var ok bool
	vm := valueMappers[out.typ]
	if out.typ == "link" && (inObject || !bool(a.ToIDs)) {
		// A link is a reference (MISP's describeTypes: "Link to an
		// external information", category External analysis; MISP's own
		// STIX export makes it an external reference of the report): the
		// page an analyst read, no IoC, so not the url node every feed's
		// indicator of that address is based on. It is the attribute's own
		// node, as a text is (a property inside an object). Flagged to_ids,
		// an analyst asks to detect it: the indicator misp-stix exports.
		vm = nil
	}
	if vm != nil {
		var err error
		if o, err = vm(out.typ, out.value); err != nil {
			return out, ReasonInvalidValue, fmt.Errorf("%s: %w", out.typ, err)
		}
		if !inObject && len(j.fileHashes) > 1 && o.node.Kind == graph.KindFile {
			// The file the event's attributes of this name give
			// (samplefiles.go), with every hash they give.
			if f, err := fileObserved(j.fileHashes, o.node.Name); err == nil {
				f.props = o.props
				o = f
			}
		}
		// The node is shared by every record with this value: what is
		// particular to this attribute goes on the link to it.
		for k, v := range o.props {
			details[k] = v
		}
		if !inObject && bool(a.ToIDs) {
			// For detection: the attribute is an indicator based on
			// the value (indicator.go).
			ind, obs, ok = idsIndicator(uuid, out.typ, out.value)
		}
	} else if inObject {
		out.propsOnly = true
		out.sightings = a.Sightings
		return out, "", nil
	} else {
		if uuid == "" {
			return out, engine.ReasonMissingID, fmt.Errorf("%s attribute without a uuid", out.typ)
		}
		kind := KindAttribute
		props = map[string]any{"value": out.value}
		if pt, ok := patternTypes[out.typ]; ok {
			kind, props = graph.KindIndicator, map[string]any{"pattern": out.value, "pattern_type": pt}
		} else if p := propertyPattern(out.typ, out.value); p != "" && bool(a.ToIDs) {
			// A to_ids port, email subject, user agent, …: the
			// indicator misp-stix exports, comparing what no node keys
			// (no observable of its own).
			kind, props = graph.KindIndicator, map[string]any{"pattern": p, "pattern_type": "stix"}
		}
		// Keyed by the id MISP's STIX 2.1 export gives the attribute
		// (indicator--<uuid>, x-misp-attribute--<uuid>), so the two meet;
		// the node is this attribute's alone and carries its details.
		o.node = graph.SourceNode(kind, string(kind)+"--"+uuid)
		o.node.Name = truncate(strings.TrimSpace(out.value), 200)
		out.own = true
		if props["pattern_type"] == "stix" {
			// A STIX pattern is based on the observables it compares, as
			// the STIX loader links them.
			pattern, _ := props["pattern"].(string)
			if pattern != out.value && len(pattern) <= maxPatternName {
				o.node.Name = pattern // as an indicator of a value is named
			}
			obs, err := patternBasis(pattern)
			if err != nil {
				// Not understood ([NOT domain-name:value = …]): the
				// indicator keeps its pattern, without observables, and
				// says so, as the STIX loader does.
				j.out.res.PartDrops = append(j.out.res.PartDrops, engine.Drop{Reason: stix.ReasonInvalidPattern,
					ID: o.node.Key, Detail: "pattern not understood, no observables taken from it: " + err.Error(), Attrs: []any{"kind", "attribute"}})
			}
			for _, ob := range obs.nodes {
				o.extra = append(o.extra, ob)
				o.rels = append(o.rels, graph.Relation{Src: o.node.Ref(), Type: graph.RelBasedOn, Dst: ob.Ref()})
			}
			o.rels = append(o.rels, obs.has...)
		}
		for k, v := range details {
			props[k] = v
		}
		props["misp_uuid"] = uuid
	}
	n := o.node
	n.Props = props
	n.Labels, n.TLP = tg.labels, tg.tlp
	var err error
	if n.FirstSeen, n.LastSeen, err = attributeSeen(a.FirstSeen.String(), a.LastSeen.String(), a.Timestamp.String()); err != nil {
		return out, ReasonInvalidTimestamp, err
	}
	n.Sources = []string{m.feed}
	if ok {
		n = m.indicatorOf(b, &o, n, ind, obs, details, uuid, parseTime(a.Timestamp.String()))
		out.own = true
	} else if out.own && !j.evFrame && !inObject {
		// Read outside its event (a search result, a ZMQ message), the
		// attribute's own node (x-misp-attribute--<uuid>, an indicator of
		// a rule or pattern) is its record in its version, its own id at
		// its timestamp (misp-stix's id and modified for it), as a to_ids
		// attribute's indicator is (indicatorOf) and an event's records
		// are in the event's: a newer version replaces what an older one
		// gave it (a comment removed, a tag's TLP taken away), an older
		// one changes nothing; a stix2-pattern's based-on links are stated
		// in it.
		if v := parseTime(a.Timestamp.String()); !v.IsZero() {
			n.Versions = map[string]time.Time{n.Key: v}
			graph.MarkStated(o.rels, n.Key, v, n.Ref())
		}
	}
	if uuid != "" && !slices.Contains(n.Aliases, alias(uuid)) {
		n.Aliases = append(n.Aliases, alias(uuid))
	}
	out.node = n
	b.Nodes = append(b.Nodes, n)
	for _, e := range o.extra {
		e.Sources, e.FirstSeen, e.LastSeen = n.Sources, n.FirstSeen, n.LastSeen
		b.Nodes = append(b.Nodes, e)
	}
	for _, r := range o.rels {
		r.Sources, r.FirstSeen, r.LastSeen = n.Sources, n.FirstSeen, n.LastSeen
		b.Relations = append(b.Relations, r)
	}
	// Clusters named by the attribute's galaxies and galaxy tags.
	def := RelRelatedTo
	if a.ToIDs {
		def = graph.RelIndicates
	}
	clusters := append(galaxyClusters(a.Galaxies), tg.clusters...)
	m.addClusters(j, b, clusters, n.Ref(), def, n.FirstSeen, n.LastSeen)
	if inObject {
		out.sightings = a.Sightings // its object knows what they sight
	} else {
		for _, s := range a.Sightings {
			m.addSighting(j, b, s, n.Ref(), uuid, tg.tlp, nil)
		}
	}
	if uuid != "" && tg.tlp != graph.TLPNone {
		// For the sightings of its event's Sighting list naming it.
		if j.out.tlps == nil {
			j.out.tlps = map[string]graph.TLP{}
		}
		j.out.tlps[uuid] = tg.tlp
	}
	if !inObject {
		// Analyst data about an object's attribute is the object's
		// (objectRecord), as misp-stix exports it.
		m.analystData(j, b, a.Notes, a.Opinions, n.Ref(), n.FirstSeen, n.LastSeen)
		m.analystRelationships(j, b, a.Relationships, n.Ref(), n.FirstSeen, n.LastSeen)
	}
	return out, "", nil
}

// attributeSeen is the first/last seen of an attribute: first_seen and
// last_seen when given, else its timestamp (when it was last changed). A
// time that is present but invalid (parseTimeChecked) is an error naming
// it, and counts as absent.
func attributeSeen(first, last, ts string) (f, la time.Time, err error) {
	var errs [3]error
	f, errs[0] = parseTimeChecked(first)
	la, errs[1] = parseTimeChecked(last)
	t, e := parseTimeChecked(ts)
	errs[2] = e
	for i, name := range []string{"first_seen", "last_seen", "timestamp"} {
		if errs[i] != nil {
			err = fmt.Errorf("%s: %w", name, errs[i])
			break
		}
	}
	if f.IsZero() {
		f = t
	}
	if la.IsZero() {
		la = t
	}
	f, la = seen(f, la)
	return f, la, err
}

// withdrawDeleted writes, for an event-level attribute flagged deleted
// whose node was its own indicator (a to_ids value's misp-stix indicator,
// a rule, a to_ids port or user agent), that indicator's record in the
// deleted attribute's version (its timestamp, which MISP raises when it
// deletes it), marked revoked (graph.PropLifecycle) and stating nothing:
// MISP deletes an attribute that is no longer valid and leaves it out of
// every IDS export, so the indicator an earlier version of the event made
// is withdrawn (a walk no longer reaches it, intel show says it) and its
// based-on links, which the newer version does not state, are superseded.
// Before, the attribute was only a counted drop, and its indicator stayed
// a live IoC of the value. An older version of the attribute read after
// changes nothing; a deleted attribute never read live gives a withdrawn
// indicator alone. Its value's node is every event's and is not touched.
func (m *mapper) withdrawDeleted(b *graph.Batch, uuid, typ, value string, toIDs bool, ts string) {
	v := parseTime(ts)
	if uuid == "" || v.IsZero() {
		return
	}
	var ind graph.Node
	switch pt, rule := patternTypes[typ]; {
	case rule:
		ind = graph.SourceNode(graph.KindIndicator, string(graph.KindIndicator)+"--"+uuid)
		ind.Name = truncate(strings.TrimSpace(value), 200)
		ind.Props = map[string]any{"pattern": value, "pattern_type": pt}
	case !toIDs:
		return
	case valueMappers[typ] != nil:
		var ok bool
		if ind, _, ok = idsIndicator(uuid, typ, value); !ok {
			return
		}
	case propertyPattern(typ, value) != "":
		ind = indicatorNode(uuid, propertyPattern(typ, value))
	default:
		return
	}
	b.Nodes = append(b.Nodes, m.withdrawn(ind, uuid, v))
}

// withdrawn is the record of the indicator ind of a deleted attribute or
// object (uuid) in the version v that deleted it: marked revoked, its
// pattern and name kept, stating nothing (withdrawDeleted).
func (m *mapper) withdrawn(ind graph.Node, uuid string, v time.Time) graph.Node {
	ind.Props[graph.PropLifecycle] = graph.LifecycleRevoked
	ind.Props["misp_deleted"] = true
	ind.Props["misp_uuid"] = uuid
	if !slices.Contains(ind.Aliases, alias(uuid)) {
		ind.Aliases = append(ind.Aliases, alias(uuid))
	}
	ind.Sources = []string{m.feed}
	ind.FirstSeen, ind.LastSeen = v, v
	ind.Versions = map[string]time.Time{ind.Key: v}
	return ind
}

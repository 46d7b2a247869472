package misp

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	uuidpkg "github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/ingest/stix"
)

// objectRecord maps a MISP object: a node of its own (a STIX observable for
// file, url, domain-ip, x509, registry-key and vulnerability objects, a
// KindObjectPrefix+name node otherwise), the nodes of its attributes linked
// to it, and its references.
func (m *mapper) objectRecord(j job, b *graph.Batch) {
	j.out.res.Read++
	var o rawObject
	if err := unmarshal(j.raw, &o); err != nil {
		m.tally.countRead(recObject)
		m.drop(j, "object", recordUUID(j.raw), engine.ReasonInvalidProperty, err)
		return
	}
	name := strings.ToLower(strings.TrimSpace(o.Name.String()))
	uuid := canonUUID(o.UUID.String())
	m.tally.add(func(t *Tally) {
		t.Objects++
		t.ObjectNames[o.Name.String()]++
		t.References += int64(len(o.References))
	})
	switch {
	case bool(o.Deleted):
		m.tallyObjectAttributes(o)
		m.withdrawDeletedObject(j, b, o, name, uuid)
		m.drop(j, "object", uuid, ReasonDeleted, errors.New("object deleted"))
		return
	case name == "":
		m.tallyObjectAttributes(o)
		m.drop(j, "object", uuid, engine.ReasonMissingType, errors.New("object without a name"))
		return
	case !j.evFrame && len(o.Attributes) == 0 && !hasAttributeList(j.raw):
		// A copy of an object without its Attribute list, read outside
		// its event: the row MISP publishes on ZeroMQ beside an object's
		// attribute (Attribute::fetchAttribute contains 'Object') or
		// alone (misp_json_object). It says not what the object is (a
		// domain-ip object is its domain, a file object its file): no
		// node, which would claim misp--<uuid> beside the object's own
		// node once its event is loaded. Read and mapped to nothing, as
		// a copy of an event without its members states nothing of them.
		j.out.res.Mapped++
		return
	}

	// Attributes first: each is mapped or dropped alone.
	var attrs []attrOut
	var ab graph.Batch
	notes, opinions, relationships := o.Notes, o.Opinions, o.Relationships
	for _, raw := range o.Attributes {
		j.out.res.Read++
		var a rawAttribute
		if err := unmarshal(raw, &a); err != nil {
			m.tally.add(func(t *Tally) { t.ObjectAttributes++ })
			m.drop(j, "object attribute", recordUUID(raw), engine.ReasonInvalidProperty, fmt.Errorf("in %s object %s: %w", name, uuid, err))
			continue
		}
		m.tallyAttribute(a, true)
		out, reason, err := m.attribute(j, &ab, a, true)
		if err != nil {
			m.drop(j, "object attribute", a.UUID.String(), reason, fmt.Errorf("in %s object %s: %w", name, uuid, err))
			continue
		}
		j.out.res.Mapped++
		attrs = append(attrs, out)
		notes, opinions = append(notes, a.Notes...), append(opinions, a.Opinions...)
		relationships = append(relationships, a.Relationships...)
	}

	node, own, ownRels := objectNode(name, uuid, attrs)
	if node.Kind == "" && strings.TrimSpace(o.UUID.String()) == "" && len(attrs) > 0 {
		// An object written without a uuid (PyMISP's MISPObject before a
		// server saves it, scripts writing feeds: VMRay's sandbox-report
		// and sb-signature objects) is keyed by what it says, as a
		// sighting without one is: a reload gives the same node. A uuid
		// given and not valid still drops the object (missing-id).
		uuid = objectUUID(name, attrs)
		node, own, ownRels = objectNode(name, uuid, attrs)
	}
	if node.Kind == "" {
		m.drop(j, "object", uuid, engine.ReasonMissingID, fmt.Errorf("%s object without a uuid", name))
		b.Nodes = append(b.Nodes, ab.Nodes...)
		b.Relations = append(b.Relations, ab.Relations...)
		for _, a := range attrs {
			for _, s := range a.sightings {
				if a.propsOnly {
					// Of a property of an object not loaded: nothing
					// to sight.
					j.out.res.Read++
					m.drop(j, "sighting", s.UUID.String(), engine.ReasonMissingID, fmt.Errorf("sighting of a %s of a %s object without a uuid", a.relation, name))
					continue
				}
				m.addSighting(j, b, s, a.node.Ref(), a.uuid, a.tlp, nil)
			}
		}
		return
	}
	if uuid != "" && !slices.Contains(node.Aliases, alias(uuid)) {
		node.Aliases = append(node.Aliases, alias(uuid))
	}
	details := map[string]any{"misp_object": name}
	for k, v := range map[string]text{"meta_category": o.MetaCategory, "comment": o.Comment, "template_uuid": o.TemplateUUID} {
		if s := strings.TrimSpace(v.String()); s != "" {
			details[k] = s
		}
	}
	addSharing(details, o.Distribution.String(), o.SharingGroup.g, false)
	ownIDs := map[string]bool{node.ID.String(): true}
	for _, n := range own {
		ownIDs[n.ID.String()] = true
	}
	var rels []graph.Relation
	folded, linked := map[string]bool{}, map[string]bool{}
	// ownTLP is the strictest TLP of its attributes' tags (a MISP object
	// has no tags): it marks the object and its event's link to it.
	ownTLP := graph.TLPNone
	for _, a := range attrs {
		node.Labels = graph.Union(node.Labels, a.labels)
		ownTLP = ownTLP.Stricter(a.tlp)
		node.TLP = node.TLP.Stricter(a.tlp)
		if a.propsOnly {
			addProp(details, a.relation, a.typ, a.value)
			continue
		}
		if ownIDs[a.node.ID.String()] {
			continue
		}
		if isFileName(name, node, a) {
			// The name of a file keyed by its hashes is the file's, as in
			// STIX (a file SCO with hashes and a name): no link to the
			// node of that name alone, which every file object of the
			// name would share (two unrelated setup.exe files linked at
			// depth 3). References to the attribute reach the file.
			if a.uuid != "" && !slices.Contains(node.Aliases, alias(a.uuid)) {
				node.Aliases = append(node.Aliases, alias(a.uuid))
			}
			addProp(details, a.relation, a.typ, a.value)
			folded[a.node.ID.String()] = true
			continue
		}
		linked[a.node.ID.String()] = true
		rels = append(rels, graph.Relation{Src: node.Ref(), Type: RelHasAttribute, Dst: a.node.Ref(), Props: marked(keyed(a.uuid, a.details), a.tlp)})
	}
	// The folded attributes' own nodes are not written, unless another
	// attribute of the object links one.
	ab.Nodes = slices.DeleteFunc(ab.Nodes, func(n graph.Node) bool { return folded[n.ID.String()] && !linked[n.ID.String()] })
	// Properties named by the source (object_relation, type) never set one
	// of the graph's marks (graph.PropLifecycle).
	m.moveReserved(j, "object", uuid, details)
	var err error
	if node.FirstSeen, node.LastSeen, err = attributeSeen(o.FirstSeen.String(), o.LastSeen.String(), o.Timestamp.String()); err != nil {
		m.badTime(j, "object", uuid, err)
	}
	node.Sources = []string{m.feed}
	linkProps := keyed(uuid, details)
	// entity is the object's observable when an indicator stands for the
	// object (indicator.go); basedOn are the indicator's links to what its
	// pattern compares, stated by the indicator alone.
	var entity *graph.Node
	var basedOn []graph.Relation
	ind, obs, isInd := objectIndicator(name, uuid, attrs)
	if isInd {
		dropRuleCopy(details, name, ind)
		if p, _ := ind.Props["pattern"].(string); ind.Props["pattern_type"] == "stix" && len(obs.nodes) == 0 {
			if _, err := patternBasis(p); err != nil {
				// A rule object's STIX pattern not understood: the
				// indicator keeps it, without observables, and says so,
				// as an attribute's does.
				j.out.res.PartDrops = append(j.out.res.PartDrops, engine.Drop{Reason: stix.ReasonInvalidPattern,
					ID: ind.Key, Detail: "pattern not understood, no observables taken from it: " + err.Error(), Attrs: []any{"kind", "object"}})
			}
		}
		ind, entity, basedOn = objectAsIndicator(b, node, ind, obs, details, uuid, o.Timestamp.String())
		for i := range rels {
			rels[i].Src = ind.Ref() // its has-attribute links
		}
		node = ind
	}
	// An attribute the object keeps as a property (text, size-in-bytes,
	// port, …) has no node of its own: its uuid names the object's node
	// (or its indicator), where its sightings land, so a sighting or
	// reference naming it by uuid (an event's Sighting list, a ZMQ
	// misp_json_sighting message) reaches what MISP shows it in, its
	// object, instead of waiting for a node no record writes.
	for _, a := range attrs {
		if a.propsOnly && a.uuid != "" && !slices.Contains(node.Aliases, alias(a.uuid)) {
			node.Aliases = append(node.Aliases, alias(a.uuid))
		}
	}
	switch {
	case strings.HasPrefix(string(node.Kind), KindObjectPrefix) || isInd:
		// The object's own node (or its indicator) carries its details, and
		// its event's TLP and restriction (outside it: its summary's).
		j.out.own = append(j.out.own, ownOf(node.Brief()))
		if !j.evFrame {
			m.boundOutside(b, o.Event, node)
		}
		if !isInd {
			node.Props = details
		}
		if uuid != "" {
			node.Props["misp_uuid"] = uuid
		}
		linkProps = keyed(uuid, map[string]any{"misp_object": name})
	default:
		// A file, url, domain, certificate, key or vulnerability shared by
		// every record naming it keeps only what belongs to the entity; the
		// object's details go on the event's link to it.
		node.Props = intrinsic(details)
	}

	// What the object states, its event states, in its version: a newer
	// version of the event in which the object lost an attribute or a
	// reference, or which no longer holds the object at all, supersedes
	// that link (graph.Node.Versions). (Stated by the object's own id, the
	// links of an object deleted from the event stayed: nothing raised
	// that id.) An object read before its event's uuid or timestamp states
	// them at the event's end (eventStated).
	stating := []graph.Ref{node.Ref()}
	if by := cmp.Or(j.evUUID, uuid); by != "" && !j.version.IsZero() {
		if node.Versions == nil {
			node.Versions = map[string]time.Time{}
		}
		node.Versions[alias(by)] = j.version
	}
	// The sightings of its attributes: of each attribute's node, or,
	// for one whose node is not written (a property of the object, a
	// file's name), of the object's (the file, for a file's name).
	for _, a := range attrs {
		of := a.node.Ref()
		switch {
		case a.propsOnly:
			of = node.Ref()
		case folded[a.node.ID.String()] && !linked[a.node.ID.String()]:
			of = node.Ref()
			if entity != nil {
				of = entity.Ref()
			}
		}
		for _, s := range a.sightings {
			m.addSighting(j, b, s, of, a.uuid, a.tlp, nil)
		}
	}
	// The indicator states its based-on links (objectAsIndicator); the
	// has-hash links of the file its pattern describes are the file's,
	// stated as the object's own has-hash links are (ownRels): by the
	// event, in its version, so a newer version whose object lost a hash
	// takes the link away. (Stated by no version, the pattern's copy of
	// the link stood beside the object's for ever.)
	var has []graph.Relation
	for _, r := range basedOn {
		if r.Type == graph.RelHasHash && r.Src != node.Ref() {
			has = append(has, r)
			if !slices.Contains(stating, r.Src) {
				stating = append(stating, r.Src)
			}
			continue
		}
		b.Relations = append(b.Relations, r)
	}
	if entity != nil {
		stating = append(stating, entity.Ref())
		b.Nodes = append(b.Nodes, *entity)
	}
	from := len(b.Relations)
	defer func() { eventStated(j, b.Relations[from:], uuid, stating...) }()
	b.Relations = append(b.Relations, has...)
	b.Nodes = append(b.Nodes, node)
	for _, n := range own {
		n.Sources, n.FirstSeen, n.LastSeen = node.Sources, node.FirstSeen, node.LastSeen
		stating = append(stating, n.Ref())
		b.Nodes = append(b.Nodes, n)
	}
	b.Nodes = append(b.Nodes, ab.Nodes...)
	b.Relations = append(b.Relations, ab.Relations...)
	for _, r := range append(ownRels, rels...) {
		r.Sources, r.FirstSeen, r.LastSeen = node.Sources, node.FirstSeen, node.LastSeen
		b.Relations = append(b.Relations, r)
	}
	for _, raw := range o.References {
		m.reference(j, b, raw, node, uuid)
	}
	m.analystData(j, b, notes, opinions, node.Ref(), node.FirstSeen, node.LastSeen)
	m.analystRelationships(j, b, relationships, node.Ref(), node.FirstSeen, node.LastSeen)
	l := link{typ: RelObject, dst: node.Ref(), props: marked(linkProps, ownTLP), first: node.FirstSeen, last: node.LastSeen}
	if ev, ok := searchResultEvent(o.EventUUID, o.Event, m.feed, node); ok && !j.evFrame {
		// A search result, linked from the event it names.
		rel := l.relation(ev.Ref())
		rel.Sources = node.Sources
		b.Nodes = append(b.Nodes, ev)
		b.Relations = append(b.Relations, rel)
	} else if rel, ok := m.addLink(j, l); ok {
		rel.Sources = node.Sources
		b.Relations = append(b.Relations, rel)
	}
	j.out.res.Mapped++
}

// hasAttributeList reports whether an object record has an Attribute
// member (a list, empty or not).
func hasAttributeList(raw []byte) bool {
	var probe struct {
		Attribute jsontext.Value `json:"Attribute"`
	}
	return unmarshal(raw, &probe) == nil && len(probe.Attribute) > 0
}

// objectAsIndicator makes the indicator ind of an object (objectIndicator)
// stand for its node: ind gets the object's uuid alias, its labels and TLP
// (its attributes' tags), times, sources and details, and its version (the
// object's timestamp ts, misp-stix's modified) in which it states its
// based-on links to the observables obs (written to b), as indicatorOf
// does for an attribute. The object's node, when it is an observable (a
// file, url, domain, ...), is returned as entity, without the alias and
// labels, marked as the object; a node of the object alone
// (x-misp-object-<name>, keyed by its uuid) is replaced by the indicator.
func objectAsIndicator(b *graph.Batch, node, ind graph.Node, obs basis, details map[string]any,
	uuid, ts string) (graph.Node, *graph.Node, []graph.Relation) {
	var entity *graph.Node
	if !strings.HasPrefix(string(node.Kind), KindObjectPrefix) {
		e := node
		e.Aliases = slices.DeleteFunc(slices.Clone(e.Aliases), func(a string) bool { return a == alias(uuid) })
		e.Labels, e.Props = nil, intrinsic(details)
		entity = &e
	}
	ind.Aliases = append(ind.Aliases, alias(uuid))
	ind.Labels, ind.TLP, ind.FirstSeen, ind.LastSeen, ind.Sources = node.Labels, node.TLP, node.FirstSeen, node.LastSeen, node.Sources
	for k, v := range details {
		ind.Props[k] = v
	}
	if entity != nil {
		obs = obs.of(*entity)
	}
	rels := make([]graph.Relation, 0, len(obs.nodes)+len(obs.has))
	for _, ob := range obs.nodes {
		ob.Sources, ob.FirstSeen, ob.LastSeen = ind.Sources, ind.FirstSeen, ind.LastSeen
		if entity == nil || ob.Ref() != entity.Ref() {
			b.Nodes = append(b.Nodes, ob) // the entity is written by the caller
		}
		rels = append(rels, graph.Relation{Src: ind.Ref(), Type: graph.RelBasedOn, Dst: ob.Ref(),
			Sources: ind.Sources, FirstSeen: ind.FirstSeen, LastSeen: ind.LastSeen})
	}
	// A file the pattern describes by name and hash holds its hashes, as
	// the STIX loader links them: stated by the object's event, as the
	// object's own has-hash links are (objectRecord), not by the
	// indicator.
	for _, r := range obs.has {
		r.Sources, r.FirstSeen, r.LastSeen = ind.Sources, ind.FirstSeen, ind.LastSeen
		rels = append(rels, r)
	}
	if v := parseTime(ts); !v.IsZero() {
		ind.Versions = map[string]time.Time{ind.Key: v}
		graph.MarkStated(rels, ind.Key, v, ind.Ref())
	}
	return ind, entity, rels
}

// fileObjects are the objects that describe a file: a file object, an lnk
// object (a Windows shortcut file: its hashes, name, size and times, as
// misp-stix's _parse_lnk_object_observable exports it) and an image
// object (the image file: its name; its attachment is the file's content
// and its url where the content is, misp-stix's
// _parse_image_object_observable). Each is the file keyed by its hashes
// and name (graph.FileNode), else by its name, as a file object is.
var fileObjects = map[string]bool{"file": true, "lnk": true, "image": true}

// isFileName reports whether a is the file name of a file object whose
// node (node) is keyed by its hashes: a filename attribute whose own node,
// the file of that name alone, is not the object's.
func isFileName(object string, node graph.Node, a attrOut) bool {
	return fileObjects[object] && node.Kind == graph.KindFile && isNameOnly(a) &&
		a.node.ID != node.ID && (a.relation == "filename" || a.typ == "filename")
}

// isNameOnly reports whether the attribute's node is the file of its name
// alone (a filename attribute), not a file keyed by a hash too (a
// filename|md5 attribute, whose hash the file object's file has).
func isNameOnly(a attrOut) bool {
	if a.node.Kind != graph.KindFile {
		return false
	}
	f, _, _ := graph.FileNode(nil, a.node.Name)
	return f.ID == a.node.ID
}

// fileNameHash reads a filename|<hash> attribute (malware-sample too): its
// file name and its hash's algorithm and value; ok is false for any other
// attribute.
func fileNameHash(a attrOut) (name, alg, value string, ok bool) {
	ht, composite := strings.CutPrefix(a.typ, "filename|")
	if a.typ == "malware-sample" {
		ht, composite = "md5", strings.Contains(a.value, "|")
	}
	if !composite || a.node.Kind != graph.KindFile {
		return "", "", "", false
	}
	n, h, err := cut(a.value, true)
	if err != nil {
		return "", "", "", false
	}
	if alg, value, err = normalizeHash(ht, h); err != nil {
		return "", "", "", false
	}
	return strings.TrimSpace(n), alg, value, true
}

// intrinsicProps are the object attributes that describe the entity itself
// (the same for every object naming it), by object_relation.
var intrinsicProps = map[string]string{"size-in-bytes": "size", "mimetype": "mime_type", "entropy": "entropy"}

// intrinsic returns the entity's own properties out of an object's details.
func intrinsic(details map[string]any) map[string]any {
	var out map[string]any
	for rel, prop := range intrinsicProps {
		if v, ok := details[rel]; ok {
			if out == nil {
				out = map[string]any{}
			}
			out[prop] = v
		}
	}
	return out
}

// tallyObjectAttributes counts the attributes of an object dropped whole.
func (m *mapper) tallyObjectAttributes(o rawObject) {
	for _, raw := range o.Attributes {
		var a rawAttribute
		if unmarshal(raw, &a) == nil {
			m.tallyAttribute(a, true)
		} else {
			m.tally.add(func(t *Tally) { t.ObjectAttributes++ })
		}
	}
}

// reference maps an ObjectReference: a relation from the object to the
// attribute or object it names by uuid, carrying the reference's own uuid.
func (m *mapper) reference(j job, b *graph.Batch, raw []byte, obj graph.Node, objUUID string) {
	j.out.res.Read++
	var r rawReference
	if err := unmarshal(raw, &r); err != nil {
		m.drop(j, "object reference", recordUUID(raw), engine.ReasonInvalidProperty, fmt.Errorf("in object %s: %w", objUUID, err))
		return
	}
	switch {
	case bool(r.Deleted):
		m.drop(j, "object reference", r.UUID.String(), ReasonDeleted, errors.New("reference deleted"))
		return
	case canonUUID(r.ReferencedUUID.String()) == "":
		m.drop(j, "object reference", r.UUID.String(), engine.ReasonMissingID, fmt.Errorf("reference of object %s without a valid referenced_uuid", objUUID))
		return
	}
	typ := strings.ToLower(strings.TrimSpace(r.RelationshipType.String()))
	if typ == "" {
		typ = RelRelatedTo
	}
	var props map[string]any
	if c := strings.TrimSpace(r.Comment.String()); c != "" {
		props = keyed(canonUUID(r.UUID.String()), map[string]any{"comment": c})
	}
	first, last := obj.FirstSeen, obj.LastSeen
	if ts, err := parseTimeChecked(r.Timestamp.String()); err != nil {
		m.badTime(j, "object reference", r.UUID.String(), fmt.Errorf("timestamp: %w", err))
	} else if !ts.IsZero() {
		first, last = seen(ts, ts)
	}
	rel := graph.Relation{Src: obj.Ref(), Type: typ, Dst: graph.Ref(alias(canonUUID(r.ReferencedUUID.String()))), Props: props,
		Sources: []string{m.feed}, FirstSeen: first, LastSeen: last}
	if u := canonUUID(r.UUID.String()); u != "" {
		// Its own uuid names the reference (misp--<uuid>, kept in relation_ids).
		rel.IDs = []string{alias(u)}
	}
	b.Relations = append(b.Relations, rel)
	j.out.res.Mapped++
}

// addProp keeps a non-entity object attribute as a property named by its
// object_relation (or type); repeated relations become lists.
func addProp(props map[string]any, relation, typ, value string) {
	key := relation
	if key == "" {
		key = typ
	}
	switch v := props[key].(type) {
	case nil:
		props[key] = value
	case string:
		props[key] = []string{v, value}
	case []string:
		props[key] = append(v, value)
	default:
		props[key] = value
	}
}

// objectNode builds the node of an object from its mapped attributes: a
// file (FileNode over its hashes and name), url, domain-name (resolving to
// its addresses), x509-certificate, windows-registry-key or vulnerability
// when the object has what that needs, else a KindObjectPrefix+name node
// keyed by the object uuid. It also returns nodes and relations the object
// node implies (hash nodes and has-hash, resolves-to). A zero node means the
// object has neither an entity nor a uuid.
func objectNode(name, uuid string, attrs []attrOut) (graph.Node, []graph.Node, []graph.Relation) {
	first := func(match func(a attrOut) bool) *attrOut {
		for i := range attrs {
			if !attrs[i].propsOnly && match(attrs[i]) {
				return &attrs[i]
			}
		}
		return nil
	}
	ofKind := func(k graph.Kind) func(a attrOut) bool {
		return func(a attrOut) bool { return a.node.Kind == k }
	}
	switch name {
	case "file", "lnk", "image":
		// An lnk object is the shortcut file, an image object the image
		// file, as misp-stix exports them (fileObjects).
		hashes := map[string]string{}
		fname, sample := "", ""
		for _, a := range attrs {
			if a.propsOnly {
				continue
			}
			if a.typ == "malware-sample" {
				// The sample ("name|md5") is the object's file: its
				// hash and, when no filename attribute names it, its
				// name are the file's.
				if n, alg, v, ok := fileNameHash(a); ok {
					if _, dup := hashes[alg]; !dup {
						hashes[alg] = v
					}
					if sample == "" {
						sample = n
					}
				}
			}
			if _, ok := hashAlgorithms[a.typ]; ok && a.node.Kind == graph.KindHash {
				alg, v, _ := strings.Cut(a.node.Key, ":")
				if _, dup := hashes[alg]; !dup {
					hashes[alg] = v
				}
			}
			if fname == "" && a.node.Kind == graph.KindFile && (a.relation == "filename" || a.typ == "filename") {
				fname = a.node.Name
				// A filename|<hash> attribute names the file and gives
				// its hash: the file is the one the attribute names.
				if _, alg, v, ok := fileNameHash(a); ok {
					if _, dup := hashes[alg]; !dup {
						hashes[alg] = v
					}
				}
			}
		}
		if fname == "" {
			fname = sample
		}
		if len(hashes) > 0 || fname != "" {
			f, hs, rels := graph.FileNode(hashes, fname)
			if f.Kind != "" {
				return f, hs, rels
			}
		}
	case "url":
		if a := first(ofKind(graph.KindURL)); a != nil {
			return bare(a.node), nil, nil
		}
	case "domain-ip":
		if a := first(ofKind(graph.KindDomainName)); a != nil {
			d := bare(a.node)
			var rels []graph.Relation
			for _, ip := range attrs {
				if !ip.propsOnly && (ip.node.Kind == graph.KindIPv4Addr || ip.node.Kind == graph.KindIPv6Addr) {
					rels = append(rels, graph.Relation{Src: d.Ref(), Type: RelResolvesTo, Dst: ip.node.Ref()})
				}
			}
			return d, nil, rels
		}
	case "x509":
		// The certificate of its fingerprints and serial number, as a STIX
		// x509-certificate of them is (graph.CertificateNode), which
		// has-hash each fingerprint (graph.CertificateFingerprints).
		hashes := map[string]string{}
		serial := ""
		for _, a := range attrs {
			if a.node.Kind == graph.KindX509Certificate {
				if alg, v, ok := strings.Cut(a.node.Name, ":"); ok {
					hashes[alg] = v
				}
			}
			if a.relation == "serial-number" {
				serial = a.value
			}
		}
		if n, ok := graph.CertificateNode(hashes, serial); ok {
			hs, hr := graph.CertificateFingerprints(n)
			return n, hs, hr
		}
	case "registry-key":
		if a := first(ofKind(graph.KindWindowsRegistryKey)); a != nil {
			return bare(a.node), nil, nil
		}
	case "vulnerability":
		if a := first(ofKind(graph.KindVulnerability)); a != nil {
			return bare(a.node), nil, nil
		}
		for _, a := range attrs {
			if a.relation == "id" && graph.IsCVE(a.value) {
				return graph.NamedNode(graph.KindVulnerability, a.value), nil, nil
			}
		}
	}
	if uuid == "" {
		return graph.Node{}, nil, nil
	}
	n := graph.SourceNode(graph.Kind(KindObjectPrefix+name), alias(uuid))
	n.Name = name
	return n, nil, nil
}

// objectUUID is the uuid of an object given without one: derived from its
// name and its attributes' relations, types and values, whatever their
// order, so the same object read again is the same node and two objects
// that say different things are two. Not from its event's uuid: a reader
// knows it before the object or not by the order of the event's keys
// (sorted keys put "uuid" last), and the object's node must not depend on
// that; two events giving the same object without a uuid share its node.
func objectUUID(name string, attrs []attrOut) string {
	said := make([]string, 0, len(attrs))
	for _, a := range attrs {
		said = append(said, strings.Join([]string{a.relation, a.typ, strings.TrimSpace(a.value)}, "\x1f"))
	}
	slices.Sort(said)
	parts := append([]string{"misp-object", name}, said...)
	return uuidpkg.NewSHA1(graph.Namespace, []byte(strings.Join(parts, "\x00"))).String()
}

// bare is a copy of an attribute's node without what belongs to the
// attribute (its props, labels, aliases), for use as an object's node.
func bare(n graph.Node) graph.Node {
	return graph.Node{ID: n.ID, Kind: n.Kind, Key: n.Key, Name: n.Name}
}

// withdrawDeletedObject writes, for an object flagged deleted that is an
// indicator (objectIndicator: a to_ids file, domain-ip, … object, a rule
// object), that indicator's record in the deleted object's version,
// marked revoked, as withdrawDeleted does for an attribute: the
// indicator an earlier version of the event made of the object is no IoC
// any more. Its attributes are read for that alone (nothing else of
// them is written or counted).
func (m *mapper) withdrawDeletedObject(j job, b *graph.Batch, o rawObject, name, uuid string) {
	v := parseTime(o.Timestamp.String())
	if uuid == "" || v.IsZero() {
		return
	}
	var attrs []attrOut
	var scratch graph.Batch
	for _, raw := range o.Attributes {
		var a rawAttribute
		if unmarshal(raw, &a) != nil {
			continue
		}
		// Its value alone: no cluster, sighting or tag of it is read. MISP
		// flags an object's attributes deleted with it: read all of them.
		a.Galaxies, a.Tags, a.Sightings, a.Deleted = nil, nil, nil, false
		if out, _, err := m.attribute(j, &scratch, a, true); err == nil {
			attrs = append(attrs, out)
		}
	}
	if ind, _, ok := objectIndicator(name, uuid, attrs); ok {
		b.Nodes = append(b.Nodes, m.withdrawn(ind, uuid, v))
	}
}

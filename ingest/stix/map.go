package stix

import (
	"iter"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/stixid"
)

// namedKinds are the domain object types whose nodes merge across feeds on
// a normalized name or external id (graph.NamedNode); every other domain
// object is keyed by its STIX id (graph.SourceNode).
var namedKinds = map[string]bool{
	"malware": true, "intrusion-set": true, "threat-actor": true, "tool": true,
	"campaign": true, "vulnerability": true, "attack-pattern": true,
}

// fieldProps are the properties that map to a field of graph.Node rather
// than to props.
var fieldProps = []string{"type", "id", "name", "labels", "confidence"}

// mapped is what one record became.
type mapped struct {
	id    string
	typ   string
	drop  *recordError
	batch graph.Batch
	// sightings counts the sightings in batch.
	sightings int
	// markings are the marking definitions the record defines, with the
	// TLP level of each ("" for one that is no TLP): the record itself, or
	// those of a bundle found as a record (a bundle inside an array).
	markings []markingDef
	// fixups are the nodes and relations whose marking references name
	// marking definitions that are not predefined; the collector resolves
	// them against the ones the feed defined earlier.
	fixups []fixup
	// warnings are problems that did not drop the record.
	warnings []warning
	// claims are the name aliases (graph.NameAlias) of the ATT&CK-keyed
	// entity the record is, with its key: the loader reports an alias that
	// two entities of the feed claim.
	claims []claim
	// nested is set for a bundle or TAXII envelope read as one record (an
	// element of an array, a line of NDJSON): its objects count as the
	// records, objects of them mapped and nestedDrops dropped, each on
	// its own, as the objects of a top-level bundle are.
	nested      bool
	objects     int
	nestedDrops []nestedDrop
	// scos are the cyber-observables the record is (its id and node), and
	// observed the object_refs of the STIX 2.1 observed-data it is, with
	// its times: the loader gives an SCO the times of the observed-data
	// that names it, in either order (loader.observe).
	scos     []sco
	observed []observation
	// rekeys are the record's cyber-observables keyed by what other
	// cyber-observables their ID-contributing references name.
	rekeys []rekey
	// window is, while a STIX 2.0 observed-data's embedded objects are
	// mapped, when it observed them (first_observed to last_observed).
	window [2]time.Time
	// stating are the nodes other than the object's own whose relations
	// the object states in its version (versioned): the file or
	// certificate an indicator's pattern describes, which has-hash the
	// hashes the pattern gives it.
	stating []graph.Ref
}

// sco is a cyber-observable record: its STIX id and node, and ident, what
// a reference to it stands for in the ID-contributing properties of
// another observable (rekey): its node's STIX deterministic id (the alias
// graph.ObservableNode gives), its own id when it has none.
type sco struct {
	id, ident string
	brief     graph.NodeBrief
}

// rekey is a cyber-observable whose ID-contributing properties name other
// cyber-observables (a network-traffic's src_ref and dst_ref, an
// email-message's from_ref, a file's parent_directory_ref): producers
// give those random ids, so its key takes what they resolve to, each
// referenced object's ident, not the ids; the loader settles it once the
// feed has given them, in whichever order (loader.rekey).
type rekey struct {
	// node is the observable's index in the record's batch, id its STIX
	// id, typ its type, det the deterministic id (alias) it was keyed by
	// with the references as written.
	node         int
	id, typ, det string
	// obj is the object as read (its own copy), refs the identifiers of
	// cyber-observables its ID-contributing properties hold, sorted.
	obj  map[string]any
	refs []string
}

// observation is what a STIX 2.1 observed-data says of the objects it
// names: they were observed from first to last.
type observation struct {
	refs        []string
	first, last time.Time
}

// nestedDrop is an object of a nested bundle that was dropped.
type nestedDrop struct {
	id, typ string
	drop    *recordError
}

// markingDef is a marking definition a record defines and its TLP level.
type markingDef struct {
	id  string
	tlp graph.TLP
}

// claim is a name alias an entity keyed by an external id claims.
type claim struct{ alias, key string }

// fixup names a node (or a relation, rel >= 0) and its unresolved marking
// references.
type fixup struct {
	node, rel int
	refs      []string
}

// warning is a problem with one property of a record that was loaded.
type warning struct {
	property, value, message string
	// reason, when set, makes the warning a counted drop of a part of the
	// record (engine.Result.PartDrops) rather than a logged problem.
	reason engine.Reason
	// id and typ name the object of a nested bundle the warning is about
	// (empty: the record itself).
	id, typ string
}

// mapper turns STIX objects into graph records.
type mapper struct {
	feed    string
	sources []string
}

func newMapper(feed string) *mapper {
	m := &mapper{feed: feed}
	if feed != "" {
		m.sources = []string{feed}
	}
	return m
}

// mapRecord decodes and maps one record: its JSON text, and what the
// reader knew of it.
func (mp *mapper) mapRecord(raw []byte, n note) mapped {
	out := mapped{id: n.id}
	if n.drop != nil {
		out.drop = n.drop
		return out
	}
	m, err := decodeObject(raw)
	if err != nil {
		out.drop = dropf(engine.ReasonNotObject, "%v", err)
		return out
	}
	mp.mapObject(&out, m)
	return out
}

// mapObject validates and maps one decoded object into out.
func (mp *mapper) mapObject(out *mapped, m map[string]any) {
	canonicalIDs(m)
	if isEnvelope(m) {
		// A TAXII 2.1 envelope (a page of a collection's objects, saved
		// as it came) inside an array or NDJSON: read as a bundle. An
		// empty page (no "objects", as TAXII 2.1 sends the last one) is a
		// bundle of no objects: no record, no drop.
		mp.mapBundle(out, object{m: m})
		return
	}
	if items, ok := itemsPage(m); ok {
		// An API answer listing STIX objects in "items" (Sekoia.io's
		// Intelligence Center pages: {"has_more": …, "items": […]}): its
		// objects are the records, as an envelope's are.
		mp.mapBundle(out, object{m: map[string]any{"objects": items}})
		return
	}
	if w, ok := bareUUIDID(m); ok {
		out.warnings = append(out.warnings, w)
	}
	o, bad := validate(m)
	out.id, out.typ = o.id, o.typ
	if out.id == "" {
		out.id, _ = m["id"].(string)
	}
	if bad != nil {
		out.drop = bad
		return
	}
	mp.moveReserved(out, o.m, "")
	if k, ok := graph.ProducerObservableKind(o.typ); ok {
		// OpenCTI's hostname is a domain-name (graph.ProducerObservableKind):
		// keyed by its value, its own id an alias.
		o.typ = string(k)
	}
	if v := o.str("x_misp_value"); o.typ == "x-misp-attribute" && strings.TrimSpace(v) != "" &&
		slices.Contains(graph.MISPWalletTypes, o.str("x_misp_type")) {
		// misp-stix's export of a MISP wallet attribute (btc, xmr, dash):
		// the wallet the MISP loader makes of the attribute, keyed by its
		// address, its own id an alias.
		o.typ = string(graph.KindCryptocurrencyWallet)
		o.m = maps.Clone(o.m)
		o.m["value"] = v
	}
	nodes, rels := len(out.batch.Nodes), len(out.batch.Relations)
	defer mp.versioned(out, o, nodes, rels)
	switch {
	case o.typ == "bundle":
		mp.mapBundle(out, o)
	case o.typ == "relationship":
		mp.mapRelationship(out, o)
	case o.typ == "sighting":
		mp.mapSighting(out, o)
	case o.typ == "marking-definition":
		n := graph.SourceNode(graph.Kind(o.typ), o.id)
		out.markings = append(out.markings, markingDef{id: o.id, tlp: markingTLP(o)})
		mp.addNode(out, n, o, nil)
	case stixid.HasDeterministicID(o.typ) || graph.Kind(o.typ).IsObservable():
		mp.mapObservable(out, o, -1)
	case namedKinds[o.typ]:
		mp.mapNamed(out, o)
	case o.typ == "indicator":
		mp.mapIndicator(out, o)
	case o.typ == "observed-data":
		mp.mapObservedData(out, o)
	case o.typ == "location":
		mp.mapLocation(out, o)
	case (o.typ == "report" || o.typ == "grouping") && mispEventExport(o):
		// A MISP event as misp-stix (or MISP's own misp2stix2) exports it:
		// a STIX 2.0 report or 2.1 grouping labelled misp:tool=…, the
		// event's uuid its id's. It is the event's node, as the MISP loader
		// makes it (kind report, keyed misp--<uuid>), its own id an alias,
		// so the event and its exports are one node whichever is loaded.
		n := graph.SourceNode(graph.KindReport, "misp--"+o.id[len(o.typ)+2:])
		n.Aliases = append(n.Aliases, o.id)
		mp.addNode(out, n, o, nil)
	default:
		// Every other domain object, meta object and custom or
		// extension-defined type: a node of that kind keyed by its id.
		idx := mp.addNode(out, graph.SourceNode(graph.Kind(o.typ), o.id), o, nil)
		if !sdoTypes[o.typ] {
			// A type STIX does not define, as a custom observable (OCA's
			// x-oca-asset and x-oca-event, which stix-shifter and Kestrel
			// write, with no time of their own): seen when an
			// observed-data naming it says, as a standard observable is
			// (loader.observe).
			out.scos = append(out.scos, sco{id: o.id, ident: o.id, brief: out.batch.Nodes[idx].Brief()})
		}
	}
}

// sdoTypes are the types STIX 2.1 defines other than the cyber-observables:
// domain, relationship and meta objects, which have times of their own. An
// observed-data names observables in object_refs (STIX 2.1, 4.13); an
// object of a type STIX does not define (a custom observable) that one
// names is dated by it, as a standard observable is.
var sdoTypes = map[string]bool{
	"attack-pattern": true, "campaign": true, "course-of-action": true, "grouping": true, "identity": true,
	"incident": true, "indicator": true, "infrastructure": true, "intrusion-set": true, "location": true,
	"malware": true, "malware-analysis": true, "note": true, "observed-data": true, "opinion": true,
	"report": true, "threat-actor": true, "tool": true, "vulnerability": true, "relationship": true,
	"sighting": true, "marking-definition": true, "language-content": true, "extension-definition": true,
}

// mispEventExport reports whether report or grouping o is a MISP event
// exported to STIX: misp-stix labels it misp:tool="MISP-STIX-Converter",
// MISP's misp2stix2 misp:tool="misp2stix2"; both keep the event's uuid as
// the uuid of its id (validate has put the id in canonical form).
func mispEventExport(o object) bool {
	return mispLabelled(o, "misp:tool=")
}

// mispLabelled reports whether o has a label starting with prefix, as
// misp-stix labels what it exports (misp:tool="…", misp:type="…").
func mispLabelled(o object, prefix string) bool {
	labels, _ := stringList(o.m["labels"])
	for _, l := range labels {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// isEnvelope reports whether m is a TAXII 2.1 envelope: no "type", and an
// "objects" array, or none with the envelope's "more" flag (an empty page,
// which TAXII 2.1 sends without "objects").
func isEnvelope(m map[string]any) bool {
	if _, typed := m["type"]; typed {
		return false
	}
	switch m["objects"].(type) {
	case []any:
		return true
	case nil:
		_, more := m["more"].(bool)
		return more
	}
	return false
}

// itemsPage returns the objects of m when m is a page of an API answer that
// lists STIX objects in "items" rather than a bundle's "objects", as
// Sekoia.io's Intelligence Center does ({"has_more": false, "items": […]}):
// no "type" and no "objects", every element of "items" a JSON object and
// one at least a STIX one (a "type" and an "id" of the form <type>--…; the
// others are dropped alone, as a bundle's), or no element and the page's
// "has_more" flag (an empty last page). Anything else is no page: it is
// validated as an object, and dropped without a type.
func itemsPage(m map[string]any) ([]any, bool) {
	if _, typed := m["type"]; typed {
		return nil, false
	}
	if _, ok := m["objects"]; ok {
		return nil, false
	}
	items, ok := m["items"].([]any)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		_, more := m["has_more"].(bool)
		return items, more
	}
	stix := false
	for _, e := range items {
		o, ok := e.(map[string]any)
		if !ok {
			return nil, false
		}
		typ, _ := o["type"].(string)
		id, _ := o["id"].(string)
		stix = stix || typ != "" && strings.HasPrefix(id, typ+"--")
	}
	return items, stix
}

// versioned marks what the object o states in this version (its modified
// time): the node it made (from index nodes on, the one with its id among
// its aliases) carries the version (graph.Node.Versions), and the relations
// it made from that node (from index rels on: embedded references, kill
// chain phases, pattern observables, observed-data objects, a sighting's
// links) carry it as stated (graph.Relation.StatedBy), so that a newer
// version that no longer states one supersedes it; so do the has-hash
// links of the file an indicator's pattern describes (mapped.stating). A bundle maps its
// objects one by one. A relationship object states its own edge: a newer
// version of it that changed its type or its ends supersedes the older
// version's edge (its source is named by its STIX id: the store finds the
// node, graph.Relation.StatedBy).
func (mp *mapper) versioned(out *mapped, o object, nodes, rels int) {
	modified, ok := o.timestamp("modified")
	if !ok || o.id == "" || o.typ == "bundle" || out.drop != nil {
		return
	}
	if o.typ == "relationship" {
		for i := rels; i < len(out.batch.Relations); i++ {
			out.batch.Relations[i].StatedBy = map[string]time.Time{o.id: modified}
		}
		return
	}
	for i := nodes; i < len(out.batch.Nodes); i++ {
		n := &out.batch.Nodes[i]
		if !slices.Contains(n.Aliases, o.id) {
			continue
		}
		n.Versions = map[string]time.Time{o.id: modified}
		graph.MarkStated(out.batch.Relations[rels:], o.id, modified, append([]graph.Ref{n.Ref()}, out.stating...)...)
		return
	}
}

// moveReserved keeps the object's own properties whose names the graph
// reserves for its marks (a vendor's "lifecycle") under another key
// (graph.MoveReservedProps), each with a warning: only the mapper's own
// detection (revoked, x_mitre_deprecated) sets graph.PropLifecycle. path
// prefixes the property names warned about (an embedded object's).
func (mp *mapper) moveReserved(out *mapped, m map[string]any, path string) {
	for _, k := range graph.MoveReservedProps(m) {
		nk := graph.SourcePropKey(k)
		out.warnings = append(out.warnings, warning{property: path + k, value: truncateValue(m[nk]),
			message: "property name is reserved for the graph's own marks; kept as " + path + nk})
	}
}

// mapBundle maps the objects of a bundle found as a record (a bundle inside
// an array, or an NDJSON line small enough to be one record).
func (mp *mapper) mapBundle(out *mapped, o object) {
	out.nested = true
	objs, _ := o.m["objects"].([]any)
	for _, e := range objs {
		sub := mapped{}
		m, ok := e.(map[string]any)
		if !ok {
			sub.drop = dropf(engine.ReasonNotObject, "bundle element is a JSON %s", jsonKind(e))
		} else {
			mp.mapObject(&sub, m)
		}
		if sub.drop != nil {
			// A bad object is dropped alone; the bundle's other objects
			// load (one bad object dropped a whole saved TAXII page).
			out.nestedDrops = append(out.nestedDrops, nestedDrop{id: sub.id, typ: sub.typ, drop: sub.drop})
			continue
		}
		if sub.nested {
			out.objects += sub.objects
			out.nestedDrops = append(out.nestedDrops, sub.nestedDrops...)
		} else {
			out.objects++
		}
		base := len(out.batch.Nodes)
		relBase := len(out.batch.Relations)
		out.batch.Nodes = append(out.batch.Nodes, sub.batch.Nodes...)
		out.batch.Relations = append(out.batch.Relations, sub.batch.Relations...)
		for _, f := range sub.fixups {
			if f.node >= 0 {
				f.node += base
			}
			if f.rel >= 0 {
				f.rel += relBase
			}
			out.fixups = append(out.fixups, f)
		}
		out.sightings += sub.sightings
		for _, w := range sub.warnings {
			if w.id == "" && w.typ == "" {
				w.id, w.typ = sub.id, sub.typ
			}
			out.warnings = append(out.warnings, w)
		}
		// Its marking definitions mark what names them, in this bundle and
		// elsewhere in the feed, as a top-level one does.
		out.markings = append(out.markings, sub.markings...)
		out.claims = append(out.claims, sub.claims...)
		out.scos = append(out.scos, sub.scos...)
		out.observed = append(out.observed, sub.observed...)
		for _, r := range sub.rekeys {
			r.node += base
			out.rekeys = append(out.rekeys, r)
		}
	}
}

// mapNamed maps malware, intrusion sets, threat actors, tools, campaigns,
// vulnerabilities and attack patterns: keyed by their ATT&CK id (from
// ATT&CK's own external_references) or CVE id first, else the normalized
// name (graph.NamedKey). A live object keyed by its ATT&CK id also carries
// a lookup alias (graph.NameAlias) for its name and each of its aliases and
// x_mitre_aliases; a revoked or deprecated one carries none, so a name
// lookup finds the live object. (An object keyed by its name is found by
// that key; giving it the alias too would let it take the alias from the
// ATT&CK entity of that name.)
func (mp *mapper) mapNamed(out *mapped, o object) {
	name := strings.TrimSpace(o.str("name"))
	kind := graph.Kind(o.typ)
	ids := mergeIDs(o)
	n := graph.NamedNode(kind, name, ids...)
	if n.Key == "" {
		n = graph.SourceNode(kind, o.id)
	}
	if objectLifecycle(o.m) == "" && graph.ATTACKIDFor(kind, n.Key) != "" {
		names := []string{name}
		for _, p := range []string{"aliases", "x_mitre_aliases"} {
			if l, ok := stringList(o.m[p]); ok {
				names = append(names, l...)
			}
		}
		for _, a := range names {
			if al := graph.NameAlias(kind, a); al != "" && !slices.Contains(n.Aliases, al) {
				n.Aliases = append(n.Aliases, al)
				out.claims = append(out.claims, claim{alias: al, key: n.Key})
			}
		}
	}
	mp.addNode(out, n, o, nil)
}

// attackIDs lists the ATT&CK ids of the object from ATT&CK's own
// external_references.
func attackIDs(o object) []string {
	var ids []string
	for id, src := range externalIDs(o) {
		if id = strings.TrimSpace(id); id != "" && attackSources[strings.ToLower(src)] && graph.IsATTACKID(id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// externalIDs yields the external_id and source_name of each of the
// object's external_references.
func externalIDs(o object) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		refs, _ := o.m["external_references"].([]any)
		for _, r := range refs {
			er, ok := r.(map[string]any)
			if !ok {
				continue
			}
			id, _ := er["external_id"].(string)
			src, _ := er["source_name"].(string)
			if !yield(id, src) {
				return
			}
		}
	}
}

// killChainOfDomain is the kill_chain_name of each ATT&CK domain
// (x_mitre_domains of a tactic).
var killChainOfDomain = map[string]string{
	"enterprise-attack": "mitre-attack", "ics-attack": "mitre-ics-attack",
	"mobile-attack": "mitre-mobile-attack", "pre-attack": "mitre-pre-attack",
}

// atlasKillChain is MITRE ATLAS's kill_chain_name and the source_name of
// its external_references: ATLAS's STIX bundle (atlas-navigator-data)
// follows ATT&CK's data model, its tactics with no x_mitre_domains.
const atlasKillChain = "mitre-atlas"

// tacticKillChain reports whether kc is a kill chain whose phases name an x-mitre-tactic
// by its x_mitre_shortname: ATT&CK's and ATLAS's.
func tacticKillChain(kc string) bool {
	kc = strings.ToLower(strings.TrimSpace(kc))
	return attackSources[kc] || kc == atlasKillChain
}

// lifecycle marks a revoked or deprecated object's node (graph.Lifecycle),
// gives every node its ATT&CK ids as lookup aliases (graph.ExternalIDAlias),
// gives an ATT&CK tactic its kill chain phase aliases (graph.TacticAlias)
// and links an object with ATT&CK kill_chain_phases to their tactics
// (graph.RelTactic). It runs before props take the object's properties.
func (mp *mapper) lifecycle(out *mapped, n *graph.Node, o object) {
	for _, id := range attackIDs(o) {
		if a := graph.ExternalIDAlias(id); !slices.Contains(n.Aliases, a) {
			n.Aliases = append(n.Aliases, a)
		}
	}
	live := objectLifecycle(o.m) == ""
	if o.typ == "x-mitre-tactic" && live {
		short := strings.TrimSpace(o.str("x_mitre_shortname"))
		domains, _ := stringList(o.m["x_mitre_domains"])
		for _, d := range domains {
			if kc := killChainOfDomain[strings.ToLower(d)]; kc != "" && short != "" {
				n.Aliases = append(n.Aliases, graph.TacticAlias(kc, short))
			}
		}
		for _, src := range externalIDs(o) {
			if a := graph.TacticAlias(atlasKillChain, short); strings.EqualFold(strings.TrimSpace(src), atlasKillChain) && short != "" &&
				!slices.Contains(n.Aliases, a) {
				n.Aliases = append(n.Aliases, a)
			}
		}
	}
	phases, _ := o.m["kill_chain_phases"].([]any)
	seen := map[string]bool{}
	for _, p := range phases {
		kcp, _ := p.(map[string]any)
		kc, _ := kcp["kill_chain_name"].(string)
		phase, _ := kcp["phase_name"].(string)
		if !tacticKillChain(kc) || strings.TrimSpace(phase) == "" {
			continue
		}
		dst := graph.TacticAlias(kc, phase)
		if seen[dst] {
			continue
		}
		seen[dst] = true
		out.batch.Relations = append(out.batch.Relations, graph.Relation{
			Src: n.Ref(), Type: graph.RelTactic, Dst: graph.Ref(dst), Confidence: n.Confidence,
			FirstSeen: n.FirstSeen, LastSeen: n.LastSeen, Sources: mp.sources,
		})
	}
}

// attackSources are the external_references source names of MITRE ATT&CK
// itself. Other sources that cite ATT&CK ids (CAPEC's "ATTACK" taxonomy
// mappings) name a related technique, not the object.
var attackSources = map[string]bool{
	"mitre-attack": true, "mitre-ics-attack": true, "mitre-mobile-attack": true, "mitre-pre-attack": true,
}

// mergeIDs lists the external ids an object may merge on: every
// external_id of a vulnerability (graph.NamedKey picks the CVE id), and
// for other kinds the ATT&CK ids it has from ATT&CK itself (other sources
// citing ATT&CK ids name a related object).
func mergeIDs(o object) []string {
	var ids []string
	for id, src := range externalIDs(o) {
		if id == "" || (o.typ != "vulnerability" && !attackSources[strings.ToLower(src)]) {
			continue
		}
		ids = append(ids, strings.TrimSpace(id))
	}
	return ids
}

// mapIndicator maps an indicator keyed by its id, plus the observables its
// STIX pattern compares for equality, linked indicator -based-on->
// observable (and a file the pattern describes by name and hash to that
// file, which has-hash them: patternGraph). Patterns in other languages (snort, yara, sigma, ...) stay in
// props only.
func (mp *mapper) mapIndicator(out *mapped, o object) {
	n := graph.SourceNode(graph.KindIndicator, o.id)
	if mispLabelled(o, "misp:type=") || mispLabelled(o, "misp:name=") {
		// A MISP attribute flagged to_ids as misp-stix exports it (its
		// uuid the id's), or an object with such attributes (labelled
		// by the object's name): also named by the attribute's or the
		// object's uuid, as ingest/misp names the indicator it makes of
		// the attribute or object.
		n.Aliases = append(n.Aliases, "misp--"+o.id[len(o.typ)+2:])
	}
	idx := mp.addNode(out, n, o, nil)
	pattern := o.str("pattern")
	pt := strings.ToLower(o.str("pattern_type"))
	if pattern == "" || (pt != "" && pt != "stix") {
		return
	}
	obs, has, invalid, err := patternGraph(pattern)
	if err != nil {
		out.warnings = append(out.warnings, warning{property: "pattern", value: pattern, message: "pattern not understood, no observables taken from it: " + err.Error(),
			reason: ReasonInvalidPattern})
		return
	}
	for _, v := range invalid {
		out.warnings = append(out.warnings, warning{property: "pattern", value: v.path + " = " + v.value,
			message: "compared value is not valid for its kind, no node for it: " + v.err.Error(), reason: ReasonInvalidPatternValue})
	}
	ind := out.batch.Nodes[idx]
	for _, ob := range obs {
		mp.addDerived(out, idx, ob)
		out.batch.Relations = append(out.batch.Relations, graph.Relation{
			Src: ind.Ref(), Type: graph.RelBasedOn, Dst: ob.Ref(), Confidence: ind.Confidence,
			FirstSeen: ind.FirstSeen, LastSeen: ind.LastSeen, Sources: mp.sources,
		})
	}
	// A file the pattern describes by name and hash holds its hashes,
	// as a file object's do (mapObservable): stated by the indicator in
	// its version (versioned), as its based-on links are, so a newer
	// version whose pattern lost a hash takes that link away (stated by no
	// version, it stood for ever).
	for _, r := range has {
		r.Confidence, r.FirstSeen, r.LastSeen, r.Sources = ind.Confidence, ind.FirstSeen, ind.LastSeen, mp.sources
		out.batch.Relations = append(out.batch.Relations, r)
		if !slices.Contains(out.stating, r.Src) {
			out.stating = append(out.stating, r.Src)
		}
	}
}

// objectLifecycle is graph.Lifecycle of a STIX object's properties, and
// deprecated for a CAPEC entry that CAPEC marks withdrawn: its
// x_capec_status "Deprecated" (a duplicate or an entry made in error) or
// "Obsolete" (no longer valid), as MITRE's CAPEC STIX bundle writes them
// (CAPEC-5 "Blue Boxing" is Obsolete), in any case. Set as the graph's
// own mark (graph.PropLifecycle), which graph.Lifecycle and the SQL
// node_withdrawn read, so such a pattern ranks below live records, claims
// no name and is left out of walks as an ATT&CK x_mitre_deprecated one is.
func objectLifecycle(m map[string]any) string {
	if lc := graph.Lifecycle(m); lc != "" {
		return lc
	}
	if s, ok := m["x_capec_status"].(string); ok {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "deprecated", "obsolete":
			return graph.LifecycleDeprecated
		}
	}
	return ""
}

// addDerived adds a node derived from the node at index from (an observable
// of a pattern, a hash of a file): same sources, seen times and TLP.
func (mp *mapper) addDerived(out *mapped, from int, n graph.Node) {
	src := out.batch.Nodes[from]
	n.Sources = mp.sources
	n.FirstSeen, n.LastSeen, n.TLP = src.FirstSeen, src.LastSeen, src.TLP
	out.batch.Nodes = append(out.batch.Nodes, n)
	for _, f := range out.fixups {
		if f.node == from {
			out.fixups = append(out.fixups, fixup{node: len(out.batch.Nodes) - 1, rel: -1, refs: f.refs})
			break
		}
	}
}

// addNode fills n from the object's common properties (aliases, name,
// labels, confidence, TLP, seen times, sources, props) and turns its
// embedded references into relations. own lists properties the caller maps
// itself: they go neither into props nor into generic relations (reference
// values among them that are not STIX identifiers stay in props). It
// returns the node's index in out.batch.Nodes.
func (mp *mapper) addNode(out *mapped, n graph.Node, o object, own []string) int {
	for _, id := range append([]string{o.id}, formerIDs(out, o)...) {
		if !slices.Contains(n.Aliases, id) {
			n.Aliases = append(n.Aliases, id)
		}
	}
	if name := strings.TrimSpace(o.str("name")); name != "" && (n.Name == "" || !n.Kind.IsObservable()) {
		n.Name = name
	}
	if value := strings.TrimSpace(o.str("value")); n.Name == "" && value != "" && len(value) <= maxValueName {
		// A cyber-observable type of a producer's own (OpenCTI's hostname,
		// text, user-agent, cryptocurrency-wallet, x-opencti-hostname, ...)
		// keyed by its id: its value names it, so search and kind:value
		// find it.
		n.Name = value
	}
	for _, p := range nameProps[o.typ] {
		if v := strings.TrimSpace(o.str(p)); n.Name == "" && v != "" && len(v) <= maxValueName {
			n.Name = v
		}
	}
	if n.Name == "" && o.typ == "language-content" {
		n.Name = languageContentName(o.m["contents"])
	}
	if n.Name == "" && o.typ == "location" {
		// A location given by its coordinates alone.
		lat, okLat := o.m["latitude"].(float64)
		long, okLong := o.m["longitude"].(float64)
		if okLat && okLong {
			n.Name = strconv.FormatFloat(lat, 'f', -1, 64) + ", " + strconv.FormatFloat(long, 'f', -1, 64)
		}
	}
	if labels, ok := stringList(o.m["labels"]); ok && len(labels) > 0 {
		n.Labels = labels
	}
	n.Confidence = o.confidence()
	n.FirstSeen, n.LastSeen = o.seen()
	n.Sources = mp.sources

	mk := objectMarkings(o.m)
	n.TLP = mk.tlp
	idx := len(out.batch.Nodes)
	mp.lifecycle(out, &n, o)
	out.batch.Relations = append(out.batch.Relations, mp.refRelations(out, n, o, own)...)
	n.Props = mp.props(o, fieldProps, mk, false)
	if lc := objectLifecycle(n.Props); lc != "" {
		n.Props[graph.PropLifecycle] = lc
	}
	for _, p := range own {
		if !isRefProperty(p) {
			delete(n.Props, p)
		}
	}
	if len(n.Props) == 0 {
		n.Props = nil
	}
	if len(mk.other) > 0 {
		out.fixups = append(out.fixups, fixup{node: idx, rel: -1, refs: mk.other})
	}
	out.batch.Nodes = append(out.batch.Nodes, n)
	return idx
}

// languageContentName names a language-content object (STIX 2.1, 7.1: the
// translations of the object its object_ref names) by the names it gives,
// each with its language ("Bank Angriff 1 (de); Attaque Bank 1 (fr)"), so
// that a search in any of those languages finds it and through it the
// object; one translating no name by its languages ("translation (de,
// fr)"). "" for contents that are no dictionary of languages.
func languageContentName(contents any) string {
	byLang, _ := contents.(map[string]any)
	langs := slices.Sorted(maps.Keys(byLang))
	var names []string
	for _, lang := range langs {
		props, _ := byLang[lang].(map[string]any)
		name, _ := props["name"].(string)
		if name = strings.TrimSpace(name); name != "" && len(strings.Join(names, "; "))+len(name)+len(lang)+5 <= maxValueName {
			names = append(names, name+" ("+lang+")")
		}
	}
	if len(names) == 0 && len(langs) > 0 && len(langs) <= 64 {
		return "translation (" + strings.Join(langs, ", ") + ")"
	}
	return strings.Join(names, "; ")
}

// nameProps are, for types keyed by their id that have neither name nor
// value, the properties that name an object, the first given wins: those
// OpenCTI shows its own observable types by, a STIX 2.1
// malware-analysis's result_name or product, and for the objects STIX
// lets go without a name what OpenCTI shows them by: a location's most
// specific place (a location with coordinates alone is named by them,
// addNode), an indicator's pattern (STIX 2.0 indicators need no name), a
// note's abstract or content, an opinion's opinion; OCA's x-oca-asset its
// host name, x-oca-event its action. (An autonomous-system is
// "AS<number>", graph.ObservableNode.)
var nameProps = map[string][]string{
	// OCA's custom observables (stix-shifter's and Kestrel's output): a
	// host by its host name, an event by what it did.
	"x-oca-asset":      {"hostname", "device_id"},
	"x-oca-event":      {"action"},
	"bank-account":     {"iban", "account_number"},
	"payment-card":     {"card_number", "holder_name"},
	"media-content":    {"title", "url"},
	"persona":          {"persona_name"},
	"malware-analysis": {"result_name", "product"},
	"location":         {"city", "administrative_area", "country", "region"},
	"indicator":        {"pattern"},
	"note":             {"abstract", "content"},
	"opinion":          {"opinion"},
}

// maxValueName bounds the value of a custom observable taken as its name
// (a text observable may hold a whole document).
const maxValueName = 1024

// props turns the object's property map into a node's or relation's props,
// in place (the map is the record's own): properties in skip go, reference
// properties keep only what did not become a relation (see
// nonRelationRefs), or everything when keepRefs is set, and
// object_marking_refs keeps only the references that are not predefined
// TLP markings. Callers read what they need from o.m before.
func (mp *mapper) props(o object, skip []string, mk markings, keepRefs bool) map[string]any {
	m := o.m
	for k, v := range m {
		switch {
		case k == "object_marking_refs":
			if len(mk.other) > 0 {
				m[k] = mk.other
			} else {
				delete(m, k)
			}
		case isRefProperty(k) && !keepRefs:
			if rest := nonRelationRefs(v); rest != nil {
				m[k] = rest
			} else {
				delete(m, k)
			}
		case slices.Contains(skip, k):
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// refRelations returns the relations the object's embedded references
// become: every property named *_ref or *_refs, at any depth except inside
// granular_markings and external_references, gives one relation per STIX
// identifier it holds, from the node to the referenced object, typed by
// the property name without the suffix (created_by_ref → created-by,
// object_refs → object, sample_refs → sample, parent_directory_ref →
// parent-directory). Marking references are TLP, not relations. A
// reference to a relationship object (an edge, not a node: a report's or
// note's object_refs naming relationship--…) is a relation to that id, which
// the store turns into relations to both ends of the relationship, in
// whichever order the two load. Values that are not STIX identifiers stay
// in props, with a warning.
func (mp *mapper) refRelations(out *mapped, n graph.Node, o object, consumed []string) []graph.Relation {
	var rels []graph.Relation
	var walk func(path string, v any, depth int)
	walk = func(path string, v any, depth int) {
		if depth > 8 {
			return
		}
		switch x := v.(type) {
		case map[string]any:
			// Only references and containers matter; sorted so that the
			// relations come out in the same order every time.
			var keys []string
			for k, v := range x {
				if depth == 0 && (slices.Contains(consumed, k) || k == "granular_markings" ||
					k == "external_references" || k == "object_marking_refs" || k == "kill_chain_phases") {
					continue
				}
				switch v.(type) {
				case map[string]any, []any:
					keys = append(keys, k)
				default:
					if isRefProperty(k) {
						keys = append(keys, k)
					}
				}
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				if isRefProperty(k) {
					for _, ref := range graph.Strings(x[k]) {
						switch {
						case ref == "":
						case isIdentifier(ref):
							// A relationship id too: the store links the
							// node to both ends of that relationship once
							// it is known (PendingRelationExpand).
							typ := refRelationType(k)
							if strings.HasPrefix(p, "x_mitre_contents[]") {
								// An ATT&CK collection lists every object of
								// its release: a catalogue, not a report.
								typ = graph.RelMitreContents
							}
							rels = append(rels, graph.Relation{
								Src: n.Ref(), Type: typ, Dst: graph.Ref(ref),
								Confidence: n.Confidence, FirstSeen: n.FirstSeen, LastSeen: n.LastSeen,
								Sources: mp.sources,
							})
						case openCTIInternalRef(p, ref):
						default:
							out.warnings = append(out.warnings, warning{property: p, value: ref,
								message: "reference is not a STIX identifier; kept in props, no relation"})
						}
					}
					continue
				}
				walk(p, x[k], depth+1)
			}
		case []any:
			for _, e := range x {
				walk(path+"[]", e, depth+1)
			}
		}
	}
	walk("", o.m, 0)
	return rels
}

// isRefProperty reports whether a property name is an embedded reference.
func isRefProperty(k string) bool {
	return strings.HasSuffix(k, "_ref") || strings.HasSuffix(k, "_refs")
}

// refRelationType is the relation type of a reference property.
// A property named just "_ref" or "_refs" gives "ref".
func refRelationType(k string) string {
	k = strings.TrimSuffix(strings.TrimSuffix(k, "_refs"), "_ref")
	if k == "" {
		return "ref"
	}
	return strings.ReplaceAll(k, "_", "-")
}

// nonRelationRefs returns what of a reference property did not become a
// relation (non-identifiers, non-strings), in the property's shape, or nil.
func nonRelationRefs(v any) any {
	keep := func(e any) bool {
		s, ok := e.(string)
		return !ok || !isIdentifier(s)
	}
	switch x := v.(type) {
	case []any:
		var rest []any
		for _, e := range x {
			if keep(e) {
				rest = append(rest, e)
			}
		}
		if rest == nil {
			return nil
		}
		return rest
	default:
		if keep(x) {
			return x
		}
	}
	return nil
}

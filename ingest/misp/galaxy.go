package misp

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
)

// KindGalaxyCluster is the kind of a galaxy cluster that is no threat
// actor, intrusion set, malware, tool, attack pattern, course of action or
// country (tea-matrix, guidelines, sector, ...).
const KindGalaxyCluster graph.Kind = "x-misp-galaxy-cluster"

var (
	// galaxyTag is a galaxy tag: misp-galaxy:threat-actor="Sofacy".
	galaxyTag = regexp.MustCompile(`^misp-galaxy:([^=]+)="(.*)"$`)
)

// malwareGalaxies are the galaxy types whose clusters are malware families.
var malwareGalaxies = map[string]bool{
	"malpedia": true, "ransomware": true, "banker": true, "stealer": true, "android": true,
	"rat": true, "botnet": true, "backdoor": true, "cryptominers": true,
}

// clusterKind maps a MISP galaxy type to the node kind of its clusters.
func clusterKind(galaxyType string) graph.Kind {
	t := strings.ToLower(strings.TrimSpace(galaxyType))
	switch {
	case strings.Contains(t, "intrusion-set"):
		return graph.KindIntrusionSet
	case strings.Contains(t, "attack-pattern"), strings.HasSuffix(t, "-techniques"):
		return graph.KindAttackPattern
	case strings.Contains(t, "course-of-action"):
		return graph.KindCourseOfAction
	case strings.Contains(t, "threat-actor"), t == "microsoft-activity-group":
		return graph.KindThreatActor
	case strings.Contains(t, "malware"), malwareGalaxies[t]:
		return graph.KindMalware
	case strings.Contains(t, "tool"), t == "exploit-kit":
		return graph.KindTool
	case t == "country", t == "region":
		return graph.KindLocation
	}
	return KindGalaxyCluster
}

// clusterRef is a galaxy cluster named by an event, an attribute, a tag or
// a cluster file: the full cluster when there is one, its type and value
// otherwise.
type clusterRef struct {
	galaxyType   string
	value        string
	relationship string
	c            *rawCluster
	// definition is set for a cluster file or galaxy: the cluster's own
	// source, whose description and meta the node keeps. Copies embedded
	// in events differ by the galaxy version each event was made with;
	// keeping them would make every load rewrite the node.
	definition bool
	// sharedUUID is set when another cluster of the same list, of another
	// value, carries the same uuid (sharedUUIDs): the uuid names neither.
	sharedUUID bool
}

// relType is the relation to the cluster: the tag's or cluster's
// relationship_type when one is given, else def.
func (r clusterRef) relType(def string) string {
	if t := strings.ToLower(strings.TrimSpace(r.relationship)); t != "" {
		return t
	}
	return def
}

// nameAndIDs strips an ATT&CK suffix from a cluster value and returns the
// name and the external ids: the suffix and meta external_id, else the one
// ATT&CK id of the cluster's kind that its synonyms and attack.mitre.org
// refs name (the threat-actor galaxy's APT28 lists G0007 and refs
// attack.mitre.org/groups/G0007). When those name two or more ATT&CK
// entities of the kind, the cluster is keyed by none of them (it would
// merge distinct entities): ambiguous lists them. implied is set when the
// ATT&CK id is the one its synonyms and refs name, not its own.
func nameAndIDs(kind graph.Kind, value string, meta map[string]any) (name string, ids, ambiguous []string, implied bool) {
	name, suffix := graph.SplitATTACKSuffix(value)
	if suffix != "" {
		ids = append(ids, suffix)
	}
	ids = append(ids, metaStrings(meta, "external_id")...)
	if graph.ATTACKIDFor(kind, ids...) != "" {
		return name, ids, nil, false
	}
	var named []string
	for _, s := range metaStrings(meta, "synonyms") {
		if id := graph.ATTACKIDFor(kind, s); id != "" && !slices.Contains(named, id) {
			named = append(named, id)
		}
	}
	for _, r := range metaStrings(meta, "refs") {
		if id := graph.ATTACKIDFor(kind, graph.ATTACKIDFromURL(r)); id != "" && !slices.Contains(named, id) {
			named = append(named, id)
		}
	}
	switch {
	case len(named) == 1:
		return name, append(ids, named[0]), nil, true
	case len(named) > 1:
		sort.Strings(named)
		ambiguous = named
	}
	return name, ids, ambiguous, false
}

// aliasKinds are the cluster kinds that carry name aliases
// (graph.NameAlias) for their value and synonyms when keyed by an ATT&CK
// id.
var aliasKinds = map[graph.Kind]bool{
	graph.KindIntrusionSet: true, graph.KindThreatActor: true, graph.KindMalware: true, graph.KindTool: true,
	graph.KindAttackPattern: true, graph.KindCampaign: true, graph.KindCourseOfAction: true,
}

// metaStrings reads a meta member that is a string or a list of strings.
func metaStrings(meta map[string]any, key string) []string {
	switch v := meta[key].(type) {
	case string:
		if v = strings.TrimSpace(v); v != "" {
			return []string{v}
		}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok && strings.TrimSpace(s) != "" {
				out = append(out, strings.TrimSpace(s))
			}
		}
		return out
	}
	return nil
}

// node returns the cluster's node, named so that it merges with the STIX
// object of the same entity: ATT&CK suffixes stripped, attack patterns
// keyed by technique id, vulnerabilities by CVE.
func (r clusterRef) node(feed string) graph.Node {
	kind := clusterKind(r.galaxyType)
	var meta map[string]any
	if r.c != nil {
		meta = r.c.Meta
	}
	name, ids, ambiguous, implied := nameAndIDs(kind, r.value, meta)
	var n graph.Node
	if kind == KindGalaxyCluster {
		n = graph.NamedNode(kind, strings.ToLower(strings.TrimSpace(r.galaxyType))+": "+name)
		n.Name = name
	} else {
		n = graph.NamedNode(kind, name, ids...)
	}
	if implied && n.Key != "" && graph.IsATTACKID(n.Key) {
		// Keyed by the ATT&CK id its refs or synonyms name, the cluster
		// is the galaxy's label for that ATT&CK entity, as a mitre
		// galaxy's "APT28 - G0007" is: so named, its record ranks for its
		// name below ATT&CK's own (graph.NamesItsKey), so the threat-actor
		// galaxy's "Sofacy" of a newer event does not rename G0007 APT28;
		// the name stays a lookup alias (below).
		n.Name = name + " - " + n.Key
	}
	props := map[string]any{}
	revoked := r.revoked()
	if revoked {
		props[graph.PropLifecycle] = graph.LifecycleRevoked
	}
	if id := graph.ATTACKIDFor(kind, ids...); aliasKinds[kind] && id != "" {
		// Keyed by its ATT&CK id: its names are lookup aliases of the
		// ATT&CK entity (unless revoked). A cluster keyed by name is found
		// by that key and claims no alias, so it never takes one from the
		// ATT&CK entity.
		names := append([]string{name}, metaStrings(meta, "synonyms")...)
		if revoked {
			names = nil
		}
		for _, s := range names {
			if a := graph.NameAlias(kind, s); a != "" && !slices.Contains(n.Aliases, a) {
				n.Aliases = append(n.Aliases, a)
			}
		}
		n.Aliases = append(n.Aliases, graph.ExternalIDAlias(id))
	}
	if len(ambiguous) > 0 {
		props[graph.PropAmbiguousATTACKIDs] = ambiguous
	}
	if c := r.c; c != nil && !r.definition {
		// An event's copy: its synonyms still say which entity it is.
		n.OtherNames = metaStrings(c.Meta, "synonyms")
	}
	if c := r.c; c != nil && r.definition {
		props["misp_galaxy"] = r.galaxyType
		if len(ids) > 0 {
			props["external_ids"] = uniq(ids)
		}
		if d := strings.TrimSpace(c.Description.String()); d != "" {
			props["description"] = d
		}
		if s := metaStrings(c.Meta, "synonyms"); len(s) > 0 {
			props["synonyms"] = s
		}
		if len(c.Meta) > 0 {
			props["meta"] = map[string]any(c.Meta)
		}
		if t := c.TagName.String(); t != "" {
			props["tag_name"] = t
		}
		if u := canonUUID(c.UUID.String()); u != "" && !r.sharedUUID {
			props["misp_uuid"] = u
		}
	}
	if r.c != nil && !r.sharedUUID {
		if u := canonUUID(r.c.UUID.String()); u != "" {
			n.Aliases = append(n.Aliases, alias(u))
			if id := r.attackSTIXID(u); id != "" {
				n.Aliases = append(n.Aliases, id)
			}
		}
	}
	if kind == graph.KindLocation {
		props["location_type"] = "country"
	}
	if len(props) > 0 {
		n.Props = props
	}
	n.Sources = []string{feed}
	return n
}

// revoked reports whether the cluster names its replacement: a "related"
// entry of type revoked-by (the ATT&CK galaxies keep revoked techniques and
// groups that way: "APT34 - G0057" revoked by OilRig's cluster), or, in an
// event's copy, a GalaxyClusterRelation of that type (ESET's Lazarus 3CX
// event: "Spearphishing Attachment - T1193" revoked by T1566.001's cluster). Such a
// cluster is marked revoked (graph.PropLifecycle) and, as a revoked STIX
// object, claims no name alias, so a name finds the replacement.
func (r clusterRef) revoked() bool {
	if r.c == nil {
		return false
	}
	for _, rel := range r.c.Related {
		if strings.EqualFold(strings.TrimSpace(rel.Type.String()), graph.RelRevokedBy) {
			return true
		}
	}
	for _, rel := range r.c.Relations {
		if !bool(rel.Deleted) && strings.EqualFold(strings.TrimSpace(rel.Type.String()), graph.RelRevokedBy) {
			return true
		}
	}
	return false
}

// attackSTIXKinds are the kinds whose clusters in MISP's MITRE ATT&CK
// galaxies (mitre-attack-pattern, mitre-intrusion-set, ...) carry the uuid
// of the ATT&CK STIX object they were made from: G0049's cluster is
// intrusion-set--4ca1929c-….
var attackSTIXKinds = map[graph.Kind]bool{
	graph.KindAttackPattern: true, graph.KindIntrusionSet: true, graph.KindMalware: true,
	graph.KindTool: true, graph.KindCourseOfAction: true, graph.KindCampaign: true,
}

// sameKindRelations are the cluster relations whose destination is a
// cluster of the same galaxy, so of the same kind.
var sameKindRelations = map[string]bool{graph.RelRevokedBy: true, "subtechnique-of": true}

// attackSTIXID is the ATT&CK STIX id of the cluster uuid u of r's galaxy
// when that is one of MITRE's (attackSTIXKinds), else "". Such a cluster
// carries it as an alias, and its revoked-by and subtechnique-of relations
// name their destination by it, so that they meet the ATT&CK STIX object
// whichever source gives it: ESET's event tags "Spearphishing Attachment -
// T1193" revoked by cluster 2e34237d-…, which Unit 42's playbooks give as
// attack-pattern--2e34237d-… (T1566.001).
func (r clusterRef) attackSTIXID(u string) string {
	kind := clusterKind(r.galaxyType)
	if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(r.galaxyType)), "mitre-") || !attackSTIXKinds[kind] {
		return ""
	}
	return string(kind) + "--" + u
}

// relations are the cluster's own relations to other clusters, named by
// uuid (cluster file "related", export GalaxyClusterRelation).
func (r clusterRef) relations(src graph.Ref, feed string, first, last time.Time) []graph.Relation {
	if r.c == nil {
		return nil
	}
	var rels []graph.Relation
	add := func(dst, typ string) {
		dst = canonUUID(dst)
		if dst == "" {
			return
		}
		typ = strings.ToLower(strings.TrimSpace(typ))
		if typ == "" {
			typ = RelRelatedTo
		}
		ref := alias(dst)
		if id := r.attackSTIXID(dst); id != "" && sameKindRelations[typ] {
			ref = id
		}
		rels = append(rels, graph.Relation{Src: src, Type: typ, Dst: graph.Ref(ref), Sources: []string{feed}, FirstSeen: first, LastSeen: last})
	}
	for _, rel := range r.c.Related {
		add(rel.DestUUID.String(), rel.Type.String())
	}
	for _, rel := range r.c.Relations {
		if !rel.Deleted {
			add(rel.ReferencedUUID.String(), rel.Type.String())
		}
	}
	return rels
}

// tagInfo is what a list of tags says: labels, the TLP marking and the
// galaxy clusters named by galaxy tags.
type tagInfo struct {
	labels   []string
	tlp      graph.TLP
	clusters []clusterRef
}

// tlpOf returns the TLP of a tag name ("tlp:amber" → amber, "tlp:white"
// → clear), or TLPNone: only tags in MISP's tlp namespace count.
func tlpOf(tag string) graph.TLP {
	rest, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(tag)), "tlp:")
	if !ok {
		return graph.TLPNone
	}
	t, _ := graph.ParseTLP(rest)
	return t
}

// readTags turns tags into labels (every tag but galaxy tags, which become
// linked cluster nodes), the most restrictive TLP among them, and clusters.
func readTags(tags []rawTag) tagInfo {
	var ti tagInfo
	seenLabel := map[string]bool{}
	for _, t := range tags {
		name := strings.TrimSpace(t.Name.String())
		if name == "" {
			continue
		}
		if m := galaxyTag.FindStringSubmatch(name); m != nil {
			// Some galaxies tag by cluster uuid; such a tag names no entity
			// by itself (the Galaxy entry beside it does).
			if _, err := uuid.Parse(m[2]); err != nil && strings.TrimSpace(m[2]) != "" {
				ti.clusters = append(ti.clusters, clusterRef{galaxyType: m[1], value: m[2], relationship: t.RelationshipType.String()})
			}
			continue
		}
		ti.tlp = ti.tlp.Stricter(tlpOf(name))
		if !seenLabel[name] {
			seenLabel[name] = true
			ti.labels = append(ti.labels, name)
		}
	}
	sort.Strings(ti.labels)
	return ti
}

// clusterMeta folds a cluster's GalaxyElement rows into its meta, a list
// of values per key, as MISP itself builds meta from them
// (GalaxyCluster::arrangeData): external_id, synonyms and refs say which
// entity the cluster is, however the producer wrote them. A key meta
// already gives is kept as given (the same rows, already folded).
func clusterMeta(c *rawCluster) {
	if len(c.Elements) == 0 {
		return
	}
	folded := map[string][]any{}
	var keys []string
	for _, e := range c.Elements {
		k, v := strings.TrimSpace(e.Key.String()), e.Value.String()
		if k == "" || strings.TrimSpace(v) == "" {
			continue
		}
		if _, given := c.Meta[k]; given {
			continue
		}
		if _, seen := folded[k]; !seen {
			keys = append(keys, k)
		}
		folded[k] = append(folded[k], v)
	}
	if len(keys) == 0 {
		return
	}
	if c.Meta == nil {
		c.Meta = make(map[string]any, len(keys))
	}
	for _, k := range keys {
		c.Meta[k] = folded[k]
	}
}

// galaxyClusters lists the clusters of galaxies.
func galaxyClusters(gs []rawGalaxy) []clusterRef {
	var out []clusterRef
	for _, g := range gs {
		for i := range g.Clusters {
			c := &g.Clusters[i]
			clusterMeta(c)
			typ := c.Type.String()
			if typ == "" {
				typ = g.Type.String()
			}
			out = append(out, clusterRef{galaxyType: typ, value: c.Value.String(), relationship: c.RelationshipType.String(), c: c})
		}
	}
	sharedUUIDs(out)
	return out
}

// countShared counts the clusters of refs marked sharedUUID.
func countShared(refs []clusterRef) int {
	n := 0
	for _, r := range refs {
		if r.sharedUUID {
			n++
		}
	}
	return n
}

// sharedUUIDs marks the clusters of refs whose uuid another of them, of
// another type or value, carries too (clusterRef.sharedUUID), and returns
// how many. Events MISP exported before its galaxies gave each cluster a
// uuid of its own give every cluster of a galaxy the same one (PyMISP's
// tests/mispevent_testfiles/existing_event_edited.json, an OSINT Sednit
// event: the Tool galaxy's GAMEFISH, X-Tunnel, EVILTOSS and X-Agent all
// 0d821b68-9d82-4c6d-86a6-1071a9e0f79f). Taken as their id, it made them
// one entity, renamed from one to the other; keyed by their names alone,
// they are what they say.
func sharedUUIDs(refs []clusterRef) int {
	if len(refs) < 2 {
		return 0
	}
	first := map[string]int{}
	n := 0
	mark := func(i int) {
		if !refs[i].sharedUUID {
			refs[i].sharedUUID = true
			n++
		}
	}
	for i, r := range refs {
		if r.c == nil {
			continue
		}
		u := canonUUID(r.c.UUID.String())
		if u == "" {
			continue
		}
		j, seen := first[u]
		if !seen {
			first[u] = i
			continue
		}
		if !strings.EqualFold(strings.TrimSpace(refs[j].value), strings.TrimSpace(r.value)) ||
			!strings.EqualFold(strings.TrimSpace(refs[j].galaxyType), strings.TrimSpace(r.galaxyType)) {
			mark(j)
			mark(i)
		}
	}
	if n > 0 {
		// A third cluster of the uuid, of the first one's value, is
		// marked too: the uuid names none of them.
		for i, r := range refs {
			if r.c != nil && !r.sharedUUID {
				if j, ok := first[canonUUID(r.c.UUID.String())]; ok && refs[j].sharedUUID {
					mark(i)
				}
			}
		}
	}
	return n
}

// checkCluster says why a cluster cannot be mapped, or nil.
func checkCluster(r clusterRef) (reason engine.Reason, err error) {
	switch {
	case r.c != nil && bool(r.c.Deleted):
		return ReasonDeleted, fmt.Errorf("cluster deleted")
	case strings.TrimSpace(r.value) == "":
		return ReasonMissingValue, fmt.Errorf("cluster without a value")
	case len(r.value) > maxValueBytes || len(r.galaxyType) > 256:
		return ReasonInvalidValue, fmt.Errorf("cluster value of %d bytes, galaxy type of %d", len(r.value), len(r.galaxyType))
	}
	return "", nil
}

// addClusters maps clusters named by a record and links src to them with
// their relationship_type or def. Clusters read from galaxy data count as
// records; those named only by a galaxy tag belong to the tag.
func (m *mapper) addClusters(j job, b *graph.Batch, clusters []clusterRef, src graph.Ref, def string, first, last time.Time) {
	for _, c := range clusters {
		if c.c != nil {
			j.out.res.Read++
		}
		if reason, err := checkCluster(c); err != nil {
			if c.c != nil {
				m.drop(j, "galaxy-cluster", c.c.UUID.String(), reason, err)
			}
			continue
		}
		n := c.node(m.feed)
		n.FirstSeen, n.LastSeen = first, last
		b.Nodes = append(b.Nodes, n)
		if src != "" {
			b.Relations = append(b.Relations, graph.Relation{Src: src, Type: c.relType(def), Dst: n.Ref(), Sources: []string{m.feed}, FirstSeen: first, LastSeen: last})
		}
		b.Relations = append(b.Relations, c.relations(n.Ref(), m.feed, first, last)...)
		if c.c != nil {
			j.out.res.Mapped++
		}
	}
}

// galaxyRecord maps a galaxy attached to an event: its clusters, linked from
// the event.
func (m *mapper) galaxyRecord(j job, b *graph.Batch) {
	var g rawGalaxy
	if err := unmarshal(j.raw, &g); err != nil {
		m.tally.countRead(recGalaxy)
		j.out.res.Read++
		m.drop(j, "galaxy", recordUUID(j.raw), engine.ReasonInvalidProperty, err)
		return
	}
	m.tally.add(func(t *Tally) {
		t.Galaxies++
		t.Clusters += int64(len(g.Clusters))
	})
	clusters := galaxyClusters([]rawGalaxy{g})
	if n := countShared(clusters); n > 0 {
		args := []any{"galaxy", truncate(g.Type.String(), 80), "clusters", n}
		if j.evUUID != "" {
			args = append(args, "event", j.evUUID)
		}
		if j.file != "" {
			args = append(args, "file", j.file)
		}
		m.log.Warn("MISP galaxy clusters of different values share one uuid (as MISP exported them before each cluster had its own): keyed by their names, the uuid kept as the id of none", args...)
	}
	var nb graph.Batch
	m.addClusters(j, &nb, clusters, "", "", j.first, j.last)
	b.Nodes = append(b.Nodes, nb.Nodes...)
	b.Relations = append(b.Relations, nb.Relations...)
	if j.fr == nil {
		return
	}
	for _, c := range clusters {
		if _, err := checkCluster(c); err != nil {
			continue
		}
		n := c.node(m.feed)
		if rel, ok := m.addLink(j, link{typ: c.relType(RelObject), dst: n.Ref(), first: j.first, last: j.last}); ok {
			rel.Sources = []string{m.feed}
			b.Relations = append(b.Relations, rel)
		}
	}
}

// clusterRecord maps one cluster of a cluster file ("values") or of a
// galaxy in API form ("GalaxyCluster"), typed by the file's galaxy type.
func (m *mapper) clusterRecord(j job, b *graph.Batch) {
	var c rawCluster
	if err := unmarshal(j.raw, &c); err != nil {
		m.tally.countRead(recCluster)
		j.out.res.Read++
		m.drop(j, "galaxy-cluster", recordUUID(j.raw), engine.ReasonInvalidProperty, err)
		return
	}
	m.tally.add(func(t *Tally) { t.Clusters++ })
	clusterMeta(&c)
	typ := c.Type.String()
	if typ == "" {
		typ = j.galaxyType
	}
	m.addClusters(j, b, []clusterRef{{galaxyType: typ, value: c.Value.String(), c: &c, definition: true}}, "", "", time.Time{}, time.Time{})
}

// uniq removes repeated strings, keeping the first of each.
func uniq(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

package stix

import (
	"slices"
	"strings"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/stixid"
)

// relationshipOwn are the relationship properties that map to fields of
// graph.Relation, or that a relation, being one row per (source, type,
// target) for any number of relationship objects, does not keep: the
// object's id and its created/modified times (folded into first and last
// seen), which would differ between two relationship objects saying the
// same thing and make the merged row depend on their order.
var relationshipOwn = []string{"type", "id", "created", "modified", "relationship_type", "source_ref", "target_ref", "confidence"}

// mapRelationship maps a relationship object to a graph.Relation from
// source_ref to target_ref typed by relationship_type (graph.RelationType:
// lower case, words joined by hyphens), which
// carries the relationship's id (kept by the store in relation_ids). The
// endpoints stay STIX ids, resolved through node aliases when written (or
// kept pending until the objects arrive). Its other properties and its TLP
// level go into the relation's props; references it holds (created_by_ref,
// ...) stay there too, since a relation has no relations.
func (mp *mapper) mapRelationship(out *mapped, o object) {
	rt := graph.RelationType(o.str("relationship_type"))
	if rt == "" {
		out.drop = dropf(ReasonMissingProperty, "relationship without relationship_type")
		return
	}
	src, dst, ok := o.str("source_ref"), o.str("target_ref"), false
	if src == "" || dst == "" {
		out.drop = dropf(ReasonMissingProperty, "relationship without source_ref or target_ref")
		return
	}
	for _, ref := range []string{src, dst} {
		if ok = isIdentifier(ref); !ok {
			out.drop = dropf(ReasonInvalidReference, "relationship endpoint %q is not a STIX identifier", ref)
			return
		}
	}
	mp.warnRefs(out, o, relationshipOwn)
	mk := objectMarkings(o.m)
	// Read before props, which removes the properties in relationshipOwn
	// (confidence among them) from o.m.
	conf := o.confidence()
	ids := append([]string{o.id}, formerIDs(out, o)...)
	props := mp.props(o, relationshipOwn, mk, true)
	if mk.tlp != "" {
		if props == nil {
			props = map[string]any{}
		}
		props["tlp"] = string(mk.tlp)
	}
	// A revoked or deprecated version marks the relation withdrawn as it
	// marks a node (graph.Lifecycle): the mark, which no live record has,
	// stays on the merged row, so the walks leave the relation out.
	if lc := graph.Lifecycle(props); lc != "" {
		props[graph.PropLifecycle] = lc
	}
	first, last := o.held("start_time", "stop_time")
	rel := graph.Relation{
		Src: graph.Ref(src), Type: rt, Dst: graph.Ref(dst), Confidence: conf,
		FirstSeen: first, LastSeen: last, Sources: mp.sources, Props: props, IDs: ids,
	}
	if len(mk.other) > 0 {
		out.fixups = append(out.fixups, fixup{node: -1, rel: len(out.batch.Relations), refs: mk.other})
	}
	out.batch.Relations = append(out.batch.Relations, rel)
}

// warnRefs warns about every top-level reference value (other than in own)
// that is not a STIX identifier.
func (mp *mapper) warnRefs(out *mapped, o object, own []string) {
	for k, v := range o.m {
		if !isRefProperty(k) || k == "object_marking_refs" || slices.Contains(own, k) {
			continue
		}
		for _, ref := range graph.Strings(v) {
			if ref != "" && !isIdentifier(ref) && !openCTIInternalRef(k, ref) {
				out.warnings = append(out.warnings, warning{property: k, value: ref,
					message: "reference is not a STIX identifier; kept in props"})
			}
		}
	}
}

// sightingOwn are the sighting properties mapSighting maps itself.
var sightingOwn = []string{"sighting_of_ref", "where_sighted_refs", "observed_data_refs"}

// mapSighting maps a sighting to a graph.Sighting: a node of kind sighting
// keyed by its id, linked sighting-of (sighting_of_ref), where-sighted
// (where_sighted_refs) and observed (observed_data_refs), with count,
// confidence and seen times; a false positive links false-positive-of and
// one of count 0 no-sighting-of, neither counted as a sighting. Reference
// values that are not STIX identifiers stay in props, with a warning.
func (mp *mapper) mapSighting(out *mapped, o object) {
	of := o.str("sighting_of_ref")
	if of == "" {
		out.drop = dropf(ReasonMissingProperty, "sighting without sighting_of_ref")
		return
	}
	if !isIdentifier(of) {
		out.drop = dropf(ReasonInvalidReference, "sighting_of_ref %q is not a STIX identifier", of)
		return
	}
	own := sightingOwn
	if x := o.str("x_opencti_sighting_of_ref"); strings.EqualFold(of, openCTIPlaceholderIndicator) && isIdentifier(x) {
		// OpenCTI's connectors write a sighting of an object STIX gives no
		// sighting of (an observable, an intrusion set) with a placeholder
		// indicator in sighting_of_ref and the object in
		// x_opencti_sighting_of_ref, which OpenCTI's worker reads: the
		// sighting is of that object (the placeholder stays in props).
		of = x
		own = append(slices.Clone(sightingOwn), "x_opencti_sighting_of_ref")
	}
	identifiers := func(prop string) []graph.Ref {
		var refs []graph.Ref
		for _, r := range graph.Strings(o.m[prop]) {
			if isIdentifier(r) {
				refs = append(refs, graph.Ref(r))
			} else if r != "" {
				out.warnings = append(out.warnings, warning{property: prop, value: r,
					message: "reference is not a STIX identifier; kept in props, no relation"})
			}
		}
		return refs
	}
	first, last := o.held("first_seen", "last_seen")
	s := graph.Sighting{
		SourceID: o.id, Of: graph.Ref(of), Where: identifiers("where_sighted_refs"),
		Observed: identifiers("observed_data_refs"), Confidence: o.confidence(),
		FirstSeen: first, LastSeen: last, Sources: mp.sources,
	}
	negative := openCTINegative(o.m)
	switch {
	case negative:
		// A false positive reports the object benign: it never saw it
		// (as a MISP false-positive sighting).
		s.OfRelation = graph.RelFalsePositiveOf
	case zeroCount(o.m):
		// count is "the number of times the SDO referenced by
		// sighting_of_ref was sighted" (STIX 2.1, 5.2): 0 says it was
		// looked for and not seen. The record and its count are kept (as
		// OpenCTI keeps a sighting's count), but it is no sighting.
		s.OfRelation = graph.RelNoSightingOf
		negative = true
	}
	n, rels := s.Graph()
	idx := mp.addNode(out, n, o, own)
	tlp := out.batch.Nodes[idx].TLP
	// Its links carry its TLP: a predefined one now, one its marking
	// references name through the feed's marking definitions as the node's
	// (its fixup) is resolved.
	var refs []string
	for _, f := range out.fixups {
		if f.node == idx {
			refs = f.refs
		}
	}
	for i := range rels {
		rels[i].Src = out.batch.Nodes[idx].Ref()
		if tlp != "" {
			rels[i].Props = map[string]any{"tlp": string(tlp)}
		}
		if refs != nil {
			out.fixups = append(out.fixups, fixup{node: -1, rel: len(out.batch.Relations) + i, refs: refs})
		}
	}
	out.batch.Relations = append(out.batch.Relations, rels...)
	if !negative {
		out.sightings++
	}
}

// openCTIPlaceholderIndicator is the indicator id OpenCTI's connectors put
// in a sighting's sighting_of_ref when the sighted object is in
// x_opencti_sighting_of_ref ("As SDO are not supported in official STIX,
// we use a fake ID in ref", OpenCTI-Platform/connectors AbuseIPDB
// enrichment; the Splunk and GreyNoise connectors alike). No such
// indicator is ever sent: linked, it waited pending for ever, and the
// object had no sighting.
const openCTIPlaceholderIndicator = "indicator--c1034564-a9fb-429b-a1c1-c80116cc8e1e"

// zeroCount reports whether a sighting's count is 0 (a JSON number; a
// count that is absent says nothing of how many times, STIX 2.1 5.2).
func zeroCount(m map[string]any) bool {
	c, ok := m["count"].(float64)
	return ok && c == 0
}

// OpenCTI's extension definitions: its own property extension on every
// object it exports (x_opencti_* properties moved into it since OpenCTI
// 5.4), and the one of its own cyber-observable types (hostname, text,
// cryptocurrency-wallet, ...).
const (
	openCTIExtension    = "extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba"
	openCTISCOExtension = "extension-definition--f93e2c80-4231-4f9a-af8b-95c9bd566a82"
)

// openCTIInternalRef reports whether ref, found at the property path path
// ("x_opencti_source_ref", "extensions.<OpenCTI's extension>.source_ref"),
// is an OpenCTI internal id: a bare UUID in an x_opencti_ property or in
// one of OpenCTI's extensions, where OpenCTI writes its own ids beside the
// STIX ones of the standard properties. It is kept in props without a
// warning: it is what the producer means, and it would otherwise warn for
// every relationship and sighting of an OpenCTI export.
func openCTIInternalRef(path, ref string) bool {
	if _, ok := stixid.CanonicalUUID(ref); !ok {
		return false
	}
	if strings.HasPrefix(path, "x_opencti_") {
		return true
	}
	for _, ext := range []string{openCTIExtension, openCTISCOExtension} {
		if strings.HasPrefix(path, "extensions."+ext+".") {
			return true
		}
	}
	return false
}

// openCTINegative reports whether a sighting is an OpenCTI negative one (a
// false positive: "x_opencti_negative": true, or "negative": true in
// OpenCTI's extension, as OpenCTI exports and its connectors write them;
// the strings "true"/"false" count too).
func openCTINegative(m map[string]any) bool {
	if b, ok := graph.LifecycleFlag(m["x_opencti_negative"]); ok {
		return b
	}
	ext, _ := m["extensions"].(map[string]any)
	octi, _ := ext[openCTIExtension].(map[string]any)
	b, _ := graph.LifecycleFlag(octi["negative"])
	return b
}

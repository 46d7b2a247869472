package stix

import (
	"slices"

	"github.com/ransomeye/intel/stixid"
)

// formerIDs returns the other STIX ids the object had at its producer, in
// canonical spelling: OpenCTI lists them in x_opencti_stix_ids, or in
// stix_ids of its extension (since OpenCTI 5.4), the ids of the copies it
// merged into the object and the ids other platforms gave it, and
// deduplicates by them. They are the object's source ids as its own id is
// (node aliases; a relationship's relation ids), so what names an old id
// in another feed reaches the object. A value that is no STIX identifier,
// or whose type is relationship or sighting while the object's is not
// the same (an edge is no alias of a node), is kept in props with a warning and
// gives nothing.
func formerIDs(out *mapped, o object) []string {
	var ids []string
	add := func(property string, v any) {
		l, _ := v.([]any)
		for _, e := range l {
			s, _ := e.(string)
			id, ok := stixid.CanonicalID(s)
			typ, _, _ := splitIdentifier(id)
			switch {
			case !ok || isEdgeType(typ) != isEdgeType(o.typ) || (isEdgeType(typ) && typ != o.typ):
				out.warnings = append(out.warnings, warning{property: property, value: truncateValue(e),
					message: "not a STIX identifier of such an object; kept in props, no alias"})
			case id != o.id && !slices.Contains(ids, id):
				ids = append(ids, id)
			}
		}
	}
	add("x_opencti_stix_ids", o.m["x_opencti_stix_ids"])
	ext, _ := o.m["extensions"].(map[string]any)
	octi, _ := ext[openCTIExtension].(map[string]any)
	add("extensions."+openCTIExtension+".stix_ids", octi["stix_ids"])
	return ids
}

// isEdgeType reports whether objects of the STIX type typ are edges, not
// nodes, of the producer's graph: relationships and sightings.
func isEdgeType(typ string) bool { return typ == "relationship" || typ == "sighting" }

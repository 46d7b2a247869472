package graph

import (
	"slices"
	"sort"
	"strings"
	"unicode"
)

// RelationClass says what a relation type means to a walk. A walk follows
// intelligence and containment by default, never provenance or lifecycle
// (RelatedOptions.IncludeProvenance opts provenance in).
type RelationClass string

// The relation classes, in the order a capped walk prefers them.
const (
	// ClassIntelligence is a statement about the threat: indicates, uses,
	// attributed-to, targets, has-hash, resolves-to, subtechnique-of, and
	// the references between observables (src, dst, parent-directory, ...).
	// Relation names with no explicit class are intelligence.
	ClassIntelligence RelationClass = "intelligence"
	// ClassContainment is a container holding an object: a report,
	// grouping, note or opinion's object_refs and a MISP event's members
	// ("object"), a MISP object's attributes (has-attribute), structural
	// parts (contains, includes, ...).
	ClassContainment RelationClass = "containment"
	// ClassProvenance is bookkeeping about who wrote or marked an object:
	// created-by, x-mitre-modified-by, markings, derived-from.
	ClassProvenance RelationClass = "provenance"
	// ClassLifecycle is an object's life: revoked-by, duplicate-of,
	// expiration-of.
	ClassLifecycle RelationClass = "lifecycle"
)

// RelationClasses lists the classes in the order a capped walk prefers
// them (intelligence first).
var RelationClasses = []RelationClass{ClassIntelligence, ClassContainment, ClassProvenance, ClassLifecycle}

// Rank is the class's place in RelationClasses: the fan-out cap of a walk
// keeps edges of a lower rank first.
func (c RelationClass) Rank() int {
	if i := slices.Index(RelationClasses, c); i >= 0 {
		return i
	}
	return 0
}

// RelMitreContents links an ATT&CK x-mitre-collection to each object its
// x_mitre_contents lists (object_ref). It is provenance, not containment:
// a collection is the catalogue of a whole ATT&CK release (1,824 objects in
// ATT&CK for ICS 18.1), so walking it as a report's object_refs related
// every ATT&CK object to every other two hops apart (`intel related
// G0088 --depth 2` returned 170 nodes through the collection beside the
// group's 62 and was cut by the fan-out cap), and the answers of the
// STIX 2.1 release, which has the collection, differed from those of the
// STIX 2.0 one, which has not.
const RelMitreContents = "x-mitre-contents"

// relationClasses gives every relation name the mappers emit (the STIX
// relationship vocabulary, embedded *_ref(s) properties as the STIX mapper
// names them, the MISP mapper's and MISP object references' relation
// names, ATT&CK's and CAPEC's custom ones) its class. TestCorpusRelationsHaveAClass
// (package store) fails when a load of the shared corpus writes a relation
// missing here.
var relationClasses = map[string]RelationClass{
	// Containment.
	"object":         ClassContainment, // report/grouping/note/opinion/observed-data object_refs; MISP event membership
	"has-attribute":  ClassContainment, // MISP object → its attributes
	"contains":       ClassContainment,
	"includes":       ClassContainment,
	"included-in":    ClassContainment,
	"header-of":      ClassContainment,
	"observed":       ClassContainment, // sighting → observed-data
	"tactic":         ClassContainment, // ATT&CK matrix → its tactics
	"x-mitre-tactic": ClassContainment,

	// Provenance.
	"created-by":          ClassProvenance,
	"x-mitre-modified-by": ClassProvenance,
	"object-marking":      ClassProvenance,
	"marking":             ClassProvenance,
	"granular-marking":    ClassProvenance,
	"derived-from":        ClassProvenance,
	RelMitreContents:      ClassProvenance,
	// Sekoia.io's x_inthreat_sources_refs: the identities an object's
	// intelligence came from, as created_by_ref names its creator. Walked,
	// it made every two objects of one source two hops apart.
	"x-inthreat-sources": ClassProvenance,

	// Lifecycle.
	"revoked-by":    ClassLifecycle,
	"duplicate-of":  ClassLifecycle,
	"expiration-of": ClassLifecycle, // a MISP expiration sighting: the attribute's end of validity

	// Intelligence: the STIX 2.1 relationship vocabulary.
	"indicates": ClassIntelligence, "uses": ClassIntelligence, "attributed-to": ClassIntelligence,
	"targets": ClassIntelligence, "has-hash": ClassIntelligence, "based-on": ClassIntelligence,
	"communicates-with": ClassIntelligence, "resolves-to": ClassIntelligence, "drops": ClassIntelligence,
	"exploits": ClassIntelligence, "variant-of": ClassIntelligence, "subtechnique-of": ClassIntelligence,
	"mitigates": ClassIntelligence, "detects": ClassIntelligence, "related-to": ClassIntelligence,
	"located-at": ClassIntelligence, "downloads": ClassIntelligence, "consists-of": ClassIntelligence,
	"controls": ClassIntelligence, "hosts": ClassIntelligence, "owns": ClassIntelligence,
	"authored-by": ClassIntelligence, "beacons-to": ClassIntelligence, "exfiltrates-to": ClassIntelligence,
	"delivers": ClassIntelligence, "impersonates": ClassIntelligence, "investigates": ClassIntelligence,
	"remediates": ClassIntelligence, "originates-from": ClassIntelligence, "characterizes": ClassIntelligence,
	"analysis-of": ClassIntelligence, "static-analysis-of": ClassIntelligence, "dynamic-analysis-of": ClassIntelligence,
	"av-analysis-of": ClassIntelligence, "compromises": ClassIntelligence, "has": ClassIntelligence,
	"belongs-to": ClassIntelligence, "sighting-of": ClassIntelligence, "where-sighted": ClassIntelligence,
	"false-positive-of": ClassIntelligence, // a MISP false-positive sighting: said of the value, shown as such
	"no-sighting-of":    ClassIntelligence, // a STIX sighting of count 0: looked for, not seen, shown as such
	// Embedded references of STIX objects, named by the property.
	"src": ClassIntelligence, "dst": ClassIntelligence, "parent-directory": ClassIntelligence,
	"parent": ClassIntelligence, "child": ClassIntelligence, "binary": ClassIntelligence,
	"image": ClassIntelligence, "from": ClassIntelligence, "to": ClassIntelligence, "cc": ClassIntelligence,
	"bcc": ClassIntelligence, "sender": ClassIntelligence, "raw-email": ClassIntelligence,
	"body-raw": ClassIntelligence, "content": ClassIntelligence, "message-body-data": ClassIntelligence,
	"src-payload": ClassIntelligence, "dst-payload": ClassIntelligence, "encapsulates": ClassIntelligence,
	"encapsulated-by": ClassIntelligence, "opened-connection": ClassIntelligence,
	"creator-user": ClassIntelligence, "link": ClassIntelligence, "sample": ClassIntelligence,
	"operating-system": ClassIntelligence, "installed-software": ClassIntelligence,
	"host-vm": ClassIntelligence, "analysis-sco": ClassIntelligence, "user-account": ClassIntelligence,
	"email-address": ClassIntelligence, "service-dll": ClassIntelligence, "pattern": ClassIntelligence,
	// ATT&CK and CAPEC.
	"x-mitre-data-component": ClassIntelligence, "x-mitre-analytic": ClassIntelligence,
	"x-mitre-data-source": ClassIntelligence, "x-capec-child-of": ClassIntelligence,
	"x-capec-parent-of": ClassIntelligence, "x-capec-can-precede": ClassIntelligence,
	"x-capec-can-follow": ClassIntelligence, "x-capec-peer-of": ClassIntelligence,
	// MISP object references and galaxy cluster relations.
	"detected-as": ClassIntelligence, "analysed-with": ClassIntelligence, "used-by": ClassIntelligence,
	"connected-to": ClassIntelligence, "weakened-by": ClassIntelligence, "targeted-by": ClassIntelligence,
	"part-of": ClassIntelligence, "extracted-from": ClassIntelligence, "similar": ClassIntelligence,
	"gathering": ClassIntelligence, "resolved-to": ClassIntelligence, "downloaded-from": ClassIntelligence,
	"dropped-by": ClassIntelligence, "updated": ClassIntelligence, "false": ClassIntelligence,
	"similar-to": ClassIntelligence, "variant": ClassIntelligence, "authored": ClassIntelligence,
	"signed-by": ClassIntelligence, "communicates-with-ip": ClassIntelligence, "hosted-on": ClassIntelligence,
	// Galaxy cluster relations between clusters (actors overlapping, a
	// family's lineage), met in the corpus's MISP galaxies.
	"linked-to": ClassIntelligence, "overlaps": ClassIntelligence, "parent-of": ClassIntelligence,
	"successor-of": ClassIntelligence,
}

// ClassOf returns the class of a relation type; a name with no explicit
// class (a feed's own vocabulary) is intelligence.
func ClassOf(relation string) RelationClass {
	c, _ := ExplicitClass(relation)
	return c
}

// ExplicitClass returns the class of a relation type and whether it is one
// the project classified (false: the intelligence default).
func ExplicitClass(relation string) (RelationClass, bool) {
	if c, ok := relationClasses[relation]; ok {
		return c, true
	}
	return ClassIntelligence, false
}

// RelationsOfClass returns, sorted, the relation names explicitly in class
// c (for intelligence, only those listed: unknown names are intelligence
// too).
func RelationsOfClass(c RelationClass) []string {
	var out []string
	for r, rc := range relationClasses {
		if rc == c {
			out = append(out, r)
		}
	}
	sort.Strings(out)
	return out
}

// RelationType is a relationship type as feeds write it in the form STIX
// gives it (2.1, 3.7: lower-case words joined by hyphens): trimmed, lower
// case, each run of white space and underscores one hyphen. Cortex XSOAR
// writes "related to", other tools "Related_To"; both are related-to, so
// one link of two feeds is one relation. Empty when nothing is left.
func RelationType(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.ContainsFunc(s, wordSeparator) {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, wordSeparator), "-")
}

// wordSeparator reports whether r separates the words of a relationship
// type written as words.
func wordSeparator(r rune) bool { return r == '_' || unicode.IsSpace(r) }

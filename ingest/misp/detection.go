package misp

import (
	"strings"

	"github.com/ransomeye/intel/graph"
)

// MISP objects holding a detection rule (yara, sigma, suricata,
// stix2-pattern) are exported by misp-stix (STIX 2.1) as the indicator of
// the rule, whatever to_ids says, as this mapper already keys an
// attribute of type yara, sigma or snort (misp_to_stix21.py
// _parse_yara_object, _parse_sigma_object, _parse_suricata_object;
// misp_to_stix2.py _parse_stix_pattern_object; their mappings in
// stix21_mapping.py and stix2_mapping.py): keyed "indicator--<object
// uuid>", its pattern the rule attribute's value, its pattern_type that
// attribute's type (the suricata template's rule is of type snort), its
// name the rule name attribute, its description the comment attribute,
// its pattern_version the version attribute (a stix2-pattern's without
// "STIX"). The indicator stands for the object as a to_ids object's does
// (objectAsIndicator): its event's link, details, has-attribute links (a
// sigma object's reference, a suricata object's ref) and references are
// the indicator's. A STIX pattern is based on the observables it compares
// (stix.PatternGraph, patternBasis); one not understood keeps the indicator
// without them and is said (objectRecord). An object of several rules
// (the suricata template's rule is "multiple") has the last one as its
// pattern, as misp-stix keeps it, and every rule in its props.

// patterningObject is how misp-stix reads one kind of rule object: the
// relation of its rule and of its rule's name ("" for none).
type patterningObject struct{ rule, name string }

// patterningObjects are the rule objects, by name.
var patterningObjects = map[string]patterningObject{
	"yara":          {"yara", "yara-rule-name"},
	"sigma":         {"sigma", "sigma-rule-name"},
	"suricata":      {"suricata", ""},
	"stix2-pattern": {"stix2-pattern", ""},
}

// patterningIndicator is the indicator of a rule object (name, uuid, its
// mapped attributes) and the observables its pattern compares; ok is false
// when the object has no rule.
func patterningIndicator(name, uuid string, attrs []attrOut, po patterningObject) (graph.Node, basis, bool) {
	var rule *attrOut
	ruleName, comment, version := "", "", ""
	for i, a := range attrs {
		v := strings.TrimSpace(a.value)
		switch {
		case v == "":
		case a.relation == po.rule:
			rule = &attrs[i] // the last, as misp-stix keeps it
		case po.name != "" && a.relation == po.name:
			ruleName = v
		case a.relation == "comment":
			comment = v
		case a.relation == "version":
			version = v
		}
	}
	if rule == nil {
		return graph.Node{}, basis{}, false
	}
	pattern := rule.value
	pt := patternTypes[rule.typ]
	if pt == "" {
		pt = strings.ToLower(strings.TrimSpace(rule.typ))
	}
	if name == "stix2-pattern" {
		pt = "stix"
		version = strings.Trim(version, "stixSTIX ")
	}
	n := graph.SourceNode(graph.KindIndicator, string(graph.KindIndicator)+"--"+uuid)
	switch {
	case ruleName != "":
		n.Name = truncate(ruleName, 200)
	case len(pattern) <= maxPatternName:
		n.Name = strings.TrimSpace(pattern) // as the STIX loader names an indicator without a name
	}
	n.Props = map[string]any{"pattern": pattern, "pattern_type": pt}
	if comment != "" {
		n.Props["description"] = comment
	}
	if version != "" {
		n.Props["pattern_version"] = version
	}
	var obs basis
	if pt == "stix" {
		obs, _ = patternBasis(pattern)
	}
	return n, obs, true
}

// dropRuleCopy removes from an object's details the copy of its rule that
// is the indicator's pattern (kept under the rule's relation by addProp),
// so a rule is not stored twice; several rules stay, as a list.
func dropRuleCopy(details map[string]any, name string, ind graph.Node) {
	po, ok := patterningObjects[name]
	if !ok {
		return
	}
	if s, ok := details[po.rule].(string); ok && s == ind.Props["pattern"] {
		delete(details, po.rule)
	}
}

package stix

import (
	"strings"

	"github.com/ransomeye/intel/graph"
)

// standardTLP maps the marking-definition ids the specifications predefine
// to TLP levels: TLP 1.0 (STIX 2.0 and 2.1, section 7.2.1.4; WHITE is
// CLEAR's old name) and TLP 2.0 (the OASIS TLP 2.0 marking definitions of
// extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d), and the id
// OpenCTI gives TLP:AMBER+STRICT (its platform, pycti and connectors name
// it by that id alone, without its definition: TLP 1.0 has no such level).
var standardTLP = map[string]graph.TLP{
	"marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": graph.TLPClear, // TLP:WHITE
	"marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": graph.TLPGreen,
	"marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": graph.TLPAmber,
	"marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": graph.TLPRed,

	"marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": graph.TLPClear,
	"marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": graph.TLPGreen,
	"marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": graph.TLPAmber,
	"marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": graph.TLPAmberStrict,
	"marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": graph.TLPRed,

	"marking-definition--826578e1-40ad-459f-bc73-ede076f81f37": graph.TLPAmberStrict, // OpenCTI
}

// tlp2Extension is the extension-definition of TLP 2.0 marking definitions.
const tlp2Extension = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"

// normalizeTLP maps the spellings feeds use ("TLP:AMBER", "white",
// "amber+strict", "AMBER-STRICT") to a TLP level, or "".
func normalizeTLP(s string) graph.TLP {
	t, _ := graph.ParseTLP(s)
	return t
}

// markingTLP returns the TLP level a marking-definition object defines, or
// "" when it is not a TLP marking: a predefined id, a TLP 1.0 definition
// ({"definition_type": "tlp", "definition": {"tlp": "amber"}}), the TLP 2.0
// extension, or a name such as "TLP:AMBER" on a definition of type tlp.
func markingTLP(o object) graph.TLP {
	if tlp, ok := standardTLP[o.id]; ok {
		return tlp
	}
	if ext, ok := o.m["extensions"].(map[string]any); ok {
		if e, ok := ext[tlp2Extension].(map[string]any); ok {
			if s, ok := e["tlp_2_0"].(string); ok {
				return normalizeTLP(s)
			}
		}
	}
	if !strings.EqualFold(o.str("definition_type"), "tlp") {
		return ""
	}
	if def, ok := o.m["definition"].(map[string]any); ok {
		for k, v := range def {
			if s, ok := v.(string); ok && strings.EqualFold(k, "tlp") {
				if tlp := normalizeTLP(s); tlp != "" {
					return tlp
				}
			}
		}
	}
	return normalizeTLP(o.str("name"))
}

// markings is what an object's marking references say: the strictest
// predefined TLP level, and the references to other marking definitions
// (resolved later against the marking definitions the feed defined, or kept
// in props).
type markings struct {
	tlp   graph.TLP
	other []string
}

// objectMarkings reads object_marking_refs and the marking_ref of every
// granular marking: a granular marking covers part of the object, and the
// node carries the strictest level of any part.
func objectMarkings(m map[string]any) markings {
	var mk markings
	add := func(ref string) {
		if tlp, ok := standardTLP[ref]; ok {
			mk.tlp = mk.tlp.Stricter(tlp)
		} else if ref != "" {
			mk.other = append(mk.other, ref)
		}
	}
	if refs, ok := stringList(m["object_marking_refs"]); ok {
		for _, r := range refs {
			add(r)
		}
	}
	if gms, ok := m["granular_markings"].([]any); ok {
		for _, g := range gms {
			if gm, ok := g.(map[string]any); ok {
				if r, ok := gm["marking_ref"].(string); ok {
					add(r)
				}
			}
		}
	}
	return mk
}

package graph

import "strings"

// TLP is a Traffic Light Protocol 2.0 marking, lower case: clear, green,
// amber, amber+strict or red; empty when unmarked. TLP 1.0's "white" is
// read as clear.
type TLP string

// The TLP markings, least strict first.
const (
	TLPNone        TLP = ""
	TLPClear       TLP = "clear"
	TLPGreen       TLP = "green"
	TLPAmber       TLP = "amber"
	TLPAmberStrict TLP = "amber+strict"
	TLPRed         TLP = "red"
)

// PropTLPFrom is the prop of a node that names (as references: aliases,
// keys) the records whose TLP it takes though they are stored apart: a
// MISP sighting read outside its event (a ZMQ misp_json_sighting message)
// takes its attribute's and its event's, which other documents give, in
// either load order. The explanations of its links read it at query time
// (store.ExplainEdges); the node's own TLP is only what its records say.
const PropTLPFrom = "tlp_from"

// ParseTLP reads a marking as feeds write it ("TLP:AMBER+STRICT",
// "tlp:white", "AMBER-STRICT", " Red "), with or without a "tlp:" prefix;
// TLP 1.0's white is clear. It returns false for anything that is not a
// TLP marking.
func ParseTLP(s string) (TLP, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, prefix := range []string{"tlp:", "tlp "} {
		s = strings.TrimPrefix(s, prefix)
	}
	switch strings.Trim(s, `"' `) {
	case "clear", "white":
		return TLPClear, true
	case "green":
		return TLPGreen, true
	case "amber":
		return TLPAmber, true
	case "amber+strict", "amber-strict", "amber strict":
		return TLPAmberStrict, true
	case "red":
		return TLPRed, true
	}
	return TLPNone, false
}

// Rank orders markings from unmarked (0) to red (5); the SQL function
// tlp_rank (migration 00001) gives the same numbers.
func (t TLP) Rank() int {
	switch TLP(strings.ToLower(string(t))) {
	case TLPClear, "white":
		return 1
	case TLPGreen:
		return 2
	case TLPAmber:
		return 3
	case TLPAmberStrict:
		return 4
	case TLPRed:
		return 5
	}
	return 0
}

// Stricter returns the stricter of two markings. Markings of equal rank
// ("white" and "clear") are ordered by their text, so the result does not
// depend on which came first.
func (t TLP) Stricter(o TLP) TLP {
	if o.Rank() > t.Rank() || (o.Rank() == t.Rank() && o > t) {
		return o
	}
	return t
}

// Normalize returns the marking in the spelling the store keeps: lower
// case, TLP 1.0's "white" as clear. A value that is not a TLP marking is
// kept lower-cased (it ranks 0, like unmarked).
func (t TLP) Normalize() TLP {
	if p, ok := ParseTLP(string(t)); ok {
		return p
	}
	return TLP(strings.ToLower(strings.TrimSpace(string(t))))
}

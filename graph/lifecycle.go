package graph

import (
	"cmp"
	"slices"
	"strings"
)

// Lifecycle marks. A source may say that an object is withdrawn: STIX
// "revoked": true (its replacement is named by a revoked-by relationship),
// ATT&CK "x_mitre_deprecated": true. The mappers keep those properties and
// add PropLifecycle, one value the walk and the CLI filter on. A record so
// marked ranks below every live record of the same entity (RecordRank), so
// it never overwrites a live object's name or props, and it claims no name
// aliases (NameAlias), so a name lookup finds the live object.
//
// PropLifecycle is ours, not the source's: a feed object's own property
// named "lifecycle" (a vendor's custom property, whatever its value) is
// kept under SourcePropKey("lifecycle") by the mappers (MoveReservedProps),
// so only their own detection sets the mark. A Go caller writing through
// the store may set PropLifecycle itself.
const (
	// PropLifecycle is the props key holding LifecycleRevoked or
	// LifecycleDeprecated; absent on live objects.
	PropLifecycle       = "lifecycle"
	LifecycleRevoked    = "revoked"
	LifecycleDeprecated = "deprecated"
)

// PropAmbiguousATTACKIDs is the props key listing the ATT&CK ids a MISP
// galaxy cluster names when they are of two entities: such a node keyed by
// its name stands for no entity (the identity tables read it). Like
// PropLifecycle it is set by a mapper, never taken from a source's own
// property of that name.
const PropAmbiguousATTACKIDs = "ambiguous_attack_ids"

// LifecycleProps are the props Lifecycle reads: a query that needs a
// node's lifecycle and not its props reads these alone.
var LifecycleProps = []string{PropLifecycle, "revoked", "x_mitre_deprecated"}

// Lifecycle returns LifecycleRevoked or LifecycleDeprecated when props mark
// the record withdrawn (PropLifecycle, STIX "revoked": true, ATT&CK
// "x_mitre_deprecated": true, the two given as JSON booleans or as the
// strings "true"/"false" in any case, see LifecycleFlag), else "". The SQL
// function node_withdrawn (migrations 00012, 00025) is the same rule.
func Lifecycle(props map[string]any) string {
	switch v, _ := props[PropLifecycle].(string); v {
	case LifecycleRevoked, LifecycleDeprecated:
		return v
	}
	if b, _ := LifecycleFlag(props["revoked"]); b {
		return LifecycleRevoked
	}
	if b, _ := LifecycleFlag(props["x_mitre_deprecated"]); b {
		return LifecycleDeprecated
	}
	return ""
}

// LifecycleFlag reads the value of a lifecycle property (STIX revoked,
// ATT&CK x_mitre_deprecated): a JSON boolean, or the string "true" or
// "false" in any case, as hand-made and converted feeds write them. ok is
// false for any other value (a number, "yes", " true"), which marks nothing.
func LifecycleFlag(v any) (set, ok bool) {
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch {
		case strings.EqualFold(x, "true"):
			return true, true
		case strings.EqualFold(x, "false"):
			return false, true
		}
	}
	return false, false
}

// SourcePropPrefix starts the props key under which a source's own
// property is kept when its name is reserved (see SourcePropKey).
const SourcePropPrefix = "x_source_"

// reservedProps are the props keys the graph sets itself, never a source:
// a source's own property of that name is kept under SourcePropKey.
var reservedProps = []string{PropLifecycle, PropAmbiguousATTACKIDs}

// IsReservedProp reports whether k is a props key the graph sets itself
// (PropLifecycle, PropAmbiguousATTACKIDs).
func IsReservedProp(k string) bool { return slices.Contains(reservedProps, k) }

// SourcePropKey returns the props key under which a source's own property
// named k is kept: SourcePropPrefix + k when k is reserved (IsReservedProp)
// or is a reserved key behind one or more SourcePropPrefix
// ("x_source_lifecycle": a source's own property of that name moves to
// "x_source_x_source_lifecycle", out of the way of its "lifecycle"), else
// k. No two source properties meet on one key.
func SourcePropKey(k string) string {
	for rest := k; ; {
		if IsReservedProp(rest) {
			return SourcePropPrefix + k
		}
		var ok bool
		if rest, ok = strings.CutPrefix(rest, SourcePropPrefix); !ok {
			return k
		}
	}
}

// MoveReservedProps applies SourcePropKey to the top-level keys of a
// source's own properties, in place, and returns the keys it moved (nil
// when none). Every mapper calls it on the properties it takes from its
// input before it adds its own, so that a feed can never set a mark.
func MoveReservedProps(props map[string]any) []string {
	var moved []string
	for k := range props {
		if SourcePropKey(k) != k {
			moved = append(moved, k)
		}
	}
	// Longest first: x_source_lifecycle moves on before lifecycle takes its
	// place.
	slices.SortFunc(moved, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
	for _, k := range moved {
		props[SourcePropKey(k)] = props[k]
		delete(props, k)
	}
	return moved
}

// RelRevokedBy links a revoked object to its replacement (STIX
// relationship_type revoked-by); a reference to the revoked object
// resolves to the replacement (store.Resolve).
const RelRevokedBy = "revoked-by"

package graph

// Lifecycle marks. A source may say that an object is withdrawn: STIX
// "revoked": true (its replacement is named by a revoked-by relationship),
// ATT&CK "x_mitre_deprecated": true. The mappers keep those properties and
// add PropLifecycle, one value the walk and the CLI filter on. A record so
// marked ranks below every live record of the same entity (RecordRank), so
// it never overwrites a live object's name or props, and it claims no name
// aliases (NameAlias), so a name lookup finds the live object.
const (
	// PropLifecycle is the props key holding LifecycleRevoked or
	// LifecycleDeprecated; absent on live objects.
	PropLifecycle       = "lifecycle"
	LifecycleRevoked    = "revoked"
	LifecycleDeprecated = "deprecated"
)

// Lifecycle returns LifecycleRevoked or LifecycleDeprecated when props mark
// the record withdrawn (PropLifecycle, STIX "revoked": true, ATT&CK
// "x_mitre_deprecated": true), else "".
func Lifecycle(props map[string]any) string {
	switch v, _ := props[PropLifecycle].(string); v {
	case LifecycleRevoked, LifecycleDeprecated:
		return v
	}
	if b, _ := props["revoked"].(bool); b {
		return LifecycleRevoked
	}
	if b, _ := props["x_mitre_deprecated"].(bool); b {
		return LifecycleDeprecated
	}
	return ""
}

// RelRevokedBy links a revoked object to its replacement (STIX
// relationship_type revoked-by); a reference to the revoked object
// resolves to the replacement (store.Resolve).
const RelRevokedBy = "revoked-by"

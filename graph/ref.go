package graph

import (
	"strings"

	"github.com/google/uuid"
)

// Ref names a relationship endpoint: a source identifier as a feed wrote it
// (a STIX id "malware--…", a MISP uuid with a prefix), resolved through the
// node aliases, or a node id written by NodeRef.
type Ref string

// nodeRefPrefix starts the Ref of a node named by id.
const nodeRefPrefix = "node--"

// NodeRef is the Ref of a node known by id rather than by a source
// identifier.
func NodeRef(id uuid.UUID) Ref { return Ref(nodeRefPrefix + id.String()) }

// ParseNodeRef returns the node id of a Ref made by NodeRef.
func ParseNodeRef(ref Ref) (uuid.UUID, bool) {
	rest, ok := strings.CutPrefix(string(ref), nodeRefPrefix)
	if !ok {
		return uuid.Nil, false
	}
	id, err := uuid.Parse(rest)
	return id, err == nil
}

// String returns the reference as written.
func (r Ref) String() string { return string(r) }

package graph

import "errors"

// Sentinel errors of the domain model: what Validate reports.
var (
	// ErrNoID means a node has no id.
	ErrNoID = errors.New("node has no id")
	// ErrInvalidNode means a node breaks a rule of the model.
	ErrInvalidNode = errors.New("invalid node")
	// ErrInvalidRelation means a relation breaks a rule of the model.
	ErrInvalidRelation = errors.New("invalid relation")
)

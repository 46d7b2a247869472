package graph

import "errors"

// Sentinel errors of the graph package.
var (
	// ErrNotFound means the node asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNoID means a node has no id.
	ErrNoID = errors.New("node has no id")
	// ErrInvalidNode means a node breaks a rule of the model.
	ErrInvalidNode = errors.New("invalid node")
	// ErrInvalidRelation means a relation breaks a rule of the model.
	ErrInvalidRelation = errors.New("invalid relation")
)

// Package stix loads STIX 2.0 and 2.1 feeds into the threat graph.
//
// Load streams a feed (a bundle, a bare array of objects, a single object or
// NDJSON) token by token, maps every object to graph records in parallel and
// writes them to a graph.Sink in batches, in feed order.
package stix

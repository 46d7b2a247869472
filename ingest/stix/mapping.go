package stix

// MappingVersion names the mapping of STIX objects to graph records this
// build makes. A load records it beside the feed's content hash, and an
// unchanged feed is skipped only when both match: a file loaded by an
// intel that mapped it otherwise is loaded again on its next run.
//
// Change it (to the day of the change) with every change that makes a
// file map to other nodes, relations, names, props or times than before:
// the mapping here, or what it takes from package graph or stixid. A
// change that only refuses less or reports better needs no new version.
const MappingVersion = "2026-12-13"

package misp

// MappingVersion names the mapping of MISP events, attributes, objects,
// galaxies and sightings to graph records this build makes. A load
// records it beside the feed's content hash (and beside each event of a
// MISP feed directory), and an unchanged feed or event is skipped only
// when both match: one loaded by an intel that mapped it otherwise is
// loaded again on its next run.
//
// Change it (to the day of the change; a later change on the same day
// adds ".2", ".3", …) with every change that makes an
// event map to other nodes, relations, names, props, TLPs or times than
// before: the mapping here, or what it takes from package graph or
// stixid. A change that only refuses less or reports better needs no new
// version.
const MappingVersion = "2026-12-13"

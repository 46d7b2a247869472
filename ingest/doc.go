// Package ingest is the feed manager: it takes a list of feeds (a YAML or
// JSON config file of name, path and format), loads them concurrently with
// a bound, sends both parsers' output to the graph store in tuned batches
// (up to the store's Writers batches of a feed written at once, a
// relationship naming a node of a batch that may still be being written
// held for a later batch, then the few relationships they still parked for each other
// released: see Options.Writers and engine.Options.Writers), shows progress
// on a terminal, and ends with a per-feed report.
//
// It records each feed's content hash in the feeds table, so an unchanged
// feed is skipped; for a MISP feed directory it also records each event
// file's hash, so a changed feed reloads only the events that changed.
// Beside each hash it records the mapping version of the format
// (MappingVersion: stix.MappingVersion, misp.MappingVersion), so a feed or
// event another mapping loaded is loaded again even when unchanged.
// Force reloads everything. A dry run parses, maps and validates without a
// database.
//
// The formats themselves live in ingest/stix, ingest/misp and
// ingest/telemetry; the engine they share (options, workers, ordering,
// batching or the telemetry writer, report, drop reasons) in
// ingest/engine.
package ingest

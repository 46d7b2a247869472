// Package workload generates a realistic, deterministic endpoint workload
// and runs the sustained-load benchmark on it.
//
// A Generator, given a Config (agents, days, rows per day, indicators and a
// seed), produces the telemetry of N endpoint agents over D simulated UTC
// days and the threat feeds that the telemetry meets:
//
//   - telemetry edges (graph.TelemetryEdge), in batches that are the same
//     for the same seed, day and batch number, with the shapes endpoints
//     produce: process → file (loaded, wrote; a file brings its SHA-256
//     hash node and its has-hash link), process → domain-name (resolved),
//     process → ipv4-addr (connected-to), process → process (spawned); a
//     process node per host and pid; a few hub nodes every agent meets
//     (system DLLs, common resolvers and update domains); and, at a small
//     rate, files, domains and addresses that the feeds know;
//   - the same edges as NDJSON lines in the format `intel ingest telemetry`
//     reads (WriteTelemetry), which ingest/telemetry turns back into the
//     same edges;
//   - a STIX 2.1 bundle (WriteSTIX) of intrusion sets, malware, indicators
//     whose patterns name those files' hashes, domains and addresses, and
//     the relationships between them, and MISP events (WriteMISP) holding
//     the same indicators as attributes: so a walk from a file an agent saw
//     reaches hash ← indicator → malware ← intrusion set.
//
// RunScale is the sustained-load benchmark (`make bench-scale`, `intel
// bench scale`): concurrent writers append the generated batches through an
// Appender while queriers run store.FindRelated, across simulated days with
// a simulated clock, partition upkeep (partman.Ensure) and retention
// (partman.Prune) at each simulated midnight, and it reports per day the
// sustained rows/s, append and query latencies, client peak RSS, the
// partitions and the table and index sizes, and day-last against day-1
// ratios.
package workload

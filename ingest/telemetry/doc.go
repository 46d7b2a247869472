// Package telemetry loads endpoint telemetry as NDJSON — one observation
// per line — so agents' data can be loaded without writing Go:
//
//	{"src": {"kind": "process", "key": "host-7:4242", "name": "powershell.exe"},
//	 "relation": "wrote",
//	 "dst": {"kind": "file", "name": "invoice.exe", "hashes": {"SHA-256": "9f86…"}},
//	 "agent_id": "host-7", "observed_at": "2026-11-27T10:15:00Z",
//	 "props": {"pid": 4242}}
//
// observed_at is RFC 3339 with a zone (also with "t" and "z" in lower
// case, or a space for the "T", as RFC 3339 allows), or a JSON number of Unix epoch
// seconds (integer or fractional) or milliseconds, told apart by size: see
// epochTime; a number that could be either, or neither, is dropped
// ReasonBadObservedAt. A string of digits alone ("1705904285259") is read
// as that number is.
//
// An endpoint is an object with a kind and the properties that identify it:
//   - value kinds (ipv4-addr, ipv6-addr, domain-name, url, email-addr,
//     mac-addr, mutex, directory): "value";
//   - hash: "value" as "SHA-256:<hex>", or "algorithm" and "value";
//   - file: "name" and/or "hashes" (the file gets its STIX id and is linked
//     to a hash node per hash, where it meets indicators and MISP attributes);
//   - other STIX observables (software, user-account, ...): their STIX
//     properties, from which the STIX deterministic id is computed;
//   - anything else (process, host, user, ...): "key", unique within kind.
//
// or the shorthand string "kind:value" ("ipv4-addr:198.51.100.7",
// "hash:SHA-256:<hex>", "process:host-7:4242").
//
// Values and hashes go through graph's normalisers (graph.NormalizeValue,
// graph.NormalizeHash), the ones the STIX and MISP loaders use, so an
// agent's "Evil.Example." is a feed's evil.example; a value that is no
// observable of its kind (an IPv6 address as ipv4-addr, a 31-digit MD5)
// makes the endpoint invalid (ReasonBadSrc or ReasonBadDst).
//
// Load runs on ingest/engine like the STIX and MISP loaders: a line source
// (records are lines, with their line number and byte offset; a line over
// Options.MaxRecordBytes is dropped as engine.ReasonTooLarge without being
// buffered whole, one nested deeper than Options.MaxDepth as
// engine.ReasonTooDeep, and a line of white space only, however long, is
// skipped), a mapper that parses one line into a
// graph.TelemetryEdge on the engine's workers, and, as output stage, the
// engine's ordered results feeding store.Store.AppendTelemetry
// (engine.RunTelemetry), so edges are written in input order whatever the
// worker count. The mapper gives each edge store.CheckEdge's answer on the
// worker that parsed it (Result.EdgesChecked), checking an endpoint and
// the records it implies once, when the memo first decodes it, and on
// every line only the edge's own fields (store.CheckEdgeOwn); the Store
// is given the edges through AppendCheckedTelemetry and does not check
// them again. intel ingest telemetry parses on tuning.Plan.ParserWorkers
// workers, as feeds do. It fills the
// engine's Report: RecordsRead counts the
// lines, Telemetry holds what AppendTelemetry did.
//
// A line is decoded once, its endpoints kept as their JSON text. Lines of
// the shape above (the six names in lower case, each once; plain strings;
// flat props) are read by a hand-written scanner that allocates little
// (scanLine); every other line by go-json-experiment/json with
// encoding/json's leniency (names in any case, duplicate names, invalid
// UTF-8 replaced). Both give the same edge, drop reason and error for any
// line (FuzzScanLineAgreesWithJSON). An endpoint is decoded,
// normalised and given its id only the first time its text is seen: a
// bounded memo shared by the workers (endpointMemo) answers the hosts,
// processes and files that a stream names line after line. Each endpoint
// node (and implied hash node) of a line is seen at the line's
// observed_at. The Store's endpoint cache then writes an endpoint node
// once, not once per chunk (store.Store's AppendTelemetry), so a stream's
// cost is mostly its edges; yet the node's first/last seen span every line
// that names it: the lines' times outside those written for a node are
// written for all such nodes at once at the end of the load (and every
// 30 s of a long one). A completed load leaves the same nodes however the
// input was cut into loads or chunks; a load cut short may leave the
// times its last 30 s of work extended unwritten (the edges are exact).
//
// A file's hash nodes and file → hash has-hash relations travel with the
// edge that names the file (graph.TelemetryEdge.Implied): AppendTelemetry
// writes them with the chunk's endpoint nodes before the chunk's edges, a
// link with its file and hash or after them, so no link waits in
// pending_relations.
//
// A line that cannot be used is logged at WARN with its line number, byte
// offset, reason and details, counted under its reason, and skipped; the
// rest of the stream loads. A line whose edge, endpoint or implied records
// PostgreSQL would refuse (a NUL in a key or agent id, \u0000 in props) is
// dropped the same way, edge and endpoints together. Reasons are the fixed
// constants of Reasons, so Report.Dropped stays small however malformed
// the input.
//
// A file loads exactly once: PlanFile compares it, line by line (a
// FNV-64a per line, kept with the checkpoint), with what its input's last
// checkpoint stored and says which bytes to read (FilePlan.Open) and with
// which checkpoint (store.Store.Checkpointed(plan.Input)); intel ingest
// telemetry FILE and feed lists do. A load cut short (SIGKILL, a server
// restart beyond the retries) and run again skips the edges already
// stored; a file appended to loads only its new lines; one truncated to a
// prefix of what was loaded loads nothing (PlanShrunk, with a warning);
// one rewritten loads from its first changed line (PlanChanged). A load
// reads only the bytes PlanFile hashed, so lines appended meanwhile are
// the next load's. FileInput is the identity of the whole file alone.
// Standard input has no identity, so it has no checkpoint.
package telemetry

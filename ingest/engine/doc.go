// Package engine is the loading pipeline the feed formats share:
//
//	source → mapper on N workers → in feed order → batcher → graph.Sink
//
// A format supplies a Source, which reads the feed token by token and emits
// raw records (their bytes, index, byte offset, line, and a per-record
// context such as the MISP event they belong to), and a Mapper, which turns
// one record into graph records and drops. Run maps records on
// Options.Workers goroutines and hands the results, in the order the source
// emitted them, to one batcher (the goroutine that called Run), which logs
// and counts drops, runs each result's Ordered hook and cuts batches of
// Options.BatchSize graph records for the sink. With Options.Writers above
// one, up to that many batches are written at once, each on a goroutine of
// its own, while the batcher collects the next (package ingest then sweeps
// the pending relations up: store.Store.ReleasePending). The batches
// written do not depend on the number of workers or writers, and all the
// graph records one record maps to go to the sink in the same batch, but
// for relations that wait for their endpoints: with
// Options.RelationsWaitAhead (STIX), a relation naming a node no record
// has given yet waits until a record gives it (relationsAhead: a store
// would otherwise park it and release it later), and with several
// writers one naming a node of a batch still being written waits for a
// later batch.
//
// Before a result is counted, its graph records and telemetry edges are
// checked with the store's validation (store.CheckBatch, store.CheckEdge;
// telemetry edges a mapper has already checked, Result.EdgesChecked, are
// not checked again):
// a record PostgreSQL would refuse (a NUL in a text, props jsonb refuses,
// a broken check constraint) drops its result alone, logged at WARN and
// counted under the store's reason, so neither its batch nor its COPY
// chunk fails, and a dry run (DrySink) reports the same drops as a load.
// Records the store refuses while writing (its validation, or the
// database: WriteStats.NodesRefused, RelationsRefused, by reason in
// WriteStats.Dropped) are counted in Report.Written, apart from the
// records dropped and from repeated ones. A relation naming a node whose
// record was dropped is still sent: another record (of this load or an
// earlier one) may give that node; until one does it waits in
// pending_relations, counted pending.
//
// Telemetry (ingest/telemetry) has the same source, workers and ordering
// but another output stage: RunTelemetry hands the edges of the results
// (Result.Edges), in feed order, to a TelemetryWriter
// (store.Store.AppendTelemetry) as the sequence it reads, and puts what
// the writer did in Report.Telemetry.
//
// Memory is bounded: records travel in chunks (up to 256 records or 1 MiB)
// through bounded channels, so what is in flight is a few chunks per
// worker, each at most 1 MiB plus one record of at most
// Options.MaxRecordBytes, at most Writers batches being written, and with
// Options.RelationsWaitAhead at most 8 batches of relations waiting for
// their endpoints and the references of up to 65,536 nodes collected
// lately, to tell which have come.
//
// The package also holds what every format shares: the Options, the
// Report, the drop Reason type (graph.DropReason, which the store's reasons
// for invalid telemetry edges have too) with the reasons common to
// formats, and the OffsetError that stops a feed at a byte offset.
package engine

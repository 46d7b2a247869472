// Package store keeps the threat graph in PostgreSQL: it is the one package
// that imports the sqlc-generated queries (db/gen) and turns their rows into
// the domain types of package graph.
//
// A Store writes batches of nodes and relations as merging multi-row
// upserts (the SQL side of graph.Merge), parks relationships whose
// endpoints have not arrived in pending_relations and releases them when
// they do, streams telemetry with COPY, walks the graph (FindRelated, which
// follows the relation classes of graph.ClassOf: intelligence and
// containment by default; ExplainEdges then names, on request, the
// relationship records, ids, feeds and TLP behind each edge of the answer), finds nodes (ResolveNode, the one resolver of
// every reference a person types, and Resolve, which also says which
// revoked objects it followed to their replacement; Search over names,
// aliases and external ids; NodeDetails), records which name aliases
// several entities claim (alias_claims, ambiguous_aliases: ambiguous, never
// merged), which entity a revoked or name-keyed node stands for
// (node_entities, recomputed from sets that are only added to, so in any
// load order: by keys in every write, identity_refresh_keys, and whole in
// ReleasePending, identity_refresh; the walks read relations as entities through
// entity_relations) and the relationship ids feeds gave (relation_ids,
// RelationByID; a record naming one links to its endpoints), and keeps the
// feeds' load bookkeeping. It does not size itself or make
// partitions: callers pass the batch size and writer count (package tuning
// computes them) and a DayEnsurer (package partman has one).
//
// A record PostgreSQL would reject (NUL or invalid UTF-8 in text, \u0000 in
// props, a check constraint) never fails its batch: CheckNode,
// CheckRelation and CheckEdge are the one validation (the loaders apply it
// too, so a dry run counts the same drops), and a record that fails it is
// dropped alone, logged at WARN and counted by reason (WriteStats.Dropped,
// TelemetryStats.Dropped). As a safety net, a batch or COPY chunk the
// server still refuses with a data error is split in halves until the
// refused rows are alone (ReasonRejected). Every write transaction is
// retried after a transient failure (Transient: conflicts, a server
// shutting down or restarting, a lost connection) with capped exponential
// backoff and jitter (RetryPolicy), a log line per retry. A telemetry
// input with an identity (AppendTelemetryInput, Checkpointed) is written
// exactly once: its checkpoint moves in the transaction that COPYs each
// chunk, and a rerun skips what is durable. A checkpoint also records
// where its edges start in the content (TelemetryInput.BaseOffset: the
// lines before are stored from an earlier content of the input) and a hash
// per line, so a later content can be compared with it
// (TelemetryCheckpointLatest; telemetry.PlanFile). Many callers with small
// batches share a TelemetryWriter, which groups their batches into long
// COPYs (group commit) with bounded memory and tells each caller when its
// own edges are durable: nil means stored, an error not stored, and
// ErrOutcomeUnknown that a COMMIT's answer was lost while the server could
// not be asked whether it landed (AppendTelemetry says the same).
//
// Errors come out translated once (Interpret): ErrNotFound, ErrConflict,
// ErrRetryable (and ErrAmbiguous from ResolveNode, ErrOutcomeUnknown from the telemetry writes), with the database error still in the chain. WithTx is the
// one transaction helper; its rollback runs even after the caller's context
// is cancelled.
//
// Where things are: store.go (the Store and its options), write.go (node and
// relation batches: check, merge, upsert, park and release), versions.go
// (source versions and superseded links), params.go (the batches as query
// parameters), identity.go and lookup.go (entities, aliases, resolving and
// searching), related.go and walk_levels.go (the walks), explain.go
// (ExplainEdges), feeds.go (load bookkeeping), partitions.go (the catalog
// queries partman runs), validate.go (CheckNode, CheckRelation, CheckEdge),
// propsjson.go (props encoded as json.Marshal would), errors.go, retry.go and
// tx.go (errors, retries, WithTx). Telemetry: telemetry.go (AppendTelemetry
// and its checkpoints), telemetry_pipeline.go (the chunk preparer and the
// copier), telemetry_commit.go (a COPY transaction of chunks and its
// checkpoint), telemetry_copy.go (the binary COPY encoding),
// telemetry_records.go (each chunk's endpoint nodes and implied records),
// endpoint_cache.go (what a Store has written, and the exact first/last seen
// flush), telemetry_days.go (day partitions ahead of the COPY) and
// telemetry_writer.go (the shared writer of many small callers).
package store

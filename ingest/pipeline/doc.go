// Package pipeline is what the STIX and MISP loaders share: the load Report
// (records read, written, merged, dropped by reason, bytes, rate), the
// Batcher that groups mapped records into batches of the tuned size for a
// graph.Sink, and a DrySink that counts what would be written.
package pipeline

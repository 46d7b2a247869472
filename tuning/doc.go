// Package tuning sizes the database pool, the insert batch size and the number of
// feed-parser workers from the machine the code runs on, so none of them is
// hard-coded.
//
// It has three parts that can be used separately:
//
//   - [PlanFor] is a pure function from a [Resources] description (cores, total
//     memory, spindle factor) to a [Plan]. It decides the machine's [Class] in one
//     place and derives every knob from it, so tests and the CLI can simulate any
//     machine.
//   - [Detect] finds the Resources of the running process: memory from the host
//     (github.com/elastic/go-sysinfo), CPUs from the container-aware Go runtime
//     (runtime.GOMAXPROCS), and the cgroup v2 memory.max and cpu.max limits when
//     they are lower than the host's, so a service in a 2-CPU / 4 GiB container
//     does not size itself for the 64-core host it shares.
//   - [ConfigurePool] turns a DSN into a *pgxpool.Config sized by the plan. A
//     pool_max_conns given in the DSN by the operator wins over the plan, and,
//     after one short connection to the server, the pool is clamped so it never
//     exceeds what max_connections leaves free.
//
// [NewReport] and [ParseBytes] are the pieces a command-line tool needs to show
// the detected resources and the plan (Report marshals to JSON) and to simulate
// a machine from flags such as --cores 48 --memory 196GiB.
//
// # Classes
//
// The class is the lesser of a CPU band and a memory band, so no knob runs ahead
// of the scarcer resource:
//
//	Small   memory < 16 GiB, or cores <= 4
//	Large   memory > 100 GiB and cores > 16
//	Medium  everything else: at least 16 GiB and 5 cores, but not both
//	        more than 100 GiB and more than 16 cores
//
// Each class fixes the other knobs:
//
//	class    pool cap  batch  parser workers (by cores alone)
//	Small          50    500               1
//	Medium        200   2000               2
//	Large         400   5000               4
//
// MaxConns is cores × 2 + spindle factor (the PostgreSQL wiki formula, with
// DefaultSpindleFactor 4), capped by the class. Because every machine with less
// than 16 GiB is Small, less than 16 GiB always caps the pool at 50; because
// every Large machine has more than 100 GiB, only more than 100 GiB allows up to
// 400; the medium band (16 GiB to 100 GiB inclusive) caps at 200. (A machine
// with more than 100 GiB but at most 16 cores is Medium, but its formula gives
// at most 36, so the cap never binds.) MinConns is a quarter of MaxConns, at
// least 1.
//
// Parser workers follow the CPU band of the same rules (cores <= 4: 1; 5 to 16
// cores: 2; more than 16 cores: 4), whatever the memory: parsing is CPU work,
// so a 64-core machine with 8 GiB still parses with 4 workers while its small
// memory keeps the pool at 50 and batches at 500.
//
// EndpointCacheKeys sizes a store's telemetry endpoint cache (the endpoint
// nodes and implied records it has written, so a stream that names the
// same hosts, files and addresses again writes them once): one key per
// 64 KiB of memory, between 32,768 and 524,288 keys per generation. With
// fewer keys than a stream's working set of endpoints, the cache forgets
// endpoints it meets again and they are written again (BenchmarkTelemetryCopy,
// 500k edges over 50,000 endpoint nodes: 158k endpoint rows upserted with
// 32,768 keys for node ids, which is why the store keeps at least 65,536
// of those).
//
// Writers, the write transactions one store runs at once, are the cores, at
// most half of MaxConns. TelemetryStreams, the COPY streams of the shared
// telemetry writer (store.TelemetryWriter, which groups many callers'
// small batches into few long COPYs), are the cores, at most half of
// MaxConns, at least 1. Each stream's appends write their chunks' records
// on up to Writers connections beside its COPY (store.AppendTelemetry), so
// a stream keeps more than one backend busy. BenchmarkTelemetryConcurrent,
// 128 callers on this 2-core machine at load 2-4, four runs of two builds
// (2026-12-05): 2 streams gave 1.00-1.09x the stream's rows/s with p99 call
// latency 948-966 ms closed loop and 539-721 ms in the open loop at 0.8x
// the stream, where 4 streams gave 0.94-1.07x, 997-1,247 ms and 693-882 ms
// (an earlier lean for twice the cores was measured at load 20-30, before
// records were written beside each other). More connections than that make
// the writer no faster, only its callers wait longer. The pool formula
// needs no term of its own: cores × 2 + spindle factor holds the streams and the
// writers together (each at most half the pool), and spindle factor
// connections are left for queries when not capped. Behind PgBouncer in
// transaction mode the same numbers apply to the pooler's server
// connections.
//
// Examples: 2 cores / 4 GiB is Small (8 connections, batch 500, 1 worker,
// 2 writers, 2 telemetry streams);
// 16 cores / 64 GiB is Medium (36, 2000, 2); 48 cores / 196 GiB is Large (100,
// 5000, 4); 128 cores / 1 TiB is Large (260); 1024 cores / 4 TiB stops at 400.
package tuning

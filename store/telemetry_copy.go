package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/ransomeye/intel/graph"
)

// telemetryCopySQL is the COPY that copyChunkEdges streams rows into, in
// PostgreSQL's binary COPY format.
const telemetryCopySQL = `COPY telemetry_edges (src_id, dst_id, relation, agent_id, observed_at, props) FROM STDIN (FORMAT binary)`

// copyIsolatingAt COPYs edges, which start at index base of the whole
// (a COPY transaction's chunks), into telemetry_edges inside tx and returns
// how many rows the server stored. It encodes the rows itself (edgeReader)
// rather than through pgx.CopyFrom: the columns' types are fixed, so it
// needs neither pgx's table description round trip nor its per-value
// encode plans, and a row costs a few appends.
//
// The COPY runs under a savepoint. When the server refuses it with a data
// error (DataError: a row CheckEdge did not foresee), the savepoint is
// rolled back and the edges are COPYed again in two halves, each the same
// way, so the rows refused are found and dropped alone — each logged at
// WARN and counted in dropped under ReasonRejected — and the rest is
// stored. When rejected is not nil, the index of each refused row in the
// whole (base + its index in edges) and its reason are appended to it (the
// TelemetryWriter tells each caller its own).
func (s *Store) copyIsolatingAt(ctx context.Context, tx pgx.Tx, edges []graph.TelemetryEdge, base int, dropped map[graph.DropReason]int64, rejected *[]refusedRow) (int64, error) {
	if len(edges) == 0 {
		return 0, nil
	}
	sp, err := tx.Begin(ctx)
	if err != nil {
		return 0, err
	}
	rows := &edgeReader{edges: edges}
	tag, err := sp.Conn().PgConn().CopyFrom(ctx, rows, telemetryCopySQL)
	rows.stop()
	if err == nil {
		return tag.RowsAffected(), sp.Commit(ctx)
	}
	if rerr := sp.Rollback(ctx); rerr != nil || !DataError(err) {
		return 0, errors.Join(err, rerr)
	}
	if len(edges) == 1 {
		e := &edges[0]
		dropped[ReasonRejected]++
		if rejected != nil {
			*rejected = append(*rejected, refusedRow{at: base, reason: ReasonRejected})
		}
		s.log.WarnContext(ctx, "dropping telemetry edge: the database refused it", "reason", string(ReasonRejected),
			"agent_id", clip(e.AgentID), "relation", clip(e.Relation), "sqlstate", Code(err), "err", err)
		return 0, nil
	}
	half := len(edges) / 2
	n1, err := s.copyIsolatingAt(ctx, tx, edges[:half], base, dropped, rejected)
	if err != nil {
		return n1, err
	}
	n2, err := s.copyIsolatingAt(ctx, tx, edges[half:], base+half, dropped, rejected)
	return n1 + n2, err
}

// refusedRow is a row of a COPY transaction's chunks that was not stored:
// its index in the whole and why.
type refusedRow struct {
	at     int
	reason graph.DropReason
}

// copyRetainedAt is copyIsolatingAt for the edges of days from horizon on
// (the zero time: all of them). The rows of earlier days are dropped,
// counted as graph.ReasonBeforeRetention and appended to rejected: a prune
// removed their day's partition after this Store had made it (at midnight,
// or a prune run beside the load), and COPYing them would put them in the
// default partition unseen. Their days are forgotten, so the next chunk
// asks the DayEnsurer about them again.
func (s *Store) copyRetainedAt(ctx context.Context, tx pgx.Tx, edges []graph.TelemetryEdge, base int, horizon time.Time, dropped map[graph.DropReason]int64, rejected *[]refusedRow) (int64, error) {
	if horizon.IsZero() {
		return s.copyIsolatingAt(ctx, tx, edges, base, dropped, rejected)
	}
	var (
		n     int64
		start int
		past  map[time.Time]int64
	)
	for i := 0; i <= len(edges); i++ {
		if i < len(edges) && !edges[i].ObservedAt.Before(horizon) {
			continue
		}
		k, err := s.copyIsolatingAt(ctx, tx, edges[start:i], base+start, dropped, rejected)
		n += k
		if err != nil {
			return n, err
		}
		start = i + 1
		if i == len(edges) {
			break
		}
		if past == nil {
			past = map[time.Time]int64{}
		}
		past[graph.UTCDay(edges[i].ObservedAt)]++
		dropped[graph.ReasonBeforeRetention]++
		if rejected != nil {
			*rejected = append(*rejected, refusedRow{at: base + i, reason: graph.ReasonBeforeRetention})
		}
	}
	for day, k := range past {
		s.days.remove(day)
		s.log.WarnContext(ctx, "dropping telemetry edges of a day pruned during the load", "day", day.Format(time.DateOnly),
			"edges", k, "reason", string(graph.ReasonBeforeRetention))
	}
	return n, nil
}

// retentionFence holds telemetry_edges against prunes until tx ends (ROW
// EXCLUSIVE, the lock its COPY takes anyway: a prune detaches a partition
// under ACCESS EXCLUSIVE, after recording the retention) and returns the
// DayEnsurer's horizon read in tx, or the zero time without a DayEnsurer.
// So no row of the transaction lands in the default partition because a
// prune removed its day after ensureChunkDays: copyRetainedAt drops it.
// The horizon is read under a savepoint: a role that may not read the
// retention gets no horizon from the DayEnsurer, and its failed statement
// must not abort the COPY's transaction.
func (s *Store) retentionFence(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	if s.ensurer == nil {
		return time.Time{}, nil
	}
	// One round trip: without arguments pgx sends both in one simple query.
	if _, err := tx.Exec(ctx, "LOCK TABLE telemetry_edges IN ROW EXCLUSIVE MODE; SAVEPOINT retention_fence"); err != nil {
		return time.Time{}, err
	}
	h, err := s.ensurer.Horizon(ctx, tx)
	var released error
	if err == nil {
		if _, released = tx.Exec(ctx, "RELEASE SAVEPOINT retention_fence"); released == nil {
			return h, nil
		}
		h = time.Time{} // a statement failed that the DayEnsurer forgave
	}
	if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT retention_fence"); rerr != nil {
		// Why the release failed comes first: on Citus, a worker lost
		// under it, after which the savepoint is gone and the rollback
		// to it can only say so (3B001); a retry cures the first.
		return time.Time{}, errors.Join(err, released, rerr)
	}
	if _, rerr := tx.Exec(ctx, "RELEASE SAVEPOINT retention_fence"); rerr != nil {
		return time.Time{}, errors.Join(err, rerr)
	}
	return h, err
}

// edgeReader is an io.Reader of telemetry edges in PostgreSQL's binary COPY
// format: a header, per row the field count and each field as its length
// and its binary value (uuid: 16 bytes; text: UTF-8 bytes; timestamptz:
// microseconds since 2000-01-01 UTC; jsonb: version 1 and the JSON text),
// and a trailer.
//
// pgconn's CopyFrom reads it on a goroutine of its own, which it does not
// always wait for: when the connection breaks mid-COPY (a backend killed,
// a server restarted) CopyFrom returns while that goroutine may still be
// in Read or about to call it again. The edges belong to the caller (the
// TelemetryWriter reuses their memory for its next group), so
// copyIsolatingAt calls stop as soon as CopyFrom returns: a Read in
// progress finishes first (they share mu), and later Reads fail without
// touching the edges. Without it the race detector saw the writer's next
// group written into the slice that Read was encoding (a string or map
// read while it is written can crash the process).
type edgeReader struct {
	mu      sync.Mutex
	stopped bool
	edges   []graph.TelemetryEdge
	next    int    // index of the next edge to encode
	buf     []byte // encoded, not yet read
	off     int    // read offset in buf
	header  bool
	done    bool
}

var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// y2kMicros is 2000-01-01 00:00 UTC in microseconds since the Unix epoch.
const y2kMicros = 946_684_800 * 1_000_000

// errCopyEnded is what edgeReader.Read returns after stop: the COPY it fed
// has ended.
var errCopyEnded = errors.New("telemetry COPY already ended")

// stop ends the reader's use of its edges: it returns once no Read is in
// progress, and every later Read fails with errCopyEnded.
func (r *edgeReader) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}

func (r *edgeReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return 0, errCopyEnded
	}
	if r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.fill(len(p))
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// fill encodes rows until the buffer holds at least want bytes or the
// trailer is written.
func (r *edgeReader) fill(want int) {
	b := r.buf[:0]
	r.off = 0
	if !r.header {
		b = append(b, copyHeader...)
		r.header = true
	}
	for len(b) < want && r.next < len(r.edges) {
		b = appendEdgeRow(b, &r.edges[r.next])
		r.next++
	}
	if r.next == len(r.edges) && len(b) < want {
		b = binary.BigEndian.AppendUint16(b, 0xffff) // trailer: field count -1
		r.done = true
	}
	r.buf = b
}

// appendEdgeRow appends one row of telemetry_edges in binary COPY format.
func appendEdgeRow(b []byte, e *graph.TelemetryEdge) []byte {
	b = binary.BigEndian.AppendUint16(b, 6)
	b = binary.BigEndian.AppendUint32(b, 16)
	b = append(b, e.Src.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, 16)
	b = append(b, e.Dst.ID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.Relation)))
	b = append(b, e.Relation...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(e.AgentID)))
	b = append(b, e.AgentID...)
	b = binary.BigEndian.AppendUint32(b, 8)
	b = binary.BigEndian.AppendUint64(b, uint64(timestamptzMicros(e.ObservedAt)))
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0, 1) // length, then jsonb version 1
	b = appendJSONObject(b, e.Props)
	binary.BigEndian.PutUint32(b[lenAt:], uint32(len(b)-lenAt-4))
	return b
}

// timestamptzMicros is t as timestamptz stores it: microseconds since
// 2000-01-01 UTC, sub-microseconds truncated (as pgx encodes it).
func timestamptzMicros(t time.Time) int64 {
	return t.Unix()*1_000_000 + int64(t.Nanosecond())/1000 - y2kMicros
}

// appendJSONObject appends props as a JSON object: what jsonObject gives,
// without encoding/json's reflection for the values telemetry carries
// (strings, numbers, booleans, null); other values go through jsonObject's
// encoding. Key order does not matter to jsonb.
func appendJSONObject(b []byte, props map[string]any) []byte {
	if len(props) == 0 {
		return append(b, '{', '}')
	}
	start := len(b)
	b = append(b, '{')
	for k, v := range props {
		if len(b) > start+1 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var ok bool
		if b, ok = appendJSONScalar(b, v); !ok {
			return append(b[:start], jsonObject(props)...)
		}
	}
	return append(b, '}')
}

// appendJSONScalar appends v as JSON if it is a scalar it knows, and
// reports whether it did.
func appendJSONScalar(b []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case string:
		return appendJSONString(b, v), true
	case bool:
		return strconv.AppendBool(b, v), true
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return b, false
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64), true
	case int:
		return strconv.AppendInt(b, int64(v), 10), true
	case int64:
		return strconv.AppendInt(b, v, 10), true
	case int32:
		return strconv.AppendInt(b, int64(v), 10), true
	case uint32:
		return strconv.AppendUint(b, uint64(v), 10), true
	case uint64:
		return strconv.AppendUint(b, v, 10), true
	case json.Number:
		if !json.Valid([]byte(v)) {
			return b, false
		}
		return append(b, v...), true
	}
	return b, false
}

// appendJSONString appends s as a JSON string. Invalid UTF-8, which jsonb
// would refuse, is replaced by U+FFFD as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

package pguuid_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ransomeye/intel/db/pguuid"
	"github.com/ransomeye/intel/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestRoundTrip sends uuid values and arrays to PostgreSQL and reads them
// back through pools with and without the codec, over the extended protocol
// (binary) and the simple protocol (text): every path must agree with the
// server's own text form.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	ids := []uuid.UUID{uuid.MustParse("00000000-0000-0000-0000-000000000000"),
		uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"), uuid.MustParse("ffffffff-ffff-4fff-bfff-ffffffffffff")}
	for _, registered := range []bool{true, false} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
			cfg, err := pgxpool.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			cfg.ConnConfig.DefaultQueryExecMode = mode
			if registered {
				cfg.AfterConnect = pguuid.AfterConnect(nil)
			}
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()

			var one uuid.UUID
			var text string
			if err := pool.QueryRow(ctx, "SELECT $1::uuid, $1::uuid::text", ids[1]).Scan(&one, &text); err != nil {
				t.Fatalf("registered=%v mode=%v: one uuid: %v", registered, mode, err)
			}
			if one != ids[1] || text != ids[1].String() {
				t.Errorf("registered=%v mode=%v: got %s (%s), want %s", registered, mode, one, text, ids[1])
			}

			var back []uuid.UUID
			var texts []string
			err = pool.QueryRow(ctx, "SELECT $1::uuid[], $1::uuid[]::text[]", ids).Scan(&back, &texts)
			if !registered && mode == pgx.QueryExecModeSimpleProtocol {
				// Plain pgx cannot send a []uuid.UUID when the server does
				// not name the type; the codec's default types can.
				if err == nil {
					t.Errorf("plain pgx sent []uuid.UUID over the simple protocol; drop this special case")
				}
				continue
			}
			if err != nil {
				t.Fatalf("registered=%v mode=%v: uuid array: %v", registered, mode, err)
			}
			for i := range ids {
				if back[i] != ids[i] || texts[i] != ids[i].String() {
					t.Errorf("registered=%v mode=%v: element %d: got %s (%s), want %s", registered, mode, i, back[i], texts[i], ids[i])
				}
			}

			var null *uuid.UUID
			if err := pool.QueryRow(ctx, "SELECT NULL::uuid").Scan(&null); err != nil || null != nil {
				t.Errorf("registered=%v mode=%v: NULL into *uuid.UUID: %v, %v", registered, mode, null, err)
			}
			var notNull *uuid.UUID
			if err := pool.QueryRow(ctx, "SELECT $1::uuid", ids[2]).Scan(&notNull); err != nil || notNull == nil || *notNull != ids[2] {
				t.Errorf("registered=%v mode=%v: uuid into *uuid.UUID: %v, %v", registered, mode, notNull, err)
			}
			if registered {
				var bad uuid.UUID
				if err := pool.QueryRow(ctx, "SELECT NULL::uuid").Scan(&bad); err == nil {
					t.Errorf("mode=%v: NULL into uuid.UUID: no error", mode)
				}
			}
		}
	}
}

// TestPlansAreDirect checks that a registered map encodes uuid.UUID with
// the codec's own plan, not through database/sql's Valuer.
func TestPlansAreDirect(t *testing.T) {
	m := pgtype.NewMap()
	pguuid.Register(m)
	id := uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	buf, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(buf) != string(id[:]) {
		t.Fatalf("binary encoding %x, want %x", buf, id[:])
	}
	if _, ok := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id).(interface{ SetNext(pgtype.EncodePlan) }); ok {
		t.Fatal("uuid.UUID is encoded through a wrapper plan, not the codec's")
	}
	if got := pgtype.NewMap().PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id); got == nil {
		t.Fatal("pgx cannot encode uuid.UUID at all without the codec")
	}
	// Other Go types still use pgx's UUIDCodec.
	var out pgtype.UUID
	if err := m.Scan(pgtype.UUIDOID, pgtype.BinaryFormatCode, id[:], &out); err != nil || out.Bytes != id {
		t.Fatalf("scan into pgtype.UUID: %v %v", out, err)
	}
}

// BenchmarkEncodeIDArray encodes the id array of one 500-node upsert with
// and without the codec.
func BenchmarkEncodeIDArray(b *testing.B) {
	ids := make([]uuid.UUID, 500)
	for i := range ids {
		ids[i] = uuid.New()
	}
	for _, registered := range []bool{false, true} {
		name := "valuer"
		m := pgtype.NewMap()
		if registered {
			name = "codec"
			pguuid.Register(m)
		}
		b.Run(name, func(b *testing.B) {
			var buf []byte
			for b.Loop() {
				var err error
				buf, err = m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, ids, buf[:0])
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package pgjson_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ransomeye/intel/db/pgjson"
	"github.com/ransomeye/intel/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestScanRawMessage reads jsonb documents, a JSON null and an SQL NULL into
// json.RawMessage over the extended protocol (binary) and the simple
// protocol (text), with and without the codec: every path gives the
// server's own text form, and with the codec the plan is the copying one.
func TestScanRawMessage(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.EmptyDSN(t)
	docs := []string{`{"b": [1, 2.5, "x"], "a": {"é": null}}`, `"plain"`, `[]`, `null`}
	for _, registered := range []bool{true, false} {
		for _, mode := range []pgx.QueryExecMode{pgx.QueryExecModeCacheStatement, pgx.QueryExecModeSimpleProtocol} {
			cfg, err := pgx.ParseConfig(dsn)
			if err != nil {
				t.Fatal(err)
			}
			cfg.DefaultQueryExecMode = mode
			conn, err := pgx.ConnectConfig(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if registered {
				pgjson.Register(conn.TypeMap())
				var raw json.RawMessage
				if _, ok := conn.TypeMap().PlanScan(pgtype.JSONBOID, pgtype.BinaryFormatCode, &raw).(pgjson.RawPlan); !ok {
					t.Fatalf("registered map: jsonb into *json.RawMessage is not scanned by RawPlan")
				}
			}
			for _, doc := range docs {
				var want string
				var got json.RawMessage
				if err := conn.QueryRow(ctx, `SELECT $1::jsonb::text, $1::jsonb`, doc).Scan(&want, &got); err != nil {
					t.Fatalf("registered %v, mode %v, %s: %v", registered, mode, doc, err)
				}
				if string(got) != want {
					t.Errorf("registered %v, mode %v: got %s, want %s", registered, mode, got, want)
				}
			}
			null := json.RawMessage("x")
			if err := conn.QueryRow(ctx, `SELECT NULL::jsonb`).Scan(&null); err != nil {
				t.Fatal(err)
			}
			if null != nil {
				t.Errorf("registered %v, mode %v: SQL NULL gave %q, want nil", registered, mode, null)
			}
			if err := conn.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
}

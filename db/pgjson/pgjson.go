// Package pgjson teaches a pgx type map to scan jsonb into json.RawMessage
// by copying the bytes, as it scans into []byte.
//
// db/gen returns jsonb columns (node props) as json.RawMessage (see
// sqlc.yaml). pgx scans json.RawMessage through json.Unmarshal, which
// validates every byte of a document the server has already validated; a
// walk returning 3,844 corpus nodes spent a fifth of its client CPU there.
//
// Register it on every connection: tuning.AfterConnect does, for the pools
// tuning.ConfigurePool makes. A map without it still works, only slower.
package pgjson

import (
	"encoding/json"

	"github.com/jackc/pgx/v5/pgtype"
)

// Register replaces the jsonb type of m with one whose codec scans into
// *json.RawMessage as into *[]byte and leaves every other Go type to pgx's
// own JSONBCodec.
func Register(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{Name: "jsonb", OID: pgtype.JSONBOID, Codec: Codec{&pgtype.JSONBCodec{Marshal: json.Marshal, Unmarshal: json.Unmarshal}}})
}

// Codec is pgtype.JSONBCodec with a copying plan for *json.RawMessage.
type Codec struct{ *pgtype.JSONBCodec }

// PlanScan returns, for a *json.RawMessage target, the plan pgx uses for
// *[]byte; any other target gets JSONBCodec's plan.
func (c Codec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*json.RawMessage); ok {
		var b []byte
		return RawPlan{Next: c.JSONBCodec.PlanScan(m, oid, format, &b)}
	}
	return c.JSONBCodec.PlanScan(m, oid, format, target)
}

// RawPlan scans into a *json.RawMessage through a plan for *[]byte.
type RawPlan struct{ Next pgtype.ScanPlan }

// Scan copies src into dst, a *json.RawMessage (NULL gives nil).
func (p RawPlan) Scan(src []byte, dst any) error {
	raw := dst.(*json.RawMessage)
	return p.Next.Scan(src, (*[]byte)(raw))
}

// Package pguuid teaches a pgx type map to encode and scan github.com/google/uuid
// values directly, as 16 binary bytes.
//
// db/gen passes and returns uuid.UUID (see sqlc.yaml). Without this package
// pgx handles uuid.UUID as a database/sql Valuer and Scanner: each value is
// formatted as a 36-character string, pgx fails to encode that string in
// binary (building an error with fmt.Errorf), scans the string back and
// encodes the result, and every scanned value goes through text. For a
// 500-node upsert that is 500 such round trips per id array; profiles of
// AppendTelemetry's endpoint upserts spent more CPU there than in the COPY.
//
// Register it on every connection, in pgxpool.Config.AfterConnect; tuning's
// ConfigurePool does. A map without it still works, only slower.
package pguuid

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Register replaces the uuid and uuid[] types of m with ones whose codec
// handles uuid.UUID and *uuid.UUID itself and leaves every other Go type to
// pgx's own UUIDCodec, and makes uuid and uuid[] the default types of
// uuid.UUID and []uuid.UUID.
func Register(m *pgtype.Map) {
	t := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: Codec{}}
	m.RegisterType(t)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: t}})
	// Where the server does not say (the simple protocol), uuid.UUID values
	// and slices are sent as uuid and uuid[].
	m.RegisterDefaultPgType(uuid.UUID{}, "uuid")
	m.RegisterDefaultPgType([]uuid.UUID{}, "_uuid")
}

// AfterConnect registers the codec on conn, then runs next (which may be nil):
// chain it into pgxpool.Config.AfterConnect.
func AfterConnect(next func(context.Context, *pgx.Conn) error) func(context.Context, *pgx.Conn) error {
	return func(ctx context.Context, conn *pgx.Conn) error {
		Register(conn.TypeMap())
		if next != nil {
			return next(ctx, conn)
		}
		return nil
	}
}

// Codec is pgtype.UUIDCodec with direct plans for uuid.UUID.
type Codec struct{ pgtype.UUIDCodec }

// PlanEncode returns a plan writing a uuid.UUID as 16 bytes (binary) or its
// canonical string (text).
func (c Codec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok {
		switch format {
		case pgtype.BinaryFormatCode:
			return encodeBinary{}
		case pgtype.TextFormatCode:
			return encodeText{}
		}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

// PlanScan returns a plan reading a uuid into a *uuid.UUID. NULL is an
// error, as for any non-pointer target; scan into **uuid.UUID to allow it.
func (c Codec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok {
		switch format {
		case pgtype.BinaryFormatCode:
			return scanBinary{}
		case pgtype.TextFormatCode:
			return scanText{}
		}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeBinary struct{}

func (encodeBinary) Encode(value any, buf []byte) ([]byte, error) {
	u := value.(uuid.UUID)
	return append(buf, u[:]...), nil
}

type encodeText struct{}

func (encodeText) Encode(value any, buf []byte) ([]byte, error) {
	return append(buf, value.(uuid.UUID).String()...), nil
}

type scanBinary struct{}

func (scanBinary) Scan(src []byte, target any) error {
	if src == nil {
		return fmt.Errorf("cannot scan NULL into *uuid.UUID")
	}
	if len(src) != 16 {
		return fmt.Errorf("invalid length for uuid: %d bytes", len(src))
	}
	copy(target.(*uuid.UUID)[:], src)
	return nil
}

type scanText struct{}

func (scanText) Scan(src []byte, target any) error {
	if src == nil {
		return fmt.Errorf("cannot scan NULL into *uuid.UUID")
	}
	u, err := uuid.ParseBytes(src)
	if err != nil {
		return fmt.Errorf("scan uuid: %w", err)
	}
	*target.(*uuid.UUID) = u
	return nil
}

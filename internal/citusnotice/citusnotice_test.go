package citusnotice

import (
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

func TestWorker(t *testing.T) {
	t.Parallel()
	for where, want := range map[string]string{
		// As a Citus 13.2 coordinator sent it for a worker's lock timeout.
		"while executing command on 127.0.0.1:34889\nSQL statement \"LOCK TABLE telemetry_edges_default IN ACCESS EXCLUSIVE MODE\"": "127.0.0.1:34889",
		"while executing command on worker-2:5432":                                 "worker-2:5432",
		"PL/pgSQL function ensure_day_partition(regclass,date) line 51 at EXECUTE": "",
		"": "",
	} {
		require.Equal(t, want, Worker(&pgconn.Notice{Where: where}), where)
	}
}

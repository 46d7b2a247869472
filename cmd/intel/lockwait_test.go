package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/internal/pgtest"
)

// watchedWriter keeps what is written and closes seen once it holds want.
type watchedWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return n, err
}

func (w *watchedWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestALoadWaitingOnALockSaysWhatHoldsIt: another session holds a lock on
// nodes (psql: BEGIN; LOCK TABLE nodes; then left open), lock_timeout 0
// (the default), then intel ingest stix. Before, the load waited without a
// word (11 s by hand, until the holder committed; for ever if it never
// does). Now, once a statement has waited lockWaitEvery (5 s; shortened
// here), a WARN names the relation, the holder's pid, role, application,
// state and statement, and how to end it; the load goes on once the lock
// is released and exits 0.
func TestALoadWaitingOnALockSaysWhatHoldsIt(t *testing.T) { //nolint:paralleltest // sets lockWaitEvery
	every := lockWaitEvery
	lockWaitEvery = 300 * time.Millisecond
	t.Cleanup(func() { lockWaitEvery = every })
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	holder, err := pgx.Connect(ctx, dsn+"&application_name=dba-console")
	require.NoError(t, err)
	defer holder.Close(ctx)
	tx, err := holder.Begin(ctx)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE")
	require.NoError(t, err)

	stderr := &watchedWriter{want: "for a lock on nodes that another session holds", seen: make(chan struct{})}
	seen := stderr.seen
	var stdout bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run([]string{"--database-url=" + dsn, "--no-partition-maintenance", "ingest", "stix",
			filepath.Join("..", "..", "testdata", "demo", "hellokitty-ransomware.json")}, strings.NewReader(""), &stdout, stderr)
	}()
	select {
	case <-seen:
	case c := <-code:
		t.Fatalf("the load ended (exit %d) while nodes was locked: %s", c, stderr)
	case <-time.After(time.Minute):
		require.NoError(t, tx.Rollback(ctx))
		<-code
		t.Fatalf("no word of the lock after a minute of waiting: %s", stderr)
	}
	require.NoError(t, tx.Rollback(ctx))
	require.Equal(t, exitOK, <-code, stderr.String())
	out := stderr.String()
	require.Contains(t, out, "holder_application=dba-console")
	require.Contains(t, out, "holder_state=\"idle in transaction\"")
	require.Contains(t, out, "LOCK TABLE nodes IN ACCESS EXCLUSIVE MODE")
	require.Contains(t, out, "lock_timeout = 0")
	require.Equal(t, 1, strings.Count(out, "for a lock on nodes"), "told once")
}

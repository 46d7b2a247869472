package ingest

import (
	"context"
	"io"
)

// InterruptibleReader reads r on a goroutine of its own, so that a read
// waiting on a stalled producer (standard input, a pipe, a FIFO) or inside
// an endless line (/dev/zero) ends when ctx does, instead of when the
// producer next writes: SIGINT and SIGTERM stop a load at once. The read
// then returns end: io.EOF ends the input there, so what was read is
// loaded (telemetry, which has no checkpoint to resume from); nil gives
// the cause of ctx, so the load stops as interrupted (a feed, recorded
// interrupted and loaded again by the next run).
func InterruptibleReader(ctx context.Context, r io.Reader, end error) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err) // nil: io.EOF for the reader
	}()
	context.AfterFunc(ctx, func() {
		if end == nil {
			end = context.Cause(ctx)
		}
		pw.CloseWithError(end)
	})
	return pr
}

package stix

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/corpus"
)

// FuzzLoad runs the reader and the mapper on arbitrary input, seeded with
// the corpus files and small hand-made feeds. Load must not panic, must
// either finish or stop with an *engine.OffsetError within the input, and must
// only hand valid graph records to the sink.
func FuzzLoad(f *testing.F) {
	if dir, ok := corpus.Seeds(f, "stix"); ok {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
				if data, err := os.ReadFile(p); err == nil && len(data) < 64<<10 {
					f.Add(data)
				}
			}
			return nil
		})
	}
	for _, s := range []string{
		bundle(`{"type":"indicator","id":"` + idIndicator + `","pattern":"[ipv4-addr:value = '1.2.3.4'] OR [file:hashes.'SHA-256' = 'aa']"}`),
		`[{"type":"observed-data","id":"observed-data--00000000-0000-4000-8000-000000000009","objects":{"0":{"type":"ipv4-addr","value":"1.1.1.1"},"1":{"type":"network-traffic","src_ref":"0","dst_ref":"1"}}}]`,
		`{"type":"sighting","id":"sighting--00000000-0000-4000-8000-000000000005","sighting_of_ref":"` + idIndicator + `"}` + "\n" + `{"type":"relationship","id":"` + idRel + `","relationship_type":"uses","source_ref":"` + idMalwareA + `","target_ref":"` + idMalwareB + `"}`,
		bundle(`{"type":"marking-definition","id":"`+idMarking+`","definition_type":"tlp","definition":{"tlp":"red"}}`, `{"type":"identity","id":"`+idIdentity+`","object_marking_refs":["`+idMarking+`"]}`),
		ndjsonFeed + `{"type":"malware","x":[` + "\n[\n" + `{"type":"a"}` + "\n]\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		sink := &validatingSink{}
		var rep *engine.Report
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			rep, err = Load(context.Background(), bytes.NewReader(in), sink, Options{Logger: quietLogger, Workers: 2, BatchSize: 16, MaxRecordBytes: 4096})
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("Load did not finish in 5s on %d bytes: %q\n%s", len(in), in, buf[:runtime.Stack(buf, true)])
		}
		if rep == nil {
			t.Fatal("no report")
		}
		if sink.err != nil {
			t.Fatalf("invalid record reached the sink: %v", sink.err)
		}
		if err != nil {
			var oe *engine.OffsetError
			if !errors.As(err, &oe) {
				t.Fatalf("error is not an *engine.OffsetError: %v", err)
			}
			if oe.Offset < 0 || oe.Offset > int64(len(in)) {
				t.Fatalf("offset %d outside the input of %d bytes", oe.Offset, len(in))
			}
			return
		}
		if rep.RecordsMapped+rep.DroppedTotal() != rep.RecordsRead {
			t.Fatalf("read %d, mapped %d, dropped %d", rep.RecordsRead, rep.RecordsMapped, rep.DroppedTotal())
		}
		if rep.Bytes != int64(len(in)) {
			t.Fatalf("report says %d bytes of %d", rep.Bytes, len(in))
		}
	})
}

// validatingSink checks every record the way the Store would.
type validatingSink struct{ err error }

func (s *validatingSink) Write(_ context.Context, b graph.Batch) (graph.WriteStats, error) {
	for _, n := range b.Nodes {
		if err := n.Validate(); err != nil && s.err == nil {
			s.err = err
		}
	}
	for _, r := range b.Relations {
		if err := r.Validate(); err != nil && s.err == nil {
			s.err = err
		}
	}
	return graph.WriteStats{}, nil
}

package misp

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ransomeye/intel/graph"
	"github.com/ransomeye/intel/ingest/engine"
	"github.com/ransomeye/intel/internal/corpus"
)

// FuzzLoad feeds arbitrary bytes to the reader and mapper. Whatever the
// input, the load returns (no panic, no deadlock), every record read is
// mapped or dropped, and everything written is valid for the store. Seeds:
// the small testdata files, constructed events and, when present, the
// corpus files under 20 kB.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		event(u(1), "seed", []string{attr(u(2), "ip-dst", "198.51.100.7"), attr(u(3), "filename|sha256", "a.exe|"+sha256a),
			attr(u(4), "domain|ip", "circl.lu|149.13.33.14"), attr(u(5), "text", "x", `"Tag": [{"name": "tlp:red"}]`)},
			`"Object": [{"uuid": "`+u(6)+`", "name": "file", "Attribute": [{"type": "md5", "value": "`+md5a+`"}], "ObjectReference": [{"referenced_uuid": "`+u(2)+`"}]}]`,
			`"Galaxy": [{"type": "threat-actor", "GalaxyCluster": [{"value": "Sofacy", "uuid": "`+u(7)+`"}]}]`),
		`{"response": [{"Event": {"uuid": "` + u(1) + `", "Attribute": [],}}]}`,
		`[{"values": [{"value": "x"}], "type": "malpedia"}]`,
		`{"response": {"Attribute": [{"type": "AS", "value": "AS174"}]}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	dirs := []string{testdata, filepath.Join(testdata, "feed")}
	if dir, ok := corpus.Seeds(f, "misp"); ok {
		dirs = append(dirs, filepath.Join(dir, "*"))
	}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, path := range files {
			if info, err := os.Stat(path); err == nil && info.Size() < 20<<10 {
				if data, err := os.ReadFile(path); err == nil {
					f.Add(data)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, strict := range []bool{false, true} {
			opts := quiet(nil)
			opts.Strict = strict
			opts.MaxRecordBytes = 4 << 10
			sink := &validatingSink{t: t}
			rep, err := LoadFile(context.Background(), strings.NewReader(string(data)), sink, opts)
			if rep == nil {
				t.Fatalf("no report (err %v)", err)
			}
			if rep.RecordsRead != rep.RecordsMapped+rep.DroppedTotal() {
				t.Fatalf("read %d, mapped %d, dropped %v", rep.RecordsRead, rep.RecordsMapped, rep.Dropped)
			}
		}
	})
}

// validatingSink fails the test on any node or relation the store would
// reject.
type validatingSink struct {
	t   *testing.T
	dry engine.DrySink
}

func (v *validatingSink) Write(ctx context.Context, b graph.Batch) (graph.WriteStats, error) {
	for _, n := range b.Nodes {
		for _, a := range n.Aliases {
			if len(a) > 200 {
				v.t.Errorf("alias of %d bytes", len(a))
			}
		}
		if err := n.Validate(); err != nil {
			v.t.Errorf("invalid node: %v", err)
		}
		if len(n.Key) > 2100 { // PostgreSQL's btree rows stop at about 2.7 kB
			v.t.Errorf("node key of %d bytes", len(n.Key))
		}
	}
	for _, r := range b.Relations {
		if err := r.Validate(); err != nil {
			v.t.Errorf("invalid relation: %v", err)
		}
		if len(r.Src) > 200 || len(r.Dst) > 200 {
			v.t.Errorf("relation endpoint of %d/%d bytes", len(r.Src), len(r.Dst))
		}
	}
	return v.dry.Write(ctx, b)
}

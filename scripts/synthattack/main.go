// Command synthattack writes an ATT&CK-shaped STIX bundle of a chosen size
// from a smaller ATT&CK bundle (ics-attack in ../shared/corpus), for the
// feed-load benchmark (scripts/bench-load.sh): MITRE ATT&CK enterprise
// (24,771 objects, 45 MB) is not on the benchmark machine, so this makes a
// stand-in with its size and object mix.
//
// The input's objects are copied again and again, each copy with new ids
// (UUIDv5 of the old id and the copy number, so the output is the same on
// every run), its references rewritten to the copy's ids, new ATT&CK
// external ids (T1000, T1001, ... in order of appearance, per prefix),
// and names and aliases suffixed with the copy number, so that the copies
// are distinct entities as enterprise's are. identity and
// marking-definition objects are shared by all copies, as in ATT&CK. The
// last copy is partial: its non-relationship objects first, then the
// relationships among them, up to the object count.
//
//	go run ./scripts/synthattack -in ../shared/corpus/stix/mitre-attack/ics-attack-18.1.json -objects 24771 -out /tmp/enterprise-synth.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/google/uuid"
)

// namespace is the UUIDv5 namespace of the copies' ids.
var namespace = uuid.MustParse("6f0e7a4c-2b1d-5c3e-9a8f-1d2c3b4a5e6f")

var attackID = regexp.MustCompile(`^([A-Z]+)(\d{4})((?:\.\d{3})?)$`)

func main() {
	in := flag.String("in", "", "ATT&CK STIX bundle to copy")
	out := flag.String("out", "", "output file")
	objects := flag.Int("objects", 24771, "objects in the output")
	flag.Parse()
	if *in == "" || *out == "" || *objects <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*in, *out, *objects); err != nil {
		fmt.Fprintln(os.Stderr, "synthattack:", err)
		os.Exit(1)
	}
}

type synth struct {
	shared  map[string]bool   // ids kept as they are
	ids     map[string]bool   // ids of copied objects
	extIDs  map[string]string // "k/T0803" -> new external id
	nextSeq map[string]int    // prefix -> next number
}

func run(in, out string, want int) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var bundle struct {
		Objects []map[string]any `json:"objects"`
	}
	if err := json.Unmarshal(raw, &bundle); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	s := &synth{shared: map[string]bool{}, ids: map[string]bool{}, extIDs: map[string]string{}, nextSeq: map[string]int{}}
	var shared, copied []map[string]any
	for _, o := range bundle.Objects {
		id, _ := o["id"].(string)
		switch o["type"] {
		case "identity", "marking-definition":
			s.shared[id] = true
			shared = append(shared, o)
		default:
			s.ids[id] = true
			copied = append(copied, o)
		}
	}
	if len(copied) == 0 {
		return fmt.Errorf("%s: no objects to copy", in)
	}
	objs := append([]any{}, toAny(shared)...)
	for k := 0; len(objs) < want; k++ {
		part := copied
		if left := want - len(objs); left < len(copied) {
			part = partial(copied, left)
		}
		for _, o := range part {
			objs = append(objs, s.copyValue(o, k, ""))
		}
	}
	res, err := json.MarshalIndent(map[string]any{
		"type":    "bundle",
		"id":      "bundle--" + uuid.NewSHA1(namespace, []byte(fmt.Sprintf("bundle#%d", want))).String(),
		"objects": objs,
	}, "", "    ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, res, 0o644)
}

func toAny(ms []map[string]any) []any {
	out := make([]any, len(ms))
	for i, m := range ms {
		out[i] = m
	}
	return out
}

// partial returns n objects of a copy: its non-relationship objects first,
// then relationships whose ends are among them.
func partial(objs []map[string]any, n int) []map[string]any {
	var out []map[string]any
	have := map[string]bool{}
	for _, o := range objs {
		if o["type"] != "relationship" && len(out) < n {
			out = append(out, o)
			have[o["id"].(string)] = true
		}
	}
	for _, o := range objs {
		if len(out) >= n {
			break
		}
		if o["type"] == "relationship" && have[str(o["source_ref"])] && have[str(o["target_ref"])] {
			out = append(out, o)
		}
	}
	return out
}

func str(v any) string { s, _ := v.(string); return s }

// copyValue copies v for copy k; key is the member name v is the value of.
func (s *synth) copyValue(v any, k int, key string) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		ext := x["source_name"] == "mitre-attack" || x["source_name"] == "mitre-ics-attack"
		var oldExt, newExt string
		if id, ok := x["external_id"].(string); ok && ext {
			oldExt, newExt = id, s.extID(id, k)
		}
		for name, val := range x {
			switch {
			case name == "external_id" && newExt != "":
				m[name] = newExt
			case name == "url" && newExt != "":
				m[name] = strings.Replace(str(val), "/"+strings.ReplaceAll(oldExt, ".", "/"), "/"+strings.ReplaceAll(newExt, ".", "/"), 1)
			default:
				m[name] = s.copyValue(val, k, name)
			}
		}
		return m
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = s.copyValue(e, k, key)
		}
		return out
	case string:
		switch {
		case s.ids[x]:
			typ, _, _ := strings.Cut(x, "--")
			return typ + "--" + uuid.NewSHA1(namespace, []byte(fmt.Sprintf("%s#%d", x, k))).String()
		case k > 0 && (key == "name" || key == "aliases" || key == "x_mitre_aliases"):
			return fmt.Sprintf("%s %d", x, k)
		}
		return x
	}
	return v
}

// extID returns the external id of id in copy k: the same prefix, numbered
// from 1000 in order of first appearance.
func (s *synth) extID(id string, k int) string {
	m := attackID.FindStringSubmatch(id)
	if m == nil {
		return id
	}
	base := fmt.Sprintf("%d/%s%s", k, m[1], m[2])
	if _, ok := s.extIDs[base]; !ok {
		s.extIDs[base] = fmt.Sprintf("%s%04d", m[1], 1000+s.nextSeq[m[1]])
		s.nextSeq[m[1]]++
	}
	return s.extIDs[base] + m[3]
}

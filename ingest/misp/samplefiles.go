package misp

import (
	"bytes"
	"strings"

	"github.com/ransomeye/intel/ingest/engine"
)

// One file, several hash attributes. MISP's sample upload (without the
// file object) writes three event-level attributes for one file:
// malware-sample "<name>|<md5>", filename|sha1 and filename|sha256 of the
// same name (PyMISP's HTML_event.json: the sample's bytes have all three
// hashes), and feeds written before MISP objects give a file the same way
// (ESET's Zebrocy event: filename|md5, filename|sha1, filename|sha256 of
// each file). Each attribute alone is the file of its name and one hash
// (graph.FileNode), so one file would be split in as many nodes. The
// reader therefore holds an event's event-level filename|<hash> and
// malware-sample attributes until the event ends, and each is mapped as
// the file of its name with every hash the event's attributes of that name
// give (job.fileHashes), provided they give one value per algorithm and
// at least two algorithms: two values of one algorithm for one name are
// two files (PyMISP's long_event.json names three files "~tmp.doc"), and
// nothing of that name is joined. An object's attributes are not held:
// a file object is one file already.

// Bounds on what an event holds; past them an attribute is mapped as it
// is read, with its own hash alone.
const (
	maxHeldFiles     = 4096
	maxHeldFileBytes = 16 << 20
)

// heldFile is an attribute held for its event's end.
type heldFile struct {
	rec       engine.Record[*job]
	name      string
	alg, hash string
}

// holdFile holds the attribute raw of an event when it names a file by
// its name and a hash (see above) and the event's bounds allow; it
// reports whether it did.
func (s *fileSource) holdFile(fr *frame, offset int64, raw []byte, j *job) bool {
	if !fr.isEvent() || len(fr.files) >= maxHeldFiles || fr.heldBytes+len(raw) > maxHeldFileBytes ||
		bytes.IndexByte(raw, '|') < 0 {
		return false
	}
	var a struct {
		Type    text `json:"type"`
		Value   text `json:"value"`
		Deleted flag `json:"deleted"`
	}
	if unmarshal(raw, &a) != nil || bool(a.Deleted) {
		return false
	}
	t := canonicalType(a.Type.String())
	ht, ok := strings.CutPrefix(t, "filename|")
	if t == "malware-sample" {
		ht, ok = "md5", true
	}
	if !ok {
		return false
	}
	name, h, err := cut(a.Value.String(), true)
	if err != nil {
		return false
	}
	alg, hv, err := normalizeHash(ht, h)
	name = strings.TrimSpace(name)
	if err != nil || name == "" {
		return false
	}
	fr.files = append(fr.files, heldFile{rec: engine.Record[*job]{Offset: offset, Raw: raw, Meta: j}, name: name, alg: alg, hash: hv})
	fr.heldBytes += len(raw)
	return true
}

// fileGroups returns, by file name, the hashes of the held attributes of
// that name when they are one file's: one value per algorithm, two
// algorithms or more.
func fileGroups(files []heldFile) map[string]map[string]string {
	byName := map[string]map[string]string{}
	split := map[string]bool{}
	for _, f := range files {
		h := byName[f.name]
		if h == nil {
			h = map[string]string{}
			byName[f.name] = h
		}
		if v, dup := h[f.alg]; dup && v != f.hash {
			split[f.name] = true
		}
		h[f.alg] = f.hash
	}
	for name, h := range byName {
		if split[name] || len(h) < 2 {
			delete(byName, name)
		}
	}
	return byName
}

// sendFiles emits the attributes the frame held, each with the hashes of
// its file (fileGroups), as galaxies held for their times are emitted.
func (s *fileSource) sendFiles(fr *frame) error {
	groups := fileGroups(fr.files)
	for _, f := range fr.files {
		j := f.rec.Meta
		j.fileHashes = groups[f.name]
		j.linked, j.evRef, j.evUUID = fr.stubSent, fr.evRef, fr.evUUID
		if err := s.send(f.rec.Offset, f.rec.Raw, j); err != nil {
			return err
		}
	}
	fr.files, fr.heldBytes = nil, 0
	return nil
}

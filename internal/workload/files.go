package workload

import (
	"bufio"
	"crypto/sha1" //nolint:gosec // names, not security: a deterministic uuid
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// telemetryLine is one line of `intel ingest telemetry`'s NDJSON.
type telemetryLine struct {
	Src        any            `json:"src"`
	Relation   string         `json:"relation"`
	Dst        any            `json:"dst"`
	AgentID    string         `json:"agent_id"`
	ObservedAt string         `json:"observed_at"`
	Props      map[string]any `json:"props"`
}

// WriteTelemetry writes every batch of every day, in order, as NDJSON
// lines that ingest/telemetry reads back as the edges of Batch. It returns
// the number of lines.
func (g *Generator) WriteTelemetry(w io.Writer) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	var n int64
	for day := range g.cfg.Days {
		for seq := range g.batches {
			for _, e := range g.events(day, seq) {
				l := telemetryLine{Src: e.src.json(), Relation: e.relation, Dst: e.dst.json(), AgentID: e.agent,
					ObservedAt: e.at.Format(time.RFC3339Nano), Props: map[string]any{"pid": e.pid}}
				if err := enc.Encode(l); err != nil {
					return n, fmt.Errorf("write telemetry line %d: %w", n+1, err)
				}
				n++
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("write telemetry: %w", err)
	}
	return n, nil
}

// FeedCounts says what the feeds of a Generator hold.
type FeedCounts struct {
	IntrusionSets, Malware, Indicators, Relationships int
}

// Feeds returns the counts of the STIX bundle WriteSTIX writes (the MISP
// events hold the same indicators as attributes).
func (g *Generator) Feeds() FeedCounts {
	m := max(1, g.cfg.Indicators/10)
	sets := max(1, m/5)
	return FeedCounts{IntrusionSets: sets, Malware: m, Indicators: g.cfg.Indicators, Relationships: g.cfg.Indicators + m}
}

// stixID returns the deterministic STIX identifier of the n-th object of
// type typ: a version 4 shaped uuid hashed from the seed.
func (g *Generator) stixID(typ string, n int) string {
	ns := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "ransomeye-workload-%d", g.cfg.Seed))
	return typ + "--" + uuid.NewHash(sha1.New(), ns, fmt.Appendf(nil, "%s-%d", typ, n), 4).String()
}

// WriteSTIX writes a STIX 2.1 bundle: intrusion sets, malware families,
// one indicator per indicator observable (a pattern naming the file's
// SHA-256, the domain or the address the telemetry meets), indicator
// indicates malware, intrusion set uses malware.
func (g *Generator) WriteSTIX(w io.Writer) (FeedCounts, error) {
	fc := g.Feeds()
	created := g.cfg.Start.AddDate(0, 0, -30).Format(time.RFC3339)
	bw := bufio.NewWriterSize(w, 1<<16)
	sep := ""
	obj := func(m map[string]any) error {
		m["spec_version"], m["created"], m["modified"] = "2.1", created, created
		b, err := json.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(bw, "%s\n%s", sep, b)
		sep = ","
		return err
	}
	_, _ = fmt.Fprintf(bw, `{"type":"bundle","id":%q,"objects":[`, g.stixID("bundle", 0))
	for i := range fc.IntrusionSets {
		if err := obj(map[string]any{"type": "intrusion-set", "id": g.stixID("intrusion-set", i),
			"name": fmt.Sprintf("Bench Group %d", i)}); err != nil {
			return fc, err
		}
	}
	rel := 0
	relationship := func(src, typ, dst string) error {
		rel++
		return obj(map[string]any{"type": "relationship", "id": g.stixID("relationship", rel),
			"relationship_type": typ, "source_ref": src, "target_ref": dst})
	}
	for i := range fc.Malware {
		id := g.stixID("malware", i)
		if err := obj(map[string]any{"type": "malware", "id": id, "name": fmt.Sprintf("benchware-%d", i),
			"is_family": true, "malware_types": []string{"ransomware"}}); err != nil {
			return fc, err
		}
		if err := relationship(g.stixID("intrusion-set", i%fc.IntrusionSets), "uses", id); err != nil {
			return fc, err
		}
	}
	for i := range fc.Indicators {
		id := g.stixID("indicator", i)
		if err := obj(map[string]any{"type": "indicator", "id": id, "name": fmt.Sprintf("bench indicator %d", i),
			"pattern": g.indicator(i).pattern, "pattern_type": "stix", "valid_from": created,
			"indicator_types": []string{"malicious-activity"}}); err != nil {
			return fc, err
		}
		if err := relationship(id, "indicates", g.stixID("malware", i%fc.Malware)); err != nil {
			return fc, err
		}
	}
	_, _ = fmt.Fprint(bw, "\n]}\n") // bufio.Writer keeps the first error: Flush returns it
	if err := bw.Flush(); err != nil {
		return fc, fmt.Errorf("write stix bundle: %w", err)
	}
	return fc, nil
}

// mispEventSize is the most attributes one generated MISP event holds.
const mispEventSize = 100

// WriteMISP writes MISP events (REST search output, {"response": [...]})
// of up to 100 attributes each, one attribute (sha256, domain or ip-dst,
// to_ids) per indicator observable. It returns the number of events.
func (g *Generator) WriteMISP(w io.Writer) (int, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	date := g.cfg.Start.AddDate(0, 0, -30)
	events := 0
	_, _ = fmt.Fprint(bw, `{"response":[`) // bufio.Writer keeps the first error: Flush returns it
	for first := 0; first < g.cfg.Indicators; first += mispEventSize {
		attrs := make([]map[string]any, 0, mispEventSize)
		for i := first; i < min(first+mispEventSize, g.cfg.Indicators); i++ {
			in := g.indicator(i)
			value, category := in.value, "Network activity"
			if in.mispType == "sha256" {
				value, category = in.sha256, "Payload delivery"
			}
			attrs = append(attrs, map[string]any{"uuid": uuidOf(g.stixID("misp-attribute", i)), "type": in.mispType,
				"category": category, "to_ids": true, "value": value, "timestamp": fmt.Sprint(date.Unix())})
		}
		ev := map[string]any{"Event": map[string]any{
			"uuid": uuidOf(g.stixID("misp-event", events)), "info": fmt.Sprintf("bench event %d", events),
			"date": date.Format(time.DateOnly), "threat_level_id": "1", "analysis": "2",
			"timestamp": fmt.Sprint(date.Unix()), "Attribute": attrs,
			"Tag": []map[string]any{{"name": "tlp:amber"}},
		}}
		b, err := json.Marshal(ev)
		if err != nil {
			return events, err
		}
		if events > 0 {
			_, _ = bw.WriteString(",")
		}
		_, _ = bw.WriteString("\n")
		_, _ = bw.Write(b)
		events++
	}
	_, _ = bw.WriteString("\n]}\n")
	if err := bw.Flush(); err != nil {
		return events, fmt.Errorf("write misp events: %w", err)
	}
	return events, nil
}

// uuidOf returns the uuid part of a STIX identifier.
func uuidOf(id string) string { return id[len(id)-36:] }

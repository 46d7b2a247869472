package misp

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/ransomeye/intel/ingest/internal/textenc"
)

// text is a JSON scalar read as a string: MISP writes the same field as a
// string in one export and a number or boolean in another ("timestamp":
// "1455373240" or 1455373240). null reads as "". Objects and arrays are an
// error, which makes their record malformed.
type text string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (s *text) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := readScalar(dec)
	if err != nil {
		return err
	}
	*s = text(v)
	return nil
}

func (s text) String() string { return string(s) }

// relName is a relationship_type: a name, or none. MISP's REST export
// writes false (or null) on a tag or galaxy cluster that has none (ESET's
// events do); a boolean is no relationship type, so it reads as none and the
// default relation applies, not a relation named "false".
type relName string

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (s *relName) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if k := dec.PeekKind(); k == 't' || k == 'f' {
		_, err := dec.ReadToken()
		*s = ""
		return err
	}
	var t text
	err := t.UnmarshalJSONFrom(dec)
	*s = relName(t)
	return err
}

func (s relName) String() string { return string(s) }

// readScalar reads a scalar token as a string.
func readScalar(dec *jsontext.Decoder) (string, error) {
	switch k := dec.PeekKind(); k {
	case '{', '[':
		return "", fmt.Errorf("want a string, number, boolean or null, got %v", k)
	case '"':
		// Read raw, so that bytes that are not UTF-8 are read as
		// Windows-1252 (textenc.RepairBytes) also where the streaming
		// reader reads a member itself (an event's info), not U+FFFD.
		v, err := dec.ReadValue()
		if err != nil {
			return "", err
		}
		if bytes.IndexByte(v, '\\') < 0 && utf8.Valid(v) {
			return string(v[1 : len(v)-1]), nil // the common case: no escape to undo
		}
		s, err := jsontext.AppendUnquote(nil, textenc.RepairBytes(v))
		return string(s), err
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return "", err
	}
	switch tok.Kind() {
	case 'n':
		return "", nil
	case 't':
		return "true", nil
	case 'f':
		return "false", nil
	}
	return tok.String(), nil
}

// flag is a MISP boolean: true, false, "1", "0", 1, 0, "true", "false",
// null or "".
type flag bool

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (f *flag) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := readScalar(dec)
	if err != nil {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		*f = true
	default:
		*f = false
	}
	return nil
}

// list is a JSON array of T that also accepts a single T (MISP search output
// writes "Attribute": {...} for one) and null.
type list[T any] []T

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (l *list[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		*l = nil
		return err
	case '{':
		var v T
		if err := json.UnmarshalDecode(dec, &v); err != nil {
			return err
		}
		*l = list[T]{v}
		return nil
	}
	var vs []T
	if err := json.UnmarshalDecode(dec, &vs); err != nil {
		return err
	}
	*l = vs
	return nil
}

type rawTag struct {
	Name             text    `json:"name"`
	RelationshipType relName `json:"relationship_type"`
}

// rawSharingGroup is a MISP sharing group as an event, attribute or
// object gives it beside a distribution of 4: its name, uuid and
// releasability statement (MISP's SharingGroup model; its organisations
// and servers are not read).
type rawSharingGroup struct {
	Name          text `json:"name"`
	UUID          text `json:"uuid"`
	Releasability text `json:"releasability"`
}

// sharingGroup is a record's SharingGroup member: the group when it is an
// object, none for anything else (MISP writes "SharingGroup": [] for an
// attribute of no sharing group: Citizen Lab's MISP export in the corpus;
// null, as MISP's documented ZMQ message gives its members).
type sharingGroup struct{ g *rawSharingGroup }

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (s *sharingGroup) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		s.g = nil
		return dec.SkipValue()
	}
	var g rawSharingGroup
	if err := json.UnmarshalDecode(dec, &g); err != nil {
		return err
	}
	s.g = &g
	return nil
}

type rawOrg struct {
	Name text `json:"name"`
	UUID text `json:"uuid"`
}

type rawGalaxy struct {
	UUID      text             `json:"uuid"`
	Name      text             `json:"name"`
	Type      text             `json:"type"`
	Namespace text             `json:"namespace"`
	Clusters  list[rawCluster] `json:"GalaxyCluster"`
}

// rawCluster is a galaxy cluster as events carry it (GalaxyCluster) and as
// cluster files list it (values).
type rawCluster struct {
	UUID             text    `json:"uuid"`
	Type             text    `json:"type"`
	Value            text    `json:"value"`
	TagName          text    `json:"tag_name"`
	Description      text    `json:"description"`
	Source           text    `json:"source"`
	RelationshipType relName `json:"relationship_type"`
	Deleted          flag    `json:"deleted"`
	Meta             metaMap `json:"meta"`
	// Elements are the cluster's meta as MISP stores it, one key and value
	// a row (GalaxyElement): what PyMISP and misp-stix write, often
	// without meta, and MISP's /galaxy_clusters API gives (see
	// clusterMeta).
	Elements list[rawElement] `json:"GalaxyElement"`
	// Related are the relations of a cluster file entry.
	Related list[rawRelated] `json:"related"`
	// Relations are the relations of an exported cluster.
	Relations list[rawClusterRelation] `json:"GalaxyClusterRelation"`
}

// metaMap is a galaxy cluster's meta: an object of keys. MISP's PHP writes
// an empty meta as an empty array ("meta": [], json_encode of array()),
// which is no meta, as null is; any other array or scalar is no meta
// either, rather than a reason to drop the galaxy and every cluster in it.
type metaMap map[string]any

// UnmarshalJSONFrom implements json.UnmarshalerFrom.
func (m *metaMap) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		*m = nil
		return dec.SkipValue()
	}
	var v map[string]any
	if err := json.UnmarshalDecode(dec, &v); err != nil {
		return err
	}
	*m = v
	return nil
}

// rawElement is one GalaxyElement row of a cluster.
type rawElement struct {
	Key   text `json:"key"`
	Value text `json:"value"`
}

type rawRelated struct {
	DestUUID text       `json:"dest-uuid"`
	Type     text       `json:"type"`
	Tags     list[text] `json:"tags"`
}

type rawClusterRelation struct {
	ReferencedUUID text `json:"referenced_galaxy_cluster_uuid"`
	Type           text `json:"referenced_galaxy_cluster_type"`
	Deleted        flag `json:"deleted"`
}

type rawSighting struct {
	UUID          text    `json:"uuid"`
	AttributeUUID text    `json:"attribute_uuid"`
	EventUUID     text    `json:"event_uuid"`
	DateSighting  text    `json:"date_sighting"`
	Type          text    `json:"type"`
	Source        text    `json:"source"`
	Organisation  *rawOrg `json:"Organisation"`
	// Attribute and Event are the sighted attribute and its event as a
	// ZMQ misp_json_sighting message gives them (MISP's
	// Sighting::getSighting: uuid, value, type, … and uuid, info, …),
	// instead of attribute_uuid and event_uuid.
	Attribute *rawRef `json:"Attribute"`
	Event     *rawRef `json:"Event"`
}

// rawRef is a record named by its uuid alone.
type rawRef struct {
	UUID text `json:"uuid"`
}

type rawAttribute struct {
	UUID           text `json:"uuid"`
	Type           text `json:"type"`
	Category       text `json:"category"`
	Value          text `json:"value"`
	Comment        text `json:"comment"`
	Timestamp      text `json:"timestamp"`
	FirstSeen      text `json:"first_seen"`
	LastSeen       text `json:"last_seen"`
	ObjectRelation text `json:"object_relation"`
	ToIDs          flag `json:"to_ids"`
	Deleted        flag `json:"deleted"`
	// Distribution, SharingGroup and DisableCorrelation are MISP's
	// sharing level of the attribute, the group it is shared with, and
	// whether MISP correlates its value (sharing.go).
	Distribution       text              `json:"distribution"`
	SharingGroup       sharingGroup      `json:"SharingGroup"`
	DisableCorrelation flag              `json:"disable_correlation"`
	Tags               list[rawTag]      `json:"Tag"`
	Galaxies           list[rawGalaxy]   `json:"Galaxy"`
	Sightings          list[rawSighting] `json:"Sighting"`
	// Notes and Opinions are MISP analyst data about the attribute.
	Notes         list[jsontext.Value] `json:"Note"`
	Opinions      list[jsontext.Value] `json:"Opinion"`
	Relationships list[jsontext.Value] `json:"Relationship"`
	// EventUUID and Event name the attribute's event in a search result
	// (/attributes/restSearch): the event's uuid and info.
	EventUUID text           `json:"event_uuid"`
	Event     *rawEventBrief `json:"Event"`
}

// rawEventBrief is the event an attribute search result names (MISP's
// restSearch gives id, org_id, distribution, info, orgc_id and uuid).
type rawEventBrief struct {
	UUID         text `json:"uuid"`
	Info         text `json:"info"`
	Distribution text `json:"distribution"`
}

type rawReference struct {
	UUID             text    `json:"uuid"`
	ObjectUUID       text    `json:"object_uuid"`
	ReferencedUUID   text    `json:"referenced_uuid"`
	RelationshipType relName `json:"relationship_type"`
	Comment          text    `json:"comment"`
	Timestamp        text    `json:"timestamp"`
	Deleted          flag    `json:"deleted"`
}

// rawObject keeps its attributes and references raw so that one bad entry
// is dropped alone.
type rawObject struct {
	UUID          text                 `json:"uuid"`
	Name          text                 `json:"name"`
	MetaCategory  text                 `json:"meta-category"`
	Description   text                 `json:"description"`
	Comment       text                 `json:"comment"`
	Timestamp     text                 `json:"timestamp"`
	FirstSeen     text                 `json:"first_seen"`
	LastSeen      text                 `json:"last_seen"`
	TemplateUUID  text                 `json:"template_uuid"`
	Deleted       flag                 `json:"deleted"`
	Distribution  text                 `json:"distribution"`
	SharingGroup  sharingGroup         `json:"SharingGroup"`
	Attributes    list[jsontext.Value] `json:"Attribute"`
	References    list[jsontext.Value] `json:"ObjectReference"`
	Notes         list[jsontext.Value] `json:"Note"`
	Opinions      list[jsontext.Value] `json:"Opinion"`
	Relationships list[jsontext.Value] `json:"Relationship"`
	// EventUUID and Event name the object's event in a search result
	// (/objects/restSearch), as for an attribute.
	EventUUID text           `json:"event_uuid"`
	Event     *rawEventBrief `json:"Event"`
}

// unmarshal decodes one record leniently: unknown members are ignored,
// duplicate names allowed, bytes that are not UTF-8 read as Windows-1252
// (textenc.RepairBytes).
func unmarshal(raw []byte, v any) error {
	return json.Unmarshal(textenc.RepairBytes(raw), v, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
}

// recordUUID is the uuid of a record that does not decode as a whole, for
// the log line that drops it.
func recordUUID(raw []byte) string {
	var r struct {
		UUID text `json:"uuid"`
	}
	_ = unmarshal(raw, &r)
	return r.UUID.String()
}

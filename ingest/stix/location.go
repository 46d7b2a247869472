package stix

import (
	"slices"

	"github.com/ransomeye/intel/graph"
)

// mapLocation maps a location: a country and nothing narrower
// (graph.LocationCountry: "France", {"country": "fr"}, OpenCTI's
// {"name": "France", "country": "FRA"}) is the country's node, keyed by its
// ISO 3166-1 alpha-2 code, so every feed's France is one node; the names and
// codes it is given are its lookup aliases (graph.CountryAlias), its own
// id an alias as always. Any other location (a city, an administrative
// area, a region, coordinates) is keyed by its id, as before: two places
// are never merged.
func (mp *mapper) mapLocation(out *mapped, o object) {
	code, ok := graph.LocationCountry(o.m)
	if !ok {
		mp.addNode(out, graph.SourceNode(graph.KindLocation, o.id), o, nil)
		return
	}
	n := graph.CountryNode(code)
	names := []string{o.str("name"), o.str("country")}
	if l, ok := stringList(o.m["x_opencti_aliases"]); ok {
		names = append(names, l...)
	}
	for _, name := range names {
		if a := graph.CountryAlias(name); a != "" && !slices.Contains(n.Aliases, a) {
			n.Aliases = append(n.Aliases, a)
		}
	}
	mp.addNode(out, n, o, nil)
}

package graph

import (
	"strings"
	"sync"
)

// countryCodes maps every code and normalised name of countries (alpha-2,
// alpha-3, NormalizeName of each name) to the alpha-2 code.
var countryCodes = sync.OnceValue(func() map[string]string {
	m := make(map[string]string, 4*len(countries))
	for _, c := range countries {
		m[c.alpha2] = c.alpha2
		m[c.alpha3] = c.alpha2
		for _, n := range c.names {
			m[NormalizeName(n)] = c.alpha2
		}
	}
	return m
})

// CountryCode returns the ISO 3166-1 alpha-2 code of the country s names:
// its alpha-2 or alpha-3 code in any case ("fr", "FRA"), or one of the
// names of the table (countries: "France", "United Kingdom", "Russian
// Federation", "Russia", …, as NormalizeName folds them); false for
// anything else (a region, a city, a name the table does not hold).
func CountryCode(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if u := strings.ToUpper(s); len(u) == 2 || len(u) == 3 {
		if c, ok := countryCodes()[u]; ok {
			return c, true
		}
	}
	c, ok := countryCodes()[NormalizeName(s)] // names are lower case, codes upper
	return c, ok
}

// placeProps are the properties of a STIX location that make it a place
// within a country rather than the country: a city, an administrative
// area (a state, a province), a street address, a postal code, and a
// precision (the radius of a point, STIX 2.1: coordinates of a place).
var placeProps = []string{"city", "administrative_area", "street_address", "postal_code", "precision"}

// LocationCountry returns the alpha-2 code of the country a STIX location
// object is, when it is a country and nothing narrower: no city,
// administrative area, street address, postal code or precision; no
// producer's type other than a country (OpenCTI's x_opencti_location_type
// City, Region, …); a country property that names a country (CountryCode:
// "fr", "FRA", "France") and a name that names the same one, or either
// alone. A name that names no country ("Paris" with country FR), or
// another one ("Georgia" with country US: the state), makes it another
// place. A name alone with coordinates is not taken for a country unless
// the producer says it is one (OpenCTI's countries carry their centroid; a
// city may share its country's name, as Luxembourg does). A region
// ("Western Europe") is not a country.
func LocationCountry(obj map[string]any) (string, bool) {
	for _, p := range placeProps {
		if v, ok := obj[p]; ok && v != nil && v != "" {
			return "", false
		}
	}
	str := func(k string) string { s, _ := obj[k].(string); return strings.TrimSpace(s) }
	typ := str("x_opencti_location_type")
	if typ != "" && !strings.EqualFold(typ, "country") {
		return "", false
	}
	code := ""
	if c := str("country"); c != "" {
		var ok bool
		if code, ok = CountryCode(c); !ok {
			return "", false
		}
	}
	if name := str("name"); name != "" {
		c, ok := CountryCode(name)
		if !ok || (code != "" && c != code) {
			return "", false
		}
		if code == "" && typ == "" {
			if _, located := obj["latitude"]; located {
				return "", false
			}
		}
		code = c
	}
	return code, code != ""
}

// CountryNode returns the location node of a country (LocationCountry):
// keyed by its alpha-2 code, so every feed's location of the country (by
// its name, by its code, by both) is one node, named by the table's first
// name, which the object's own name replaces.
func CountryNode(code string) Node {
	code = strings.ToUpper(code)
	name := code
	for _, c := range countries {
		if c.alpha2 == code {
			name = c.names[0]
			break
		}
	}
	return Node{ID: NamedID(KindLocation, code), Kind: KindLocation, Key: code, Name: name}
}

// CountryAlias is the lookup alias of a name of a country location
// ("location:france"): a country node carries one for each name and code
// its sources give it, so that `intel show location:France` finds the
// one node whichever name a feed gave it.
func CountryAlias(name string) string {
	n := NormalizeName(name)
	if n == "" {
		return ""
	}
	return string(KindLocation) + ":" + n
}

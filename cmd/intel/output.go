package main

import (
	"encoding/json"
	"io"
)

// formatFlag validates a --format value against the allowed ones.
func formatFlag(value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	return usagef("--format %q: want one of %v", value, allowed)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

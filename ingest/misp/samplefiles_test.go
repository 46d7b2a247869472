package misp

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ransomeye/intel/graph"
)

// PyMISP's HTML_event.json (testdata/misp/reportlab_HTML_event.json, see
// SOURCES.md) holds the event-level attributes MISP's sample upload writes
// for one file: malware-sample "a5ff5f.exe|<md5>", filename|sha1 and
// filename|sha256 of the same name. The sample they come with (the
// malware-sample's data, zipped with the password "infected") has all
// three hashes, so they are one file. Before, each was a file node of its
// own (three files named a5ff5f.exe, each with one hash); now they are one
// file with the three hashes. Attributes of one name that give two values
// of one algorithm name different files and stay apart.
func TestHashAttributesOfOneFileNameAreOneFile(t *testing.T) {
	t.Parallel()
	rep, sink, _, err := loadFile(t, filepath.Join("..", "..", "testdata", "misp", "reportlab_HTML_event.json"), quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	hashes := map[string]string{
		"MD5":     "2f7059d7b1dda3080e391d99788fff18",
		"SHA-1":   "0af6bde11eaa699604aa92cce9a6210dfce70f42",
		"SHA-256": "a5ff5f861bbb1ac7c6fd44f303f735fac01273ce2ae43a8acb683076192fcfcc",
	}
	want, hashNodes, _ := graph.FileNode(hashes, "a5ff5f.exe")
	files := map[graph.Ref]bool{}
	sink.mu.Lock()
	for _, n := range sink.nodes {
		if n.Kind == graph.KindFile {
			files[n.Ref()] = true
		}
	}
	sink.mu.Unlock()
	require.Equal(t, map[graph.Ref]bool{want.Ref(): true}, files, "one file named a5ff5f.exe")
	for _, id := range []string{"56e12f82-0c54-4c98-a49d-4de7950d210f", "56e12f83-98e0-490c-9820-4807950d210f", "56e12f84-d92c-455f-9ecf-4e30950d210f"} {
		n, ok := sink.byAlias(alias(id))
		require.True(t, ok)
		if n.Kind == graph.KindIndicator {
			// A to_ids attribute is an indicator based on the hash
			// it names, one of the file's, and on the file its
			// pattern describes by name and hash: the one file.
			for _, r := range basedOn(sink, n.Ref()) {
				require.True(t, r == want.Ref() || hasRelation(sink, want.Ref(), graph.RelHasHash, r), "attribute %s names a hash of the file", id)
			}
			require.Contains(t, basedOn(sink, n.Ref()), want.Ref(), "attribute %s is based on the file", id)
			require.NotEmpty(t, basedOn(sink, n.Ref()))
			continue
		}
		require.Equal(t, want.ID, n.ID, "attribute %s names the file", id)
	}
	for _, h := range hashNodes {
		require.True(t, hasRelation(sink, want.Ref(), graph.RelHasHash, h.Ref()), "file -has-hash-> %s", h.Key)
	}

	// Two MD5s of one name are two files: nothing is joined.
	md5b := strings.Repeat("b", 32)
	doc := event(u(9), "two files", []string{
		attr(u(900), "filename|md5", "tmp.doc|"+md5a),
		attr(u(901), "filename|md5", "tmp.doc|"+md5b),
		attr(u(902), "filename|sha256", "tmp.doc|"+sha256a),
	})
	rep, sink, err = loadString(t, doc, quiet(nil))
	require.NoError(t, err)
	requireBalanced(t, rep)
	for i, h := range []map[string]string{{"MD5": md5a}, {"MD5": md5b}, {"SHA-256": sha256a}} {
		f, _, _ := graph.FileNode(h, "tmp.doc")
		n, ok := sink.byAlias(alias(u(900 + i)))
		require.True(t, ok)
		require.Equal(t, f.ID, n.ID, "attribute %d keeps its own file", i)
	}
}

package exporter

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

// TestSpliceManifests: the entries kept, and everything around the
// manifests array, stay byte for byte; a rewritten child gets its digest
// and size patched in place and loses its data field.
func TestSpliceManifests(t *testing.T) {
	nd := digest.FromString("new child")
	keep, drop := entryEdit{}, entryEdit{drop: true}
	patch := entryEdit{digest: nd, size: 42}
	tests := []struct {
		name  string
		index string
		edits []entryEdit
		want  string
		err   string
	}{
		{
			name:  "compact, vendor fields, features, empty annotations, key order, no HTML escaping",
			index: `{"schemaVersion":2,"z":"<&>","mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"m","digest":"sha256:a","size":1,"platform":{"architecture":"amd64","os":"linux","features":["sse4"]},"annotations":{},"x-vendor":{"k":[1,"]"]}},{"digest":"sha256:b","size":2},{"digest":"sha256:c","size":3,"annotations":{"a":"<b>"}}],"annotations":{"k":"v"}}`,
			edits: []entryEdit{keep, drop, keep},
			want:  `{"schemaVersion":2,"z":"<&>","mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"m","digest":"sha256:a","size":1,"platform":{"architecture":"amd64","os":"linux","features":["sse4"]},"annotations":{},"x-vendor":{"k":[1,"]"]}},{"digest":"sha256:c","size":3,"annotations":{"a":"<b>"}}],"annotations":{"k":"v"}}`,
		},
		{
			name:  "indented: the separator of the first two entries joins the kept ones",
			index: "{\n  \"manifests\": [\n    {\"digest\": \"sha256:a\"},\n    {\"digest\": \"sha256:b\"},\n    {\"digest\": \"sha256:c\"}\n  ],\n  \"schemaVersion\": 2\n}\n",
			edits: []entryEdit{drop, keep, keep},
			want:  "{\n  \"manifests\": [\n    {\"digest\": \"sha256:b\"},\n    {\"digest\": \"sha256:c\"}\n  ],\n  \"schemaVersion\": 2\n}\n",
		},
		{
			name:  "every entry dropped",
			index: `{"schemaVersion":2,"manifests":[{"digest":"sha256:a"}]}`,
			edits: []entryEdit{drop},
			want:  `{"schemaVersion":2,"manifests":[]}`,
		},
		{
			name:  "the last entry dropped",
			index: `{"manifests":[{"digest":"sha256:a"}, {"digest":"sha256:b"}]}`,
			edits: []entryEdit{keep, drop},
			want:  `{"manifests":[{"digest":"sha256:a"}]}`,
		},
		{
			name:  "a rewritten child: digest and size patched, data dropped, the rest kept",
			index: `{"manifests":[{"mediaType":"i","digest":"sha256:old","size":7,"data":"e30=","x":{"digest":"keep"}},{"data":"e30=","digest":"sha256:old","size":7},{"digest":"sha256:old","data":"e30=","size":7}]}`,
			edits: []entryEdit{patch, patch, patch},
			want:  `{"manifests":[{"mediaType":"i","digest":"` + nd.String() + `","size":42,"x":{"digest":"keep"}},{"digest":"` + nd.String() + `","size":42},{"digest":"` + nd.String() + `","size":42}]}`,
		},
		{
			name:  "field names in another case, as encoding/json reads them",
			index: `{"Manifests":[{"Digest":"sha256:old","SIZE":7,"Data":"e30="},{"digest":"sha256:b"}]}`,
			edits: []entryEdit{patch, drop},
			want:  `{"Manifests":[{"Digest":"` + nd.String() + `","SIZE":42}]}`,
		},
		{
			name:  "strings with escapes and brackets",
			index: `{"a":"\"],[{","manifests":[{"digest":"sha256:a","n":"\\\"}"},{"digest":"sha256:b"}],"b":"\u003c"}`,
			edits: []entryEdit{drop, keep},
			want:  `{"a":"\"],[{","manifests":[{"digest":"sha256:b"}],"b":"\u003c"}`,
		},
		{name: "two manifests fields", index: `{"manifests":[],"MANIFESTS":[]}`, err: "two manifests fields"},
		{name: "count mismatch", index: `{"manifests":[{}]}`, edits: []entryEdit{keep, keep}, err: "has 1 entries, 2 decoded"},
		{name: "not an array", index: `{"manifests":{}}`, err: "not an array"},
		{name: "malformed", index: `{"manifests":[}`, err: "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := spliceManifests([]byte(tt.index), tt.edits)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// FuzzSpliceManifests: spliceManifests never panics on an index a
// registry or layout serves, and what it returns is JSON whose manifests
// are the entries kept, byte for byte, the rewritten first one with its
// new digest and size and no data.
func FuzzSpliceManifests(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:a","size":1,"data":"eA=="},{"digest":"sha256:b","size":2}]}`))
	f.Add([]byte(`{"Manifests":[ {"x":[1,{"y":"}"}]} , {} , {"z":null}],"w":"\u005b"}`))
	f.Add([]byte(" {\n  \"manifests\": [\n    {\"a\": 1},\n    {\"b\": \"\\\"]\"}\n  ]\n}\n"))
	nd := digest.FromString("new")
	type entries struct {
		Manifests []map[string]json.RawMessage `json:"manifests"`
	}
	f.Fuzz(func(t *testing.T, index []byte) {
		var before entries
		if json.Unmarshal(index, &before) != nil || len(before.Manifests) == 0 {
			return
		}
		// The first entry rewritten, every other one after it dropped.
		edits := make([]entryEdit, len(before.Manifests))
		edits[0] = entryEdit{digest: nd, size: 7}
		var kept []map[string]json.RawMessage
		for i, m := range before.Manifests {
			if edits[i].drop = i%2 == 1; !edits[i].drop {
				kept = append(kept, m)
			}
		}
		out, err := spliceManifests(index, edits)
		if err != nil {
			return
		}
		var after entries
		if err := json.Unmarshal(out, &after); err != nil || len(after.Manifests) != len(kept) {
			t.Fatalf("splice of %q gave %q (%v): want %d entries", index, out, err, len(kept))
		}
		// A descriptor's digest and size are patched where they are.
		plain := before.Manifests[0]["digest"] != nil && before.Manifests[0]["size"] != nil
		for k := range before.Manifests[0] {
			for _, name := range []string{"digest", "size", "data"} {
				plain = plain && (k == name || !strings.EqualFold(k, name))
			}
		}
		first := after.Manifests[0]
		if plain && (string(first["digest"]) != `"`+nd.String()+`"` || string(first["size"]) != "7" || first["data"] != nil) {
			t.Fatalf("splice of %q: first entry %q, want digest %s, size 7, no data", index, out, nd)
		}
		for i := 1; i < len(kept); i++ {
			for k, v := range kept[i] {
				if string(after.Manifests[i][k]) != string(v) {
					t.Fatalf("splice of %q gave %q: entry %d field %q changed", index, out, i, k)
				}
			}
		}
	})
}

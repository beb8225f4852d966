package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestBuildPlanByDigest: push-by-digest=true applies to the repositories
// of its output's names (to every -t without name=); the others keep
// their tags; a repository named both ways is a usage error; the host of
// a tag groups case-insensitively.
func TestBuildPlanByDigest(t *testing.T) {
	for _, tt := range []struct {
		name     string
		tags     []string
		outputs  []string
		push     bool
		byDigest []bool   // per repository, in order
		written  []string // writtenTags
		all      bool     // allByDigest
		err      string
	}{
		{name: "by digest, names from -t", tags: []string{"r.example/app:1"}, outputs: []string{"type=registry,push-by-digest=true"},
			byDigest: []bool{true}, written: []string{}, all: true},
		{name: "by digest, name=", outputs: []string{"type=image,name=r.example/app,push-by-digest=true,push=true"},
			byDigest: []bool{true}, written: []string{}, all: true},
		{name: "a tagged push beside a by-digest one", tags: []string{"r.example/app:1"}, push: true, outputs: []string{"type=registry,name=r.example/stage,push-by-digest=true"},
			byDigest: []bool{false, true}, written: []string{"r.example/app:1"}},
		{name: "one repository both ways", tags: []string{"r.example/app:1"}, push: true, outputs: []string{"type=registry,name=r.example/app,push-by-digest=true"},
			err: "r.example/app is pushed with a tag (r.example/app:1) and by digest"},
		{name: "by digest, names from -t, beside a tagged name=", tags: []string{"r.example/a:1"},
			outputs:  []string{"type=registry,name=r.example/b:2", "type=registry,push-by-digest=true"},
			byDigest: []bool{true, false}, written: []string{"r.example/b:2"}},
		{name: "by digest from -t, tagged by name=", tags: []string{"r.example/a:1"},
			outputs: []string{"type=registry,name=r.example/a:2", "type=registry,push-by-digest=true"},
			err:     "r.example/a is pushed with a tag (r.example/a:2) and by digest"},
		{name: "host case", tags: []string{"LOCALHOST:5000/app:1", "localhost:5000/app:2"}, push: true,
			byDigest: []bool{false}, written: []string{"LOCALHOST:5000/app:1", "localhost:5000/app:2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := buildOptions{tags: tt.tags, outputs: tt.outputs, push: tt.push, progress: "plain", maxConcurrency: 4}
			p, err := o.plan()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("plan error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []bool
			for _, rt := range p.repos {
				got = append(got, rt.byDigest)
			}
			if !slices.Equal(got, tt.byDigest) || !slices.Equal(p.writtenTags(), tt.written) || p.allByDigest() != tt.all {
				t.Errorf("by digest %v, written %v, all %v; want %v, %v, %v", got, p.writtenTags(), p.allByDigest(), tt.byDigest, tt.written, tt.all)
			}
		})
	}
}

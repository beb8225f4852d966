package frontend

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/moby/buildkit/client"
)

func TestParseCache(t *testing.T) {
	insecure := func(host string) bool { return host == "localhost:5000" }
	dir := t.TempDir()
	file := filepath.Join(dir, "afile")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	loop := filepath.Join(dir, "loop")
	if err := os.Symlink(loop, loop); err != nil {
		t.Fatal(err)
	}
	type entry = client.CacheOptionsEntry
	for _, c := range []struct {
		name    string
		export  bool
		in      []string
		want    []entry
		wantErr string // substring; "" for success
		wantIs  error  // a cause the error wraps, besides ErrInvalidOption
	}{
		{name: "none", in: nil, want: []entry{}},
		{name: "bare reference is a registry cache", in: []string{"registry.example.com/app:cache"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "registry.example.com/app:cache"}}}},
		{name: "export defaults to mode=min", export: true, in: []string{"type=registry,ref=registry.example.com/app:cache"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "registry.example.com/app:cache", "mode": "min"}}}},
		{name: "mode=max and attributes kept", export: true, in: []string{"type=registry,ref=r.example/app:c,mode=max,image-manifest=true,oci-mediatypes=true"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "r.example/app:c", "mode": "max", "image-manifest": "true", "oci-mediatypes": "true"}}}},
		{name: "insecure registry host", in: []string{"localhost:5000/app:cache", "type=registry,ref=localhost:5001/app:cache"},
			want: []entry{
				{Type: "registry", Attrs: map[string]string{"ref": "localhost:5000/app:cache", "registry.insecure": "true"}},
				{Type: "registry", Attrs: map[string]string{"ref": "localhost:5001/app:cache"}},
			}},
		{name: "explicit registry.insecure wins", in: []string{"type=registry,ref=localhost:5000/app:cache,registry.insecure=false"},
			want: []entry{{Type: "registry", Attrs: map[string]string{"ref": "localhost:5000/app:cache", "registry.insecure": "false"}}}},
		{name: "local import", in: []string{"type=local,src=/tmp/cache"},
			want: []entry{{Type: "local", Attrs: map[string]string{"src": "/tmp/cache"}}}},
		{name: "local export", export: true, in: []string{"type=local,dest=/tmp/cache,mode=max"},
			want: []entry{{Type: "local", Attrs: map[string]string{"dest": "/tmp/cache", "mode": "max"}}}},
		{name: "inline export", export: true, in: []string{"type=inline"},
			want: []entry{{Type: "inline", Attrs: map[string]string{"mode": "min"}}}},

		{name: "local export to a new directory", export: true, in: []string{"type=local,dest=" + dir + "/new/cache"},
			want: []entry{{Type: "local", Attrs: map[string]string{"dest": dir + "/new/cache", "mode": "min"}}}},
		{name: "local import from a missing directory", in: []string{"type=local,src=" + dir + "/none"},
			want: []entry{{Type: "local", Attrs: map[string]string{"src": dir + "/none"}}}},
		{name: "local export to a file", export: true, in: []string{"type=local,dest=" + file},
			wantErr: `cache-to "type=local,dest=` + file + `": dest: ` + file + ` is not a directory`},
		{name: "local export under a file", export: true, in: []string{"type=local,dest=" + file + "/sub/c"},
			wantErr: `cache-to "type=local,dest=` + file + `/sub/c": dest: ` + file + ` is not a directory, so ` + file + `/sub/c cannot be made`},
		{name: "local import from a file", in: []string{"type=local,src=" + file},
			wantErr: `cache-from "type=local,src=` + file + `": src: ` + file + ` is not a directory`},
		{name: "local import from under a file", in: []string{"type=local,src=" + file + "/sub/c"},
			wantErr: `cache-from "type=local,src=` + file + `/sub/c": src: ` + file + ` is not a directory, so ` + file + `/sub/c cannot be one`},
		{name: "local import from a symlink loop", in: []string{"type=local,src=" + loop + "/c"},
			wantErr: `cache-from "type=local,src=` + loop + `/c": src: `, wantIs: syscall.ELOOP},
		{name: "inline is not an import", in: []string{"type=inline"}, wantErr: `cache-from "type=inline": unknown cache type "inline"`},
		{name: "unknown type", export: true, in: []string{"type=nfs,dest=/x"}, wantErr: `cache-to "type=nfs,dest=/x": unknown cache type "nfs"`},
		{name: "registry without ref", in: []string{"type=registry"}, wantErr: `cache-from "type=registry": registry cache ref ""`},
		{name: "invalid reference", in: []string{"Not A Ref"}, wantErr: `cache-from "Not A Ref": registry cache ref "Not A Ref"`},
		{name: "local import without src", in: []string{"type=local,dest=/x"}, wantErr: "a local cache needs src=DIR"},
		{name: "local export without dest", export: true, in: []string{"type=local,src=/x"}, wantErr: "a local cache needs dest=DIR"},
		{name: "bad mode", export: true, in: []string{"type=local,dest=/x,mode=all"}, wantErr: `mode "all": want min or max`},
		{name: "field without =", in: []string{"type=local,src"}, wantErr: `cache-from "type=local,src"`},
		{name: "empty", export: true, in: []string{" "}, wantErr: "empty"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseCache(c.export, c.in, insecure)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !errors.Is(err, ErrInvalidOption) {
					t.Fatalf("parseCache(%q) = %v, %v; want an ErrInvalidOption containing %q", c.in, got, err, c.wantErr)
				}
				if c.wantIs != nil && !errors.Is(err, c.wantIs) {
					t.Errorf("parseCache(%q): %v does not wrap %v", c.in, err, c.wantIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("parseCache(%q) =\n%+v\nwant\n%+v", c.in, got, c.want)
			}
		})
	}
}

// TestCloneCache: each solve gets attribute maps of its own, which the
// BuildKit client may write into.
func TestCloneCache(t *testing.T) {
	in := []client.CacheOptionsEntry{{Type: "local", Attrs: map[string]string{"src": "/c"}}}
	out := cloneCache(in)
	out[0].Attrs["digest"] = "sha256:x"
	if _, ok := in[0].Attrs["digest"]; ok || !reflect.DeepEqual(out[0].Attrs, map[string]string{"src": "/c", "digest": "sha256:x"}) {
		t.Errorf("cloneCache shares attributes: in %v, out %v", in[0].Attrs, out[0].Attrs)
	}
	if cloneCache(nil) != nil {
		t.Error("cloneCache(nil) is not nil")
	}
}

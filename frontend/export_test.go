package frontend

import (
	"maps"
	"testing"
)

func TestSetExportAttrs(t *testing.T) {
	for _, c := range []struct {
		name    string
		epoch   bool
		in      map[string]string
		want    map[string]string // added to the defaults
		wantErr string
	}{
		{name: "none"},
		{name: "zstd with a level", in: map[string]string{"compression": "zstd", "compression-level": "22"},
			want: map[string]string{"compression": "zstd", "compression-level": "22"}},
		{name: "estargz, forced", in: map[string]string{"compression": "estargz", "force-compression": "TRUE"},
			want: map[string]string{"compression": "estargz", "force-compression": "true"}},
		{name: "uncompressed", in: map[string]string{"compression": "uncompressed", "force-compression": "false"},
			want: map[string]string{"compression": "uncompressed", "force-compression": "false"}},
		{name: "a level for the default gzip", in: map[string]string{"compression-level": "09"},
			want: map[string]string{"compression-level": "9"}},
		{name: "oci-mediatypes=true is what affix sets", in: map[string]string{"oci-mediatypes": "true"}},
		{name: "rewrite-timestamp=true with an epoch", epoch: true, in: map[string]string{"rewrite-timestamp": "true"},
			want: map[string]string{"rewrite-timestamp": "true"}},
		{name: "rewrite-timestamp=true without one", in: map[string]string{"rewrite-timestamp": "true"},
			want: map[string]string{"rewrite-timestamp": "true"}},
		{name: "rewrite-timestamp=false without an epoch", in: map[string]string{"rewrite-timestamp": "false"}},

		{name: "unknown compression", in: map[string]string{"compression": "xz"}, wantErr: "output compression=xz: want uncompressed, gzip, estargz or zstd"},
		{name: "level not a number", in: map[string]string{"compression": "zstd", "compression-level": "max"}, wantErr: "output compression-level=max: want an integer"},
		{name: "level out of gzip's range", in: map[string]string{"compression-level": "10"}, wantErr: "want 0 to 9 for gzip"},
		{name: "level out of zstd's range", in: map[string]string{"compression": "zstd", "compression-level": "23"}, wantErr: "want 0 to 22 for zstd"},
		{name: "level for uncompressed", in: map[string]string{"compression": "uncompressed", "compression-level": "1"}, wantErr: "uncompressed layers have no compression level"},
		{name: "force-compression not a bool", in: map[string]string{"force-compression": "yes"}, wantErr: "output force-compression=yes: want true or false"},
		{name: "docker media types", in: map[string]string{"oci-mediatypes": "false"}, wantErr: "affix needs OCI media types"},
		{name: "rewrite-timestamp=false with an epoch", epoch: true, in: map[string]string{"rewrite-timestamp": "false"}, wantErr: "affix always rewrites layer timestamps"},
		{name: "rewrite-timestamp not a bool", in: map[string]string{"rewrite-timestamp": "on"}, wantErr: "output rewrite-timestamp=on"},
		{name: "annotation", in: map[string]string{"annotation.org.example": "x"}, wantErr: "--annotation"},
		{name: "annotation with a type", in: map[string]string{"annotation-index.org.example": "x"}, wantErr: "--annotation"},
		{name: "the command's keys", in: map[string]string{"dest": "out"}, wantErr: `output "dest": not an oci exporter attribute affix takes (compression, compression-level, force-compression, oci-mediatypes, rewrite-timestamp)`},
		{name: "other exporter keys", in: map[string]string{"name": "x", "push": "true"}, wantErr: `output "name"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			defaults := map[string]string{"tar": "false", "oci-mediatypes": "true"}
			p := &plan{exportAttrs: maps.Clone(defaults), hasEpoch: c.epoch}
			if c.epoch {
				p.exportAttrs["rewrite-timestamp"] = "true"
			}
			err := p.setExportAttrs(c.in)
			if optErrCase(t, err, c.wantErr) {
				return
			}
			want := maps.Clone(defaults)
			if c.epoch {
				want["rewrite-timestamp"] = "true"
			}
			maps.Copy(want, c.want)
			if !maps.Equal(p.exportAttrs, want) {
				t.Errorf("export attrs %v, want %v", p.exportAttrs, want)
			}
		})
	}
}

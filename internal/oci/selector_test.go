package oci_test

import (
	"errors"
	"reflect"
	"runtime"
	"testing"

	"github.com/containerd/platforms"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/oci"
)

func TestMatchPlatformOSVersion(t *testing.T) {
	win := func(v string) ocispec.Platform {
		return ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: v}
	}
	tests := []struct {
		want string
		have ocispec.Platform
		ok   bool
	}{
		{"windows/amd64", win("10.0.20348.2340"), true},
		{"windows(10.0.20348)/amd64", win("10.0.20348.2340"), true},
		{"windows(10.0.20348)/amd64", win("10.0.20348"), true},
		{"windows(10.0.20348)/amd64", win("10.0.203480.1"), false},
		{"windows(10.0.20348)/amd64", win("10.0.17763.5458"), false},
		{"windows(10.0.20348)/amd64", win(""), false},
		{"windows(10.0.20348.2340)/amd64", win("10.0.20348.2340"), true},
		{"windows(10.0.20348.2340)/amd64", win("10.0.20348.2341"), false},
		{"windows(10.0)/amd64", win("10.0.20348.2340"), false},
		{"windows(10.0.20348)/arm64", win("10.0.20348.2340"), false},
	}
	for _, tt := range tests {
		want, err := oci.ParsePlatform(tt.want)
		if err != nil {
			t.Fatal(err)
		}
		if got := oci.MatchPlatform(want, tt.have); got != tt.ok {
			t.Errorf("MatchPlatform(%s, %s) = %v, want %v", tt.want, oci.FormatPlatform(tt.have), got, tt.ok)
		}
	}
}

// TestParsePlatformErrors: a bad --platform is one message naming it
// once, in words (not containerd's pattern, nor its text after ours); a
// valid one parses as containerd parses it, so as buildctl and docker
// buildx take it: an architecture alone (also an alias) is that
// architecture on this machine's OS, an OS alone that OS on this
// machine's architecture.
func TestParsePlatformErrors(t *testing.T) {
	const form = "os[(os.version)]/arch[/variant], or an architecture or OS alone"
	tests := []struct {
		in   string
		want string // the whole message; "" for valid
	}{
		{"linux/amd64,linux/arm64", `platform "linux/amd64,linux/arm64": one platform, not a list: want ` + form},
		{"linux/amd64,", `platform "linux/amd64,": one platform, not a list: want ` + form},
		{"arm64,amd64", `platform "arm64,amd64": one platform, not a list: want ` + form},
		{"bogus", `platform "bogus": no known OS or architecture: want ` + form},
		{"linux/amd64/v2/x", `platform "linux/amd64/v2/x": too many parts: want ` + form},
		{"linux/amd64 ", `platform "linux/amd64 ": want ` + form + `, each part letters, digits, '_', '.' or '-'`},
		{"/amd64", `platform "/amd64": want ` + form + `, each part letters, digits, '_', '.' or '-'`},
		{"arm 64", `platform "arm 64": want ` + form + `, each part letters, digits, '_', '.' or '-'`},
		{"*", `platform "*": want ` + form + `, each part letters, digits, '_', '.' or '-'`},
		{"", `platform "": want ` + form + `, each part letters, digits, '_', '.' or '-'`},
		{"linux/amd64", ""},
		{"linux/arm/v7", ""},
		{"windows(10.0.20348)/amd64", ""},
		{"Linux/AMD64", ""},
		{"linux", ""},
		{"arm64", ""},
		{"aarch64", ""},
		{"x86_64", ""},
		{"armhf", ""},
		{"s390x", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := oci.ParsePlatform(tt.in)
			if tt.want == "" {
				want, perr := platforms.Parse(tt.in)
				if err != nil || perr != nil || !reflect.DeepEqual(p, want) {
					t.Errorf("ParsePlatform(%q) = %+v, %v; containerd: %+v, %v", tt.in, p, err, want, perr)
				}
				return
			}
			if err == nil || err.Error() != tt.want {
				t.Errorf("ParsePlatform(%q): %v, want %q", tt.in, err, tt.want)
			}
		})
	}
}

// TestParsePlatformAlone: an architecture alone is this machine's OS
// with that architecture, aliases normalized as buildx normalizes them;
// so it matches the image of that platform.
func TestParsePlatformAlone(t *testing.T) {
	tests := []struct {
		in   string
		want ocispec.Platform
	}{
		{"arm64", ocispec.Platform{OS: runtime.GOOS, Architecture: "arm64"}},
		{"aarch64", ocispec.Platform{OS: runtime.GOOS, Architecture: "arm64"}},
		{"x86_64", ocispec.Platform{OS: runtime.GOOS, Architecture: "amd64"}},
		{"AMD64", ocispec.Platform{OS: runtime.GOOS, Architecture: "amd64"}},
		{"armhf", ocispec.Platform{OS: runtime.GOOS, Architecture: "arm", Variant: "v7"}},
		{"armel", ocispec.Platform{OS: runtime.GOOS, Architecture: "arm", Variant: "v6"}},
		{"i386", ocispec.Platform{OS: runtime.GOOS, Architecture: "386"}},
		{"linux", ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}},
	}
	for _, tt := range tests {
		p, err := oci.ParsePlatform(tt.in)
		if err != nil {
			t.Errorf("ParsePlatform(%q): %v", tt.in, err)
			continue
		}
		if tt.want.Architecture == "arm" && tt.want.Variant == "v7" || tt.in == "linux" {
			// containerd leaves arm's default variant and this
			// machine's variant to normalization.
			p, tt.want = platforms.Normalize(p), platforms.Normalize(tt.want)
		}
		if !reflect.DeepEqual(p, tt.want) {
			t.Errorf("ParsePlatform(%q) = %+v, want %+v", tt.in, p, tt.want)
		}
		if !oci.MatchPlatform(p, tt.want) {
			t.Errorf("ParsePlatform(%q) = %+v does not match %s", tt.in, p, oci.FormatPlatform(tt.want))
		}
	}
}

// TestSelectNoMatchMessage: a selection nothing matches is ErrNoMatch,
// worded so that the sentinel's text does not trail the message.
func TestSelectNoMatchMessage(t *testing.T) {
	img := func(d string, p ocispec.Platform) oci.Image {
		return oci.Image{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString(d), Size: 1, Platform: &p}}
	}
	amd := img("amd", ocispec.Platform{OS: "linux", Architecture: "amd64"})
	missing := digest.FromString("missing")
	tests := []struct {
		images []oci.Image
		sel    oci.Selector
		want   string
	}{
		{[]oci.Image{amd}, oci.Selector{Platform: "linux/s390x"}, "platform linux/s390x not found in the image (it has: linux/amd64 " + amd.Descriptor.Digest.String() + ")"},
		{[]oci.Image{amd}, oci.Selector{Digest: missing}, "no manifest " + missing.String() + " in the image (it has: linux/amd64 " + amd.Descriptor.Digest.String() + ")"},
		{[]oci.Image{amd}, oci.Selector{Platform: "s390x"}, "platform s390x (" + runtime.GOOS + "/s390x) not found in the image (it has: linux/amd64 " + amd.Descriptor.Digest.String() + ")"},
		{nil, oci.Selector{All: true}, "no platform images (none)"},
		{nil, oci.Selector{}, "no platform images (none)"},
	}
	for _, tt := range tests {
		_, err := oci.Select(tt.images, tt.sel)
		if !errors.Is(err, oci.ErrNoMatch) || err.Error() != tt.want {
			t.Errorf("Select(%+v): %v, want ErrNoMatch worded %q", tt.sel, err, tt.want)
		}
	}
}

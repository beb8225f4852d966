package oci_test

import (
	"testing"

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

package frontend

import (
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestBaseImage: the image a build's layers start with is told from the
// Dockerfile as the frontend resolves it (target stage, stages followed,
// ARGs, build args, TARGET* per platform, named contexts), and not told
// ("") whenever the client cannot be sure.
func TestBaseImage(t *testing.T) {
	amd := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	arm := ocispec.Platform{OS: "linux", Architecture: "arm64"}
	for _, tt := range []struct {
		name       string
		dockerfile string
		attrs      map[string]string
		platforms  []ocispec.Platform
		want       string
	}{
		{name: "plain", dockerfile: "FROM localhost:5881/hello:1\nRUN true\n", want: "localhost:5881/hello:1"},
		{name: "normalized", dockerfile: "FROM alpine\n", want: "docker.io/library/alpine:latest"},
		{name: "digest", dockerfile: "FROM reg.example/base@sha256:" + baseTestHex + "\n", want: "reg.example/base@sha256:" + baseTestHex},
		{name: "last stage", dockerfile: "FROM golang:1 AS build\nRUN true\nFROM reg.example/run:2\nCOPY --from=build /x /x\n", want: "reg.example/run:2"},
		{name: "stage chain", dockerfile: "FROM reg.example/base:1 AS base\nFROM base AS mid\nFROM MID\n", want: "reg.example/base:1"},
		{name: "target", dockerfile: "FROM reg.example/a:1 AS a\nFROM reg.example/b:1 AS b\n", attrs: map[string]string{"target": "A"}, want: "reg.example/a:1"},
		{name: "unknown target", dockerfile: "FROM reg.example/a:1 AS a\n", attrs: map[string]string{"target": "x"}},
		{name: "scratch", dockerfile: "FROM scratch\nCOPY x /x\n"},
		{name: "stage from scratch", dockerfile: "FROM scratch AS s\nFROM s\n"},
		{name: "meta arg default", dockerfile: "ARG REG=reg.example\nARG BASE=$REG/base:1\nFROM $BASE\n", want: "reg.example/base:1"},
		{name: "build arg", dockerfile: "ARG BASE=reg.example/base:1\nFROM ${BASE}\n", attrs: map[string]string{"build-arg:BASE": "reg.example/other:2"}, want: "reg.example/other:2"},
		{name: "build arg of an undeclared arg", dockerfile: "FROM reg.example/base:1\n", attrs: map[string]string{"build-arg:BASE": "x"}, want: "reg.example/base:1"},
		{name: "arg without value", dockerfile: "ARG BASE\nFROM $BASE\n"},
		{name: "arg after FROM", dockerfile: "FROM reg.example/a:1\nARG BASE=x\nFROM $BASE\n"},
		{name: "target arch, one platform", dockerfile: "FROM reg.example/base-$TARGETARCH:1\n", platforms: []ocispec.Platform{arm}, want: "reg.example/base-arm64:1"},
		{name: "target arch, two platforms", dockerfile: "FROM reg.example/base-$TARGETARCH:1\n", platforms: []ocispec.Platform{amd, arm}},
		{name: "target arch, builder's platform", dockerfile: "FROM reg.example/base-$TARGETARCH:1\n"},
		{name: "platform flag, two platforms", dockerfile: "FROM --platform=$BUILDPLATFORM reg.example/base:1\n", platforms: []ocispec.Platform{amd, arm}, want: "reg.example/base:1"},
		{name: "build platform in the name", dockerfile: "FROM reg.example/base-$BUILDARCH:1\n"},
		{name: "named context image", dockerfile: "FROM alpine:3\n", attrs: map[string]string{"context:alpine:3": "docker-image://reg.example/mirror/alpine:3"}, want: "reg.example/mirror/alpine:3"},
		{name: "named context directory", dockerfile: "FROM alpine\n", attrs: map[string]string{"context:alpine": "local:alpine"}},
		{name: "named context per platform", dockerfile: "FROM alpine\n", attrs: map[string]string{"context:alpine::linux/amd64": "docker-image://reg.example/a"}},
		{name: "other context", dockerfile: "FROM alpine\n", attrs: map[string]string{"context:busybox": "docker-image://reg.example/b"}, want: "docker.io/library/alpine:latest"},
		{name: "escape directive", dockerfile: "# escape=`\nARG B=reg.example/base:1\nFROM $B\n", want: "reg.example/base:1"},
		{name: "does not parse", dockerfile: "FROM\n"},
		{name: "bad name", dockerfile: "FROM Reg.Example/UPPER:1\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(path, []byte(tt.dockerfile), 0o644); err != nil {
				t.Fatal(err)
			}
			attrs := tt.attrs
			if attrs == nil {
				attrs = map[string]string{}
			}
			pl := &Plan{p: &plan{dockerfile: path, attrs: attrs, platforms: tt.platforms}}
			if got := pl.BaseImage(); got != tt.want {
				t.Errorf("BaseImage() = %q, want %q", got, tt.want)
			}
		})
	}
	if got := (&Plan{p: &plan{dockerfile: filepath.Join(t.TempDir(), "none")}}).BaseImage(); got != "" {
		t.Errorf("BaseImage() of a missing Dockerfile = %q", got)
	}
}

const baseTestHex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// Package dockercli implements the Docker CLI plugin protocol for affix, so
// that the affix binary installed as ~/.docker/cli-plugins/docker-affix
// answers `docker affix build|push|attach|ls|get|convert|version`.
//
// The docker CLI first runs the plugin with the single argument
// "docker-cli-plugin-metadata" and expects a JSON Metadata on stdout; it
// then runs it as `docker-affix affix ARGS...` for `docker affix ARGS...`.
package dockercli

import (
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
)

const (
	// Name is the plugin's command name under docker.
	Name = "affix"
	// Binary is the plugin's file name in a cli-plugins directory.
	Binary = "docker-" + Name
	// MetadataSubcommand is the argument the docker CLI calls the plugin
	// with to read its Metadata.
	MetadataSubcommand = "docker-cli-plugin-metadata"
	// SchemaVersion is the metadata schema the docker CLI accepts.
	SchemaVersion = "0.1.0"
)

// Metadata is what the plugin prints for MetadataSubcommand.
type Metadata struct {
	SchemaVersion    string `json:"SchemaVersion"`
	Vendor           string `json:"Vendor"`
	Version          string `json:"Version,omitempty"`
	ShortDescription string `json:"ShortDescription,omitempty"`
	URL              string `json:"URL,omitempty"`
}

// Invoked reports whether argv0 (os.Args[0]) names the plugin binary, that
// is whether the process runs as a Docker CLI plugin.
func Invoked(argv0 string) bool {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	return base == Binary
}

// Args turns the plugin's arguments (os.Args[1:]) into affix arguments.
// metadata is true when the docker CLI asks for the plugin's Metadata.
func Args(args []string) (rest []string, metadata bool) {
	if len(args) == 1 && args[0] == MetadataSubcommand {
		return nil, true
	}
	if len(args) > 0 && args[0] == Name {
		return args[1:], false
	}
	return args, false
}

// WriteMetadata writes the plugin Metadata for affix version v to w.
func WriteMetadata(w io.Writer, v string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Metadata{
		SchemaVersion:    SchemaVersion,
		Vendor:           "affix",
		Version:          v,
		ShortDescription: "Build images with BuildKit and push each platform's SBOM as an OCI referrer",
		URL:              "https://github.com/affix-oci/affix",
	})
}

package dockercli

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		in       []string
		want     []string
		metadata bool
	}{
		{[]string{"docker-cli-plugin-metadata"}, nil, true},
		{[]string{"affix", "version"}, []string{"version"}, false},
		{[]string{"affix"}, []string{}, false},
		{[]string{"version"}, []string{"version"}, false},
		{nil, nil, false},
	}
	for _, tt := range tests {
		got, md := Args(tt.in)
		if md != tt.metadata || !slices.Equal(got, tt.want) {
			t.Errorf("Args(%q) = %q, %v; want %q, %v", tt.in, got, md, tt.want, tt.metadata)
		}
	}
}

func TestInvoked(t *testing.T) {
	for in, want := range map[string]bool{
		"/root/.docker/cli-plugins/docker-affix": true,
		"docker-affix.exe":                       true,
		"/usr/local/bin/affix":                   false,
		"docker":                                 false,
	} {
		if got := Invoked(in); got != want {
			t.Errorf("Invoked(%q) = %v", in, got)
		}
	}
}

func TestWriteMetadata(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMetadata(&b, "v1.2.3"); err != nil {
		t.Fatal(err)
	}
	var m Metadata
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != "0.1.0" || m.Vendor == "" || m.Version != "v1.2.3" {
		t.Errorf("metadata = %+v", m)
	}
}

package integration

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/registrytest"
)

// lsJSON is the part of `affix ls --json` the tests read.
type lsJSON struct {
	Root struct {
		Digest   string `json:"digest"`
		Children []struct {
			Kind     string `json:"kind"`
			Platform string `json:"platform"`
			Digest   string `json:"digest"`
			// Children are a platform's referrers and the attestation
			// manifests of the index that describe it.
			Children []struct {
				Kind           string   `json:"kind"`
				Digest         string   `json:"digest"`
				ArtifactType   string   `json:"artifactType"`
				PredicateTypes []string `json:"predicateTypes"`
			} `json:"children"`
		} `json:"children"`
	} `json:"root"`
}

// lsHas reports whether the tree lists the referrer digest under the
// platform manifest platform, or under the index when platform is "".
func lsHas(tree lsJSON, platform, digest string) bool {
	for _, c := range tree.Root.Children {
		if platform == "" && c.Kind == "referrer" && c.Digest == digest {
			return true
		}
		if platform != "" && c.Kind == "manifest" && c.Platform == platform {
			for _, r := range c.Children {
				if r.Kind == "referrer" && r.Digest == digest {
					return true
				}
			}
		}
	}
	return false
}

// TestBuildProvenance: --provenance=mode=max puts BuildKit's SLSA
// provenance attestation for each platform into the pushed index (as
// buildx does), beside affix's SBOM referrers, which do not change: each
// platform manifest still has its one SPDX referrer, verified by get, and
// no provenance manifest is scanned.
func TestBuildProvenance(t *testing.T) {
	d := daemon(t, 0)
	dir := twoContext(t)
	reg := registry(t, registrytest.OlaregNoAPI)
	e := newEnv(t)
	ref := reg.Ref("provenance:v1")
	meta := filepath.Join(t.TempDir(), "meta.json")
	e.ok(t, "build", "--builder", d.Addr, "--platform", strings.Join(twoPlatforms, ","), "--provenance=mode=max",
		"--push", "-t", ref, "--insecure-registry", reg.Host, "--metadata-file", meta, dir)
	if m := readMeta(t, meta); len(m.SBOMs) != len(twoPlatforms) {
		t.Errorf("metadata sboms %+v, want one per platform", m.SBOMs)
	}

	var tree lsJSON
	if err := json.Unmarshal([]byte(e.ok(t, "ls", "--json", "--insecure-registry", reg.Host, ref).stdout), &tree); err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, c := range tree.Root.Children {
		if c.Kind != "manifest" {
			t.Errorf("index child %+v, want platform manifests only", c)
			continue
		}
		platforms = append(platforms, c.Platform)
		var sboms, provenance int
		for _, r := range c.Children {
			switch {
			case r.Kind == "referrer" && r.ArtifactType == mediaTypeSPDX:
				sboms++
			case r.Kind == "attestation" && slices.ContainsFunc(r.PredicateTypes, func(p string) bool { return strings.HasPrefix(p, "https://slsa.dev/provenance/") }):
				provenance++
			default:
				t.Errorf("%s: unexpected %+v", c.Platform, r)
			}
		}
		if sboms != 1 || provenance != 1 {
			t.Errorf("%s: %d SPDX referrers and %d provenance attestations, want 1 and 1", c.Platform, sboms, provenance)
		}
	}
	if !slices.Equal(platforms, twoPlatforms) {
		t.Errorf("index platforms %v, want %v", platforms, twoPlatforms)
	}
	for _, p := range twoPlatforms {
		e.ok(t, "get", "--verify", "--insecure-registry", reg.Host, "--platform", p, ref)
	}
}

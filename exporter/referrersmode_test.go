package exporter_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestReferrersModePerPut: whether a referrer goes into its subject's
// referrers tag is decided by the answer to its own manifest PUT, not by
// the first referrer's (distribution-spec v1.1, "Pushing Manifests with
// Subject": the client updates the referrers tag whenever the OCI-Subject
// header was not set for that push). A proxy edits the OCI-Subject of the
// referrer PUTs' answers, in the order they come (two platforms, their
// SBOMs attached one after the other): a referrer answered with its
// subject's digest is the API's; one answered without it goes into its
// referrers tag, unless an earlier PUT was answered with the header and
// the registry's referrers API lists it (one read; where the API does
// not, a warning says that its readers will not see it). The repository
// is reported tag-schema when any referrer went into a tag.
func TestReferrersModePerPut(t *testing.T) {
	const (
		keep    = "keep"    // the registry's answer as it is
		subject = "subject" // OCI-Subject: the PUT's subject
		none    = ""        // no OCI-Subject
		other   = "other"   // OCI-Subject: another digest
	)
	tests := []struct {
		name string
		kind registrytest.Kind
		// edits[n] is what the proxy makes of the OCI-Subject of the
		// answer to the n-th referrer PUT (keep beyond).
		edits []string
		// hideAPI: the referrers API answers 403 through the proxy.
		hideAPI bool
		// ignore: the target ignores OCI-Subject
		// (RemoteOptions.IgnoreSubjectHeader, as for Docker Hub).
		ignore bool
	}{
		{"no API, the first answered with OCI-Subject", registrytest.OlaregNoAPI, []string{subject}, false, false},
		{"distribution, the first answered with OCI-Subject", registrytest.Distribution, []string{subject}, false, false},
		{"no API, the second answered with OCI-Subject", registrytest.OlaregNoAPI, []string{keep, subject}, false, false},
		{"no API, another digest then the subject", registrytest.OlaregNoAPI, []string{other, subject}, false, false},
		{"API, the second answered without OCI-Subject", registrytest.OlaregAPI, []string{keep, none}, false, false},
		{"API, the first answered with another digest", registrytest.OlaregAPI, []string{other}, false, false},
		{"API, every answer as it is", registrytest.OlaregAPI, nil, false, false},
		{"API unreadable, the second answered without OCI-Subject", registrytest.OlaregAPI, []string{keep, none}, true, false},
		{"no API, every answer as it is", registrytest.OlaregNoAPI, nil, false, false},
		{"no API, every answer with OCI-Subject, ignored (Docker Hub)", registrytest.OlaregNoAPI, []string{subject, subject}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			reg := registrytest.Start(t, tt.kind, registrytest.Options{})
			proxy := registrytest.StartProxy(t, reg.Host)
			var mu sync.Mutex
			n := 0
			seen := map[digest.Digest]string{} // the OCI-Subject each subject's referrer PUT was answered with
			proxy.Inject(registrytest.Fault{Method: http.MethodPut, Path: "/manifests/sha256:", Action: registrytest.ResponseHeader,
				Header: func(_ *http.Request, body []byte) map[string]string {
					var m ocispec.Manifest
					if json.Unmarshal(body, &m) != nil || m.Subject == nil {
						return nil
					}
					mu.Lock()
					defer mu.Unlock()
					edit := keep
					if n < len(tt.edits) {
						edit = tt.edits[n]
					}
					n++
					var h string
					switch edit {
					case keep:
						if reg.Referrers {
							h = m.Subject.Digest.String()
						}
						seen[m.Subject.Digest] = h
						return nil
					case subject:
						h = m.Subject.Digest.String()
					case other:
						h = digest.FromString("another subject").String()
					}
					seen[m.Subject.Digest] = h
					return map[string]string{"OCI-Subject": h}
				}})
			if tt.hideAPI {
				// The registry's referrers API refuses to answer: a
				// referrer answered without the header after one with
				// it goes into the tag, with a warning.
				proxy.Inject(registrytest.Fault{Method: http.MethodGet, Path: "/referrers/", Action: registrytest.Status, Code: http.StatusForbidden})
			}
			l, res := source(t, twoPlatforms(false))
			c, _ := client(nil)
			tgt, err := exporter.NewRemote(registry.Reference{Registry: proxy.Host, Repository: "app"}, exporter.RemoteOptions{Client: c, PlainHTTP: true, IgnoreSubjectHeader: tt.ignore})
			if err != nil {
				t.Fatal(err)
			}
			// The referrers one after the other, so that the n-th PUT
			// is the n-th platform's.
			var warnings []string
			p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1", VerifyDelay: 20e6,
				Warnf: func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }})
			images := make(chan error, 1)
			go func() { images <- p.Images(ctx) }()
			for _, m := range res.Manifests {
				if _, err := p.Attach(ctx, sbomArtifact(m)); err != nil {
					t.Fatal(err)
				}
			}
			if err := <-images; err != nil {
				t.Fatal(err)
			}
			got, err := p.Commit(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tag := resolve(t, reg.Host, "app", "v1"); tag != res.Index.Digest {
				t.Fatalf("tag v1 names %s, want %s", tag, res.Index.Digest)
			}
			if len(seen) != len(res.Manifests) || len(got.Referrers) != len(res.Manifests) {
				t.Fatalf("referrer PUTs answered %v, referrers %v", seen, got.Referrers)
			}
			// A PUT answered without the subject goes into the tag,
			// unless an earlier one was answered with it and the
			// registry's API lists the referrer (it has the API).
			wantMode := exporter.ModeAPI
			direct := target(t, reg.Host, "app", c)
			apiSeen, wantWarnings := false, 0
			for _, m := range res.Manifests {
				i := slices.IndexFunc(got.Referrers, func(r exporter.Referrer) bool { return r.Subject == m.Digest })
				r := got.Referrers[i]
				tagged := seen[r.Subject] != r.Subject.String() || tt.ignore
				switch {
				case !tagged:
					apiSeen = true
				case apiSeen && reg.Referrers && !tt.hideAPI:
					tagged = false // confirmed through the API
				case apiSeen && reg.Referrers:
					wantWarnings++ // the API could not be read
				}
				want := exporter.ModeAPI
				if tagged {
					want, wantMode = exporter.ModeTagSchema, exporter.ModeTagSchema
				}
				if r.Mode != want {
					t.Errorf("referrer of %s answered OCI-Subject %q: mode %s, want %s", r.Subject, seen[r.Subject], r.Mode, want)
				}
				idx, err := exporter.ReadReferrersIndex(ctx, direct, r.Subject)
				if err != nil {
					t.Fatal(err)
				}
				listed := slices.ContainsFunc(idx.Manifests, func(d ocispec.Descriptor) bool { return d.Digest == r.Descriptor.Digest })
				if listed != tagged {
					t.Errorf("referrer of %s answered OCI-Subject %q: listed by its referrers tag %v, want %v", r.Subject, seen[r.Subject], listed, tagged)
				}
				if reg.Referrers && !tagged {
					// The registry's own list has it. Not checked for a
					// referrer whose tag was written: olareg v0.1.2 keeps
					// its referrers response as an entry of its index.json,
					// and a referrers tag whose bytes are that response
					// (one entry, the same descriptor) replaces the entry,
					// emptying the list the API gives.
					refs, err := direct.ReferrersAPI(ctx, r.Subject)
					if err != nil || !slices.ContainsFunc(refs, func(d ocispec.Descriptor) bool { return d.Digest == r.Descriptor.Digest }) {
						t.Errorf("referrers API of %s: %v, %v", r.Subject, refs, err)
					}
				}
			}
			if m := got.Modes[tgt.Name()]; m != wantMode {
				t.Errorf("repository mode %s, want %s (answers %v)", m, wantMode, seen)
			}
			if len(warnings) != wantWarnings || wantWarnings > 0 && !strings.Contains(warnings[0], "which clients that use the registry's referrers API (affix ls, oras discover) do not read") {
				t.Errorf("warnings %q, want %d", warnings, wantWarnings)
			}
		})
	}
}

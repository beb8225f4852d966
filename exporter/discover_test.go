package exporter_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestFinderFallsBack: a referrers endpoint answered 404, 405, 501 or 401
// without a challenge means no referrers API, and the Finder reads the
// referrers tag instead (and keeps doing so). One that refuses the
// credentials (403) gives the referrers tag's list when it has one, for
// that subject only; with none, the refusal stands. Any other failure is
// an error, not an empty list.
func TestFinderFallsBack(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	c, _ := client(nil)
	if _, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	subject := res.Manifests[0].Digest
	for _, tt := range []struct {
		code                 int
		fallBack, remembered bool
	}{
		{http.StatusNotFound, true, true},
		{http.StatusMethodNotAllowed, true, true},
		{http.StatusNotImplemented, true, true},
		{http.StatusUnauthorized, true, true},
		{http.StatusForbidden, true, false},
		{http.StatusBadGateway, false, false},
	} {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: "GET", Path: "/referrers/", Action: registrytest.Status, Code: tt.code})
			pc, _ := client(nil)
			f := exporter.NewFinder(target(t, proxy.Host, "app", pc))
			refs, mode, err := f.Referrers(ctx, subject)
			if !tt.fallBack {
				if err == nil || !strings.Contains(err.Error(), "referrers of") {
					t.Fatalf("Referrers = %v, %s, %v; want an error", refs, mode, err)
				}
				return
			}
			if err != nil || mode != exporter.ModeTagSchema || len(refs) != 1 {
				t.Fatalf("Referrers = %v, %s, %v; want the one referrer through the tag schema", refs, mode, err)
			}
			// No API is remembered: the second subject costs no API
			// call. A refusal is not.
			before := len(proxy.Log())
			if _, mode, err := f.Referrers(ctx, res.Manifests[1].Digest); err != nil || mode != exporter.ModeTagSchema {
				t.Fatalf("second subject: %s, %v", mode, err)
			}
			asked := slices.ContainsFunc(proxy.Log()[before:], func(line string) bool { return strings.Contains(line, "/referrers/") })
			if asked == tt.remembered {
				t.Errorf("second subject: referrers API asked %v, want %v:\n%s", asked, !tt.remembered, strings.Join(proxy.Log()[before:], "\n"))
			}
			// A subject the tag lists nothing for: a refusal stays an
			// error, not an empty list.
			refs, _, err = f.Referrers(ctx, res.Index.Digest)
			if tt.remembered && (err != nil || len(refs) != 0) {
				t.Errorf("subject without referrers: %v, %v; want none", refs, err)
			}
			if !tt.remembered && err == nil {
				t.Errorf("subject without referrers, API refused: %v, want the refusal", refs)
			}
		})
	}
}

// TestFinderKeepsAPI: once the referrers API has answered, a 404 for
// another subject (as registries answer for a subject the repository does
// not hold) is that subject having no referrers, not a registry without
// the API: the Finder stays with the API. A 404 first still falls back.
func TestFinderKeepsAPI(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	c, _ := client(nil)
	if _, err := pushAll(ctx, target(t, reg.Host, "app", c), l, res, exporter.Options{Tag: "v1"}); err != nil {
		t.Fatal(err)
	}
	held, absent := res.Manifests[0].Digest, res.Manifests[1].Digest
	for _, tt := range []struct {
		name  string
		order []string // "held" or "absent", looked up in turn
		modes []exporter.Mode
		refs  []int
	}{
		{"API first", []string{"held", "absent", "held"}, []exporter.Mode{exporter.ModeAPI, exporter.ModeAPI, exporter.ModeAPI}, []int{1, 0, 1}},
		{"404 first", []string{"absent", "held"}, []exporter.Mode{exporter.ModeTagSchema, exporter.ModeTagSchema}, []int{0, 0}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: "GET", Path: "/referrers/" + absent.String(), Action: registrytest.Status, Code: http.StatusNotFound})
			pc, _ := client(nil)
			f := exporter.NewFinder(target(t, proxy.Host, "app", pc))
			for i, which := range tt.order {
				d := held
				if which == "absent" {
					d = absent
				}
				refs, mode, err := f.Referrers(ctx, d)
				if err != nil || mode != tt.modes[i] || len(refs) != tt.refs[i] {
					t.Errorf("lookup %d (%s): %d referrers, %s, %v; want %d, %s", i, which, len(refs), mode, err, tt.refs[i], tt.modes[i])
				}
			}
			if got := f.Mode(); got != tt.modes[len(tt.modes)-1] {
				t.Errorf("Mode() = %s", got)
			}
		})
	}
}

package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
)

// TestReferrersAPIPages: the referrers API's pages are all read, whatever
// the form of their Link headers; a page after the first that fails, or a
// list that does not end, is an error (never the pages read so far), and
// does not make the Finder take the registry for one without the API.
func TestReferrersAPIPages(t *testing.T) {
	subject := digest.FromString("subject")
	for _, tt := range []struct {
		name  string
		links func(page int, next string) []string // Link field lines of page
		fail  int                                  // the page (from 1) answered 404; 0 for none
		pages int                                  // pages the list has
		err   string
	}{
		{name: "rel last", pages: 3, links: func(_ int, next string) []string {
			return []string{`<` + next + `>; type="application/vnd.oci.image.index.v1+json"; rel="next"`}
		}},
		{name: "several Link lines", pages: 3, links: func(page int, next string) []string {
			return []string{`<?page=` + strconv.Itoa(page-1) + `>; rel="prev"`, `<` + next + `>; rel="next"`}
		}},
		{name: "second page gone", pages: 3, fail: 2, err: "(page 2)", links: func(_ int, next string) []string {
			return []string{`<` + next + `>; rel="next"`}
		}},
		{name: "endless", pages: 1 << 20, err: "more than 100 pages", links: func(_ int, next string) []string {
			return []string{`<` + next + `>; rel="next"`}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v2/app/referrers/"+subject.String() {
					http.NotFound(w, r)
					return
				}
				page := 1
				if p := r.URL.Query().Get("page"); p != "" {
					page, _ = strconv.Atoi(p)
				}
				if page == tt.fail {
					http.NotFound(w, r)
					return
				}
				if page < tt.pages {
					for _, l := range tt.links(page, r.URL.Path+"?page="+strconv.Itoa(page+1)) {
						w.Header().Add("Link", l)
					}
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				json.NewEncoder(w).Encode(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{{
					MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/example", Size: 2,
					Digest: digest.FromString(fmt.Sprint("page ", page)),
				}}})
			}))
			defer srv.Close()
			c, _ := client(nil)
			f := exporter.NewFinder(target(t, strings.TrimPrefix(srv.URL, "http://"), "app", c))
			refs, mode, err := f.Referrers(context.Background(), subject)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || errors.Is(err, exporter.ErrReferrersAPIUnsupported) {
					t.Fatalf("Referrers = %d, %s, %v; want an error saying %q", len(refs), mode, err, tt.err)
				}
				if f.Mode() == exporter.ModeTagSchema {
					t.Error("a failed page made the Finder read the referrers tag from now on")
				}
				return
			}
			if err != nil || mode != exporter.ModeAPI || len(refs) != tt.pages {
				t.Fatalf("Referrers = %d, %s, %v; want %d through the API", len(refs), mode, err, tt.pages)
			}
		})
	}
}

package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// noAPITarget is a memTarget whose registry does not index referrers: a
// referrer's PUT gets no OCI-Subject, so pushes use the referrers tag.
type noAPITarget struct{ *memTarget }

func (n noAPITarget) PushManifest(ctx context.Context, d ocispec.Descriptor, data []byte, reference, ifMatch string) (digest.Digest, error) {
	_, err := n.memTarget.PushManifest(ctx, d, data, reference, ifMatch)
	return "", err
}

// TestReferrersTagConflictMessages: a referrers tag that holds something
// else is ErrReferrersTagConflict, named neutrally for readers (affix ls
// shows it) and as a refusal on the write path, which leaves it alone.
func TestReferrersTagConflictMessages(t *testing.T) {
	ctx := context.Background()
	subjectBytes := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2},"layers":[]}`)
	subject := oci.DescriptorFor(ocispec.MediaTypeImageManifest, subjectBytes)
	other := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2},"layers":[]}`)
	listsSubject, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{subject}})
	tag := exporter.ReferrersTag(subject.Digest)
	tests := []struct {
		name string
		held []byte // what the referrers tag holds
		msg  string
	}{
		{"the subject itself", subjectBytes, tag + " resolves to the subject " + subject.Digest.String() + " itself"},
		{"another manifest", other, tag + " is " + ocispec.MediaTypeImageManifest + " (" + digest.FromBytes(other).String() + "), not an image index"},
		{"an index listing the subject", listsSubject, tag + " lists the subject " + subject.Digest.String() + " itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMemTarget()
			mem.manifests[tag] = tt.held
			_, err := exporter.ReadReferrersIndex(ctx, mem, subject.Digest)
			if !errors.Is(err, exporter.ErrReferrersTagConflict) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("read: %v, want ErrReferrersTagConflict with %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "overwrit") {
				t.Errorf("a read talks about writing: %v", err)
			}
			// The write path refuses, says so, and leaves the tag alone.
			p := exporter.New(noAPITarget{mem}, nil, exporter.Options{})
			defer p.Abort()
			_, err = p.Attach(ctx, exporter.SBOM(subject, oci.MediaTypeSPDX, []byte("{}"), created, nil))
			if !errors.Is(err, exporter.ErrReferrersTagConflict) || !strings.Contains(err.Error(), tt.msg+"; not overwriting it") {
				t.Fatalf("attach: %v, want %q", err, tt.msg+"; not overwriting it")
			}
			if gitlab := strings.Contains(err.Error(), "this registry resolves every referrers tag to its subject"); gitlab != (tt.name == "the subject itself") {
				t.Errorf("attach: %v: says the registry can hold no referrers tag: %v, want %v", err, gitlab, !gitlab)
			}
			if string(mem.manifests[tag]) != string(tt.held) {
				t.Errorf("referrers tag overwritten")
			}
		})
	}
}

// TestReferrersTagArtifactManifest: a referrers tag that holds an OCI 1.1
// release candidate's artifact manifest (oras 1.0 wrote referrers so), on
// a registry that answers 404 to a read whose Accept does not list what
// the tag holds, is asked for with that media type too, so that it is
// refused as not an image index rather than taken for absent and
// overwritten. The fake serves the tag so in front of each registry
// without the API.
func TestReferrersTagArtifactManifest(t *testing.T) {
	for _, kind := range []registrytest.Kind{registrytest.OlaregNoAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			reg := registrytest.Start(t, kind, registrytest.Options{})
			l, res := source(t, twoPlatforms(false))
			subject := res.Manifests[0]
			tag := exporter.ReferrersTag(subject.Digest)
			const artifactType = "application/vnd.oci.artifact.manifest.v1+json"
			held := []byte(`{"mediaType":"` + artifactType + `","artifactType":"application/vnd.example.sig","subject":{"mediaType":"` + subject.MediaType + `","digest":"` + subject.Digest.String() + `","size":` + strconv.FormatInt(subject.Size, 10) + `}}`)
			var mu sync.Mutex
			var accepts []string
			wrote := false
			backend := &url.URL{Scheme: "http", Host: reg.Host}
			rp := httputil.NewSingleHostReverseProxy(backend)
			fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/v2/app/manifests/"+tag {
					rp.ServeHTTP(w, r)
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if r.Method == http.MethodPut {
					wrote = true
					w.WriteHeader(http.StatusCreated)
					return
				}
				accepts = append(accepts, r.Header.Get("Accept"))
				// Strict, as olareg: the type held, or 404.
				if !slices.ContainsFunc(strings.Split(r.Header.Get("Accept"), ","), func(a string) bool { return strings.TrimSpace(a) == artifactType }) {
					w.WriteHeader(http.StatusNotFound)
					io.WriteString(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"requested media type not found"}]}`)
					return
				}
				w.Header().Set("Content-Type", artifactType)
				w.Header().Set("Docker-Content-Digest", digest.FromBytes(held).String())
				w.Write(held)
			}))
			defer fake.Close()
			c, _ := client(nil)
			p := exporter.New(target(t, strings.TrimPrefix(fake.URL, "http://"), "app", c), &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
			defer p.Abort()
			if err := p.Images(ctx); err != nil {
				t.Fatal(err)
			}
			_, err := p.Attach(ctx, sbomArtifact(subject))
			want := tag + " is " + artifactType + " (" + digest.FromBytes(held).String() + "), not an image index; not overwriting it"
			if !errors.Is(err, exporter.ErrReferrersTagConflict) || !strings.Contains(err.Error(), want) {
				t.Fatalf("attach: %v, want ErrReferrersTagConflict with %q", err, want)
			}
			mu.Lock()
			defer mu.Unlock()
			if wrote {
				t.Errorf("the referrers tag holding an artifact manifest was overwritten")
			}
			// The read still asks for an index first, as every manifest
			// read does.
			if len(accepts) == 0 || !strings.HasPrefix(accepts[0], ocispec.MediaTypeImageIndex+", ") {
				t.Errorf("Accept of the referrers tag read: %q", accepts)
			}
		})
	}
}

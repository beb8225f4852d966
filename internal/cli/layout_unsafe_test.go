//go:build unix

package cli

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/affix-oci/affix/internal/oci"
)

// recordingRegistry is a registry that takes every upload and records its
// bodies: an attacker's registry, which a push must not send a file from
// outside the layout to.
type recordingRegistry struct {
	mu       sync.Mutex
	received [][]byte
}

func (r *recordingRegistry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	switch {
	case req.URL.Path == "/v2/":
	case req.Method == http.MethodHead || req.Method == http.MethodGet:
		w.WriteHeader(http.StatusNotFound)
	case req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/blobs/uploads/"):
		w.Header().Set("Location", "/v2/repo/blobs/uploads/u1")
		w.WriteHeader(http.StatusAccepted)
	default:
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.received = append(r.received, b)
		r.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}
}

// TestPushLayoutBlobLinksOut: a layout whose layer blob is a symbolic link
// to a file outside it (~/.ssh/id_rsa) fails the push naming the blob,
// and the registry never receives the file's bytes.
func TestPushLayoutBlobLinksOut(t *testing.T) {
	cliEnv(t)
	dir, res := variantsPair(t)
	secret := []byte("-----BEGIN OPENSSH PRIVATE KEY----- victim-secret\n")
	secretPath := writeFile(t, "id_rsa", secret)
	// Every blob but the manifests and indexes: a layer or config.
	var target string
	for d := range res.Blobs {
		if d != res.Manifests[0].Digest && d != res.Manifests[1].Digest && d != res.Index.Digest {
			target = filepath.Join(dir, "blobs", "sha256", d.Encoded())
			break
		}
	}
	if err := os.Remove(target); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secretPath, target); err != nil {
		t.Fatal(err)
	}
	rec := &recordingRegistry{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	_, errs, code := affix(t, "push", "--no-sbom", "--insecure-registry", host, "oci-layout:"+dir, host+"/repo:v1")
	if code == 0 {
		t.Fatal("push succeeded")
	}
	if !strings.Contains(errs, filepath.Base(target)) || !strings.Contains(errs, "out of the layout") {
		t.Errorf("stderr does not name the blob and why:\n%s", errs)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, b := range rec.received {
		if bytes.Contains(b, secret) {
			t.Fatal("the registry received the file outside the layout")
		}
	}
}

// TestAttachLayoutWriteLinksOut: attach into a layout whose blobs/sha256
// or ingest directory is a symbolic link out of it is refused before
// anything is written there.
func TestAttachLayoutWriteLinksOut(t *testing.T) {
	for _, name := range []string{"blobs/sha256", "ingest"} {
		t.Run(name, func(t *testing.T) {
			cliEnv(t)
			dir, _ := variantsPair(t)
			out := t.TempDir()
			p := filepath.Join(dir, filepath.FromSlash(name))
			if name == "blobs/sha256" {
				// Its blobs move out with it (reading the image is
				// then refused too; either refusal will do).
				if err := os.Rename(p, filepath.Join(out, "sha256")); err != nil {
					t.Fatal(err)
				}
				out = filepath.Join(out, "sha256")
			}
			if err := os.Symlink(out, p); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			_, errs, code := affix(t, "attach", "--no-sbom-cache", "oci-layout:"+dir)
			if code == 0 {
				t.Fatal("attach succeeded")
			}
			if !strings.Contains(errs, name) || !strings.Contains(errs, "out of the layout") {
				t.Errorf("stderr does not name %s and why:\n%s", name, errs)
			}
			after, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(after) != len(before) {
				t.Errorf("%d entries written outside the layout", len(after)-len(before))
			}
		})
	}
	// The error is the sentinel, for callers.
	dir, _ := variantsPair(t)
	if err := os.Symlink(t.TempDir(), filepath.Join(dir, "ingest")); err != nil {
		t.Fatal(err)
	}
	if err := oci.CheckLayoutWrite(dir); !errors.Is(err, oci.ErrUnsafeLayout) {
		t.Errorf("CheckLayoutWrite: %v, want ErrUnsafeLayout", err)
	}
}

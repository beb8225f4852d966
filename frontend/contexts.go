package frontend

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/util/gitutil"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// addContext adds a NAME=VALUE named build context.
func (p *plan) addContext(s string) error {
	name, v, ok := strings.Cut(s, "=")
	if !ok || name == "" || v == "" {
		return optErr("build-context %q: want NAME=VALUE", s)
	}
	key := "context:" + name
	if _, dup := p.attrs[key]; dup {
		return optErr("build-context %q: %s given twice", s, name)
	}
	switch {
	case strings.HasPrefix(v, "docker-image://"):
		if _, err := reference.ParseNormalizedNamed(strings.TrimPrefix(v, "docker-image://")); err != nil {
			return fmt.Errorf("build-context %q: %w: %w", s, ErrInvalidOption, err)
		}
		p.attrs[key] = v
	case strings.HasPrefix(v, "oci-layout://"):
		ref, err := p.ociLayoutContext(name, strings.TrimPrefix(v, "oci-layout://"))
		if err != nil {
			return fmt.Errorf("build-context %q: %w", s, err)
		}
		p.attrs[key] = ref
	case strings.HasPrefix(v, "target:"):
		return optErr("build-context %q: target: contexts are a bake feature", s)
	case strings.HasPrefix(v, "http://"), strings.HasPrefix(v, "https://"), gitutil.IsGitTransport(v):
		p.attrs[key] = v
	default:
		dir, err := filepath.Abs(v)
		if err != nil {
			return err
		}
		fi, err := os.Stat(dir)
		if err != nil {
			return fmt.Errorf("build-context %q: %w: %w", s, ErrInvalidOption, err)
		}
		if !fi.IsDir() {
			return optErr("build-context %q: %s is not a directory", s, v)
		}
		local := name
		if local == "context" || local == "dockerfile" {
			local = "_" + local
		}
		p.locals[local] = dir
		p.attrs[key] = "local:" + local
	}
	return nil
}

// ociLayoutContext resolves PATH[:TAG][@DIGEST] to the form the Dockerfile
// frontend reads, oci-layout://STOREID:TAG@DIGEST, and registers the store.
func (p *plan) ociLayoutContext(name, v string) (string, error) {
	path, dgst, hasDigest := strings.Cut(v, "@")
	tag := ""
	if i := strings.LastIndex(path, ":"); i > strings.LastIndex(path, "/") {
		path, tag = path[:i], path[i+1:]
	}
	if path == "" {
		return "", optErr("no layout path")
	}
	dir, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(dir, ocispec.ImageIndexFile))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOption, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return "", fmt.Errorf("%s: %w: %w", filepath.Join(dir, ocispec.ImageIndexFile), ErrInvalidOption, err)
	}
	if hasDigest {
		if err := digest.Digest(dgst).Validate(); err != nil {
			return "", fmt.Errorf("digest %q: %w: %w", dgst, ErrInvalidOption, err)
		}
	} else {
		var found []ocispec.Descriptor
		for _, d := range idx.Manifests {
			if tag == "" || d.Annotations[ocispec.AnnotationRefName] == tag || strings.HasSuffix(d.Annotations[oci.AnnotationImageName], ":"+tag) {
				found = append(found, d)
			}
		}
		if len(found) != 1 {
			return "", optErr("%s: %d images match tag %q; name one with :TAG or @DIGEST", dir, len(found), tag)
		}
		dgst = found[0].Digest.String()
	}
	if tag == "" {
		tag = "latest"
	}
	id := "affix-" + digest.FromString(name + "\x00" + dir).Encoded()[:16]
	p.ociStores[id] = dir
	return "oci-layout://" + id + ":" + tag + "@" + dgst, nil
}

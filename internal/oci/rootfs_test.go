//go:build unix

package oci_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/oci"
)

// secretFile writes a file outside any layout, as ~/.ssh/id_rsa would be.
func secretFile(t *testing.T) (string, []byte) {
	t.Helper()
	secret := []byte("-----BEGIN OPENSSH PRIVATE KEY----- victim-secret\n")
	p := filepath.Join(t.TempDir(), "id_rsa")
	if err := os.WriteFile(p, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	return p, secret
}

// TestLayoutUnsafeEntries: a layout is untrusted input. A blob (or a
// directory above it, or index.json) that is a symbolic link out of the
// layout, a FIFO or a directory is refused with ErrUnsafeLayout naming it,
// before any byte of it is read; a link that stays inside the layout is
// followed; a blob of the wrong size fails before it is read.
func TestLayoutUnsafeEntries(t *testing.T) {
	ctx := context.Background()
	secretPath, secret := secretFile(t)
	// A descriptor for the secret, as an evil index.json would list it.
	evil := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.FromString("not the secret"), Size: int64(len(secret))}
	tests := []struct {
		name string
		// edit changes the layout; it returns the descriptor to fetch.
		edit  func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor
		want  error  // from Fetch; nil: it reads m
		where string // what the error names
	}{
		{"normal", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor { return m }, nil, ""},
		{"blob links out", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			symlink(t, secretPath, blobFile(dir, evil.Digest))
			return evil
		}, oci.ErrUnsafeLayout, "blobs/sha256/" + evil.Digest.Encoded()},
		{"blob links out relatively", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			rel, err := filepath.Rel(filepath.Join(dir, "blobs", "sha256"), secretPath)
			if err != nil {
				t.Fatal(err)
			}
			symlink(t, rel, blobFile(dir, evil.Digest))
			return evil
		}, oci.ErrUnsafeLayout, "blobs/sha256/" + evil.Digest.Encoded()},
		{"blob links inside", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			p := blobFile(dir, m.Digest)
			if err := os.Rename(p, filepath.Join(dir, "moved")); err != nil {
				t.Fatal(err)
			}
			symlink(t, "../../moved", p)
			return m
		}, nil, ""},
		{"blob directory links out", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			out := t.TempDir()
			if err := os.Rename(filepath.Join(dir, "blobs", "sha256"), filepath.Join(out, "sha256")); err != nil {
				t.Fatal(err)
			}
			symlink(t, filepath.Join(out, "sha256"), filepath.Join(dir, "blobs", "sha256"))
			return m
		}, oci.ErrUnsafeLayout, "blobs/sha256"},
		// A relative link inside the layout is followed; a later link
		// out of it is the one named.
		{"blob directory links inside, blob out", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			if err := os.Rename(filepath.Join(dir, "blobs"), filepath.Join(dir, "realblobs")); err != nil {
				t.Fatal(err)
			}
			symlink(t, "realblobs", filepath.Join(dir, "blobs"))
			symlink(t, secretPath, blobFile(dir, evil.Digest))
			return evil
		}, oci.ErrUnsafeLayout, "blobs/sha256/" + evil.Digest.Encoded() + ": a symbolic link to " + secretPath + ", out of the layout"},
		// A root follows no absolute link, even one into the layout: the
		// error says so rather than "out of the layout".
		{"absolute link inside", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			p := blobFile(dir, m.Digest)
			if err := os.Rename(p, filepath.Join(dir, "moved")); err != nil {
				t.Fatal(err)
			}
			symlink(t, filepath.Join(dir, "moved"), p)
			return m
		}, oci.ErrUnsafeLayout, "(a layout's links are followed only when relative and inside it)"},
		{"FIFO blob", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			p := blobFile(dir, m.Digest)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := syscall.Mkfifo(p, 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
			return m
		}, oci.ErrUnsafeLayout, "blobs/sha256/" + m0(t).Encoded()},
		{"directory blob", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			p := blobFile(dir, m.Digest)
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return m
		}, oci.ErrUnsafeLayout, "a directory"},
		{"wrong size", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			m.Size++
			return m
		}, oci.ErrDigestMismatch, m0(t).String()},
		{"corrupt, same size", func(t *testing.T, dir string, m ocispec.Descriptor) ocispec.Descriptor {
			p := blobFile(dir, m.Digest)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, bytes.Replace(b, []byte("layers"), []byte("lAyers"), 1), 0o644); err != nil {
				t.Fatal(err)
			}
			return m
		}, oci.ErrDigestMismatch, m0(t).String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, res := oneImageLayout(t)
			m := res.Manifests[0]
			desc := tt.edit(t, dir, m)
			l, err := oci.OpenLayout(ctx, "oci-layout:"+dir)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			rc, err := l.Fetch(ctx, desc)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Fetch: %v", err)
				}
				b, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || digest.FromBytes(b) != m.Digest {
					t.Fatalf("read %d bytes, %v", len(b), err)
				}
				if ok, err := l.Exists(ctx, desc); !ok || err != nil {
					t.Errorf("Exists = %v, %v", ok, err)
				}
				return
			}
			// The error comes from Fetch itself: nothing was handed out
			// to stream before the check.
			if err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				if bytes.Contains(b, secret) {
					t.Fatalf("Fetch yielded the secret outside the layout")
				}
				t.Fatalf("Fetch succeeded (read %d bytes), want %v", len(b), tt.want)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Fetch: %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.where) || !strings.Contains(err.Error(), dir) {
				t.Errorf("Fetch: %v, want it to name %s and the layout", err, tt.where)
			}
			if errors.Is(tt.want, oci.ErrUnsafeLayout) {
				if _, err := l.Exists(ctx, desc); !errors.Is(err, oci.ErrUnsafeLayout) {
					t.Errorf("Exists: %v, want ErrUnsafeLayout", err)
				}
			}
		})
	}
}

// m0 is the digest of oneImageLayout's manifest (the same every time).
func m0(t *testing.T) digest.Digest {
	t.Helper()
	_, res := oneImageLayout(t)
	return res.Manifests[0].Digest
}

// TestLayoutUnsafeIndex: index.json or oci-layout linked out of the
// layout, or a link that loops (to itself, or through another), is
// refused when the layout is opened, saying which: a loop is not "out of
// the layout".
func TestLayoutUnsafeIndex(t *testing.T) {
	for _, tt := range []struct {
		name, file string
		link       func(t *testing.T, dir, file string) // makes file a link
		msg        string
	}{
		{"index.json out", "index.json", linkOut, "out of the layout"},
		{"oci-layout out", "oci-layout", linkOut, "out of the layout"},
		{"index.json to itself", "index.json", func(t *testing.T, dir, file string) {
			replaceLink(t, "index.json", filepath.Join(dir, file))
		}, "stat index.json: a symbolic link to index.json that loops (it cannot be resolved)"},
		{"oci-layout to itself", "oci-layout", func(t *testing.T, dir, file string) {
			replaceLink(t, "oci-layout", filepath.Join(dir, file))
		}, "a symbolic link to oci-layout that loops"},
		{"index.json through a loop", "index.json", func(t *testing.T, dir, file string) {
			symlink(t, "b", filepath.Join(dir, "a"))
			symlink(t, "a", filepath.Join(dir, "b"))
			replaceLink(t, "a", filepath.Join(dir, file))
		}, "a symbolic link to a that loops"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := oneImageLayout(t)
			tt.link(t, dir, tt.file)
			l, err := oci.OpenLayout(context.Background(), "oci-layout:"+dir)
			if err == nil {
				l.Close()
				t.Fatal("no error")
			}
			if !errors.Is(err, oci.ErrUnsafeLayout) || !strings.Contains(err.Error(), tt.file) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v, want ErrUnsafeLayout naming %s: %q", err, tt.file, tt.msg)
			}
			if tt.msg != "out of the layout" && strings.Contains(err.Error(), "out of the layout") {
				t.Errorf("err = %v: a loop is not out of the layout", err)
			}
		})
	}
}

// linkOut moves dir's file out of the layout and links it there.
func linkOut(t *testing.T, dir, file string) {
	out := filepath.Join(t.TempDir(), file)
	if err := os.Rename(filepath.Join(dir, file), out); err != nil {
		t.Fatal(err)
	}
	symlink(t, out, filepath.Join(dir, file))
}

// replaceLink replaces the file p with a symbolic link to target.
func replaceLink(t *testing.T, target, p string) {
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	symlink(t, target, p)
}

// TestArchiveIgnoresLinks: an archive's symbolic link entries are not
// blobs; its regular entries still read.
func TestArchiveIgnoresLinks(t *testing.T) {
	ctx := context.Background()
	dir, res := oneImageLayout(t)
	secretPath, _ := secretFile(t)
	evil := digest.FromString("evil")
	symlink(t, secretPath, blobFile(dir, evil))
	tarPath := filepath.Join(t.TempDir(), "img.tar")
	if err := fixture.WriteArchive(dir, tarPath); err != nil {
		t.Skipf("the fixture archive writer does not take links: %v", err)
	}
	l, err := oci.OpenLayout(ctx, "oci-archive:"+tarPath)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := oci.ReadBlob(ctx, l, res.Manifests[0], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Fetch(ctx, ocispec.Descriptor{Digest: evil, Size: 10}); err == nil {
		t.Error("a link entry fetched as a blob")
	}
}

// TestCheckLayoutWrite: writing into a layout is refused when its blob or
// ingest directories, or a blob in it, lead out of it.
func TestCheckLayoutWrite(t *testing.T) {
	secretPath, _ := secretFile(t)
	tests := []struct {
		name  string
		edit  func(t *testing.T, dir string)
		where string // "" when it passes
	}{
		{"normal", func(*testing.T, string) {}, ""},
		{"no blobs yet", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "blobs")); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"ingest inside", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "ingest"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"blobs/sha256 links out", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "blobs", "sha256")); err != nil {
				t.Fatal(err)
			}
			symlink(t, t.TempDir(), filepath.Join(dir, "blobs", "sha256"))
		}, "blobs/sha256"},
		{"blobs links out", func(t *testing.T, dir string) {
			if err := os.RemoveAll(filepath.Join(dir, "blobs")); err != nil {
				t.Fatal(err)
			}
			symlink(t, t.TempDir(), filepath.Join(dir, "blobs"))
		}, "blobs"},
		{"ingest links out", func(t *testing.T, dir string) {
			symlink(t, t.TempDir(), filepath.Join(dir, "ingest"))
		}, "ingest"},
		{"ingest links to nothing outside", func(t *testing.T, dir string) {
			symlink(t, filepath.Join(t.TempDir(), "later"), filepath.Join(dir, "ingest"))
		}, "ingest"},
		{"ingest is a file", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "ingest"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "ingest"},
		{"blob links out", func(t *testing.T, dir string) {
			symlink(t, secretPath, blobFile(dir, digest.FromString("x")))
		}, digest.FromString("x").Encoded()},
		{"FIFO blob", func(t *testing.T, dir string) {
			if err := syscall.Mkfifo(blobFile(dir, digest.FromString("y")), 0o644); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}, digest.FromString("y").Encoded()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := oneImageLayout(t)
			tt.edit(t, dir)
			err := oci.CheckLayoutWrite(dir)
			if tt.where == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, oci.ErrUnsafeLayout) || !strings.Contains(err.Error(), tt.where) {
				t.Fatalf("err = %v, want ErrUnsafeLayout naming %s", err, tt.where)
			}
		})
	}
}

func blobFile(dir string, d digest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm().String(), d.Encoded())
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

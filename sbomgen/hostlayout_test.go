package sbomgen

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
)

// hostFile is one entry of a host image layer: the host file, directory
// or symbolic link src copied to path, or, with no src, a regular file
// holding data (a Go binary built by the test, a whiteout).
type hostFile struct {
	path string // in the image: slash-separated, no leading slash
	src  string
	data []byte
}

// hostLayer is a layer of the host image, its entries in any order.
type hostLayer struct {
	what  string // for the history and errors
	files []hostFile
}

// hostDeleted is the directory of a host package that the top layer of
// the host image deletes with a whiteout: an npm package (with files of
// the nodejs deb package) that neither affix nor syft may list.
const hostDeleted = "usr/lib/node_modules/corepack"

// hostLayers collects the host image's layers from the host's files:
// the Debian layer (os-release, the dpkg database, copyright files), the
// application layer (node_modules, Python package metadata, Go binaries)
// and a top layer that deletes hostDeleted. It skips the test when the
// host is not Debian.
func hostLayers(t *testing.T) []hostLayer {
	t.Helper()
	for _, p := range []string{"/etc/os-release", "/var/lib/dpkg/status", "/var/lib/dpkg/info", "/usr/share/doc"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("not a Debian host (%v): the host image is made of its dpkg database", err)
		}
	}
	deb := &hostSet{}
	deb.add("/etc/os-release")
	deb.add("/var/lib/dpkg/status")
	for _, ext := range []string{"list", "md5sums", "conffiles"} {
		deb.glob("/var/lib/dpkg/info/*." + ext)
	}
	deb.docCopyrights("/usr/share/doc")

	apps := &hostSet{}
	apps.tree("/usr/lib/node_modules")
	for _, g := range []string{"*.dist-info", "*.egg-info"} {
		matches, _ := filepath.Glob(filepath.Join("/usr/lib/python3/dist-packages", g))
		for _, m := range matches {
			apps.tree(m)
		}
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	apps.add(filepath.Join(strings.TrimSpace(string(goroot)), "bin", "gofmt"))
	bin, err := fixture.GoBinary(context.Background(), runtime.GOARCH, "")
	if err != nil {
		t.Fatal(err)
	}
	apps.files = append(apps.files, hostFile{path: fixture.GoBinaryPath, data: bin})
	if deb.err != nil || apps.err != nil {
		t.Fatalf("collecting host files: %v", cmpErr(deb.err, apps.err))
	}
	return []hostLayer{
		{"debian: os-release, dpkg database, copyright files", deb.files},
		{"applications: node_modules, python metadata, go binaries", apps.files},
		{"whiteout of " + hostDeleted, []hostFile{{path: fixture.Whiteout(hostDeleted).Path}}},
	}
}

func cmpErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// hostSet collects host files, each once; the first error is kept.
type hostSet struct {
	files []hostFile
	seen  map[string]bool
	err   error
}

// add adds the host file, directory or link p (absolute), and when p is a
// link, what it points to.
func (s *hostSet) add(p string) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[p] || s.err != nil {
		return
	}
	fi, err := os.Lstat(p)
	if err != nil {
		s.err = err
		return
	}
	s.seen[p] = true
	s.files = append(s.files, hostFile{path: strings.TrimPrefix(p, "/"), src: p})
	if fi.Mode()&fs.ModeSymlink != 0 {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			s.add(real)
		}
	}
}

// glob adds the files that match pattern.
func (s *hostSet) glob(pattern string) {
	matches, err := filepath.Glob(pattern)
	if err != nil {
		s.err = err
	}
	for _, m := range matches {
		s.add(m)
	}
}

// tree adds the file or directory p and everything beneath it.
func (s *hostSet) tree(p string) {
	err := filepath.WalkDir(p, func(q string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		s.add(q)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		s.err = err
	}
}

// docCopyrights adds, for each entry of dir (/usr/share/doc), the link
// when it is one (a package's documentation in another's directory),
// else its copyright file, as dpkg installs them.
func (s *hostSet) docCopyrights(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		s.err = err
		return
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Type()&fs.ModeSymlink != 0:
			s.files = append(s.files, hostFile{path: strings.TrimPrefix(p, "/"), src: p})
		case e.IsDir():
			if _, err := os.Lstat(filepath.Join(p, "copyright")); err == nil {
				s.add(filepath.Join(p, "copyright"))
			}
		}
	}
}

// writeHostLayout writes an OCI layout into dir holding one image of
// platform linux/GOARCH with layers, each streamed into its blob, and
// returns its manifest descriptor.
func writeHostLayout(dir string, layers []hostLayer) (ocispec.Descriptor, error) {
	img := fixture.StreamImage{Platform: ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}, CreatedBy: "host image"}
	for _, l := range layers {
		img.Layers = append(img.Layers, fixture.StreamLayer{What: l.what, Fill: func(tw *tar.Writer) error {
			return writeHostFiles(&hostTar{Writer: tw, dirs: map[string]bool{}}, l.files)
		}})
	}
	md, err := fixture.WriteStreamImage(dir, img)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	_, err = fixture.WriteIndex(dir, "host", []ocispec.Descriptor{md})
	return md, err
}

// writeHostFiles writes files into tw sorted by path, parents first.
func writeHostFiles(tw *hostTar, files []hostFile) error {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b hostFile) int { return strings.Compare(a.path, b.path) })
	for _, hf := range files {
		if err := tw.add(hf); err != nil {
			return fmt.Errorf("%s: %w", hf.path, err)
		}
	}
	return nil
}

// hostTar writes a layer's entries, each parent directory once before
// its first entry.
type hostTar struct {
	*tar.Writer
	dirs map[string]bool
}

func (t *hostTar) header(name string) *tar.Header {
	return &tar.Header{Name: name, ModTime: fixture.Epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX}
}

func (t *hostTar) parents(p string) error {
	return fixture.WriteParents(t.Writer, t.dirs, p, func(d string) *tar.Header {
		h := t.header(d + "/")
		h.Typeflag, h.Mode = tar.TypeDir, 0o755
		return h
	})
}

// add writes f: its data, or the host file, directory or link it copies
// (the file's content streamed); other kinds of host files are left out.
func (t *hostTar) add(f hostFile) error {
	if err := t.parents(f.path); err != nil {
		return err
	}
	h := t.header(f.path)
	if f.src == "" {
		h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o755, int64(len(f.data))
		if err := t.WriteHeader(h); err != nil {
			return err
		}
		_, err := t.Write(f.data)
		return err
	}
	fi, err := os.Lstat(f.src)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		h.Typeflag, h.Mode = tar.TypeSymlink, 0o777
		if h.Linkname, err = os.Readlink(f.src); err != nil {
			return err
		}
		return t.WriteHeader(h)
	case fi.IsDir():
		if t.dirs[f.path] {
			return nil
		}
		t.dirs[f.path] = true
		h.Typeflag, h.Name, h.Mode = tar.TypeDir, f.path+"/", int64(fi.Mode().Perm())
		return t.WriteHeader(h)
	case fi.Mode().IsRegular():
		return t.copyFile(h, f.src, fi.Size(), fi.Mode().Perm())
	}
	return nil
}

// copyFile writes the regular host file src of size bytes under h.
func (t *hostTar) copyFile(h *tar.Header, src string, size int64, perm fs.FileMode) error {
	r, err := os.Open(src)
	if err != nil {
		return err
	}
	defer r.Close()
	h.Typeflag, h.Mode, h.Size = tar.TypeReg, int64(perm), size
	if err := t.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.CopyN(t, r, size)
	return err
}

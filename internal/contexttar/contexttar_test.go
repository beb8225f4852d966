package contexttar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type entry struct {
	name, body, link string
	typ              byte
}

func tarOf(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body)), Linkname: e.link, Format: tar.FormatPAX}
		if e.typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gzipped(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(data)
	zw.Close()
	return b.Bytes()
}

// context is a small build context: a directory, files, a link inside.
func context(t testing.TB) []byte {
	return tarOf(t,
		entry{name: "./", typ: tar.TypeDir},
		entry{name: "Dockerfile", body: "FROM scratch\nCOPY app /\n", typ: tar.TypeReg},
		entry{name: "src/", typ: tar.TypeDir},
		entry{name: "src/app", body: "app\n", typ: tar.TypeReg},
		entry{name: "app", link: "src/app", typ: tar.TypeSymlink},
		entry{name: "app.hard", link: "src/app", typ: tar.TypeLink},
		entry{name: "../escaped", body: "kept inside\n", typ: tar.TypeReg},
	)
}

// TestReadLastEntryWins: an entry replaces what an earlier entry of the
// same path left there, a link included, instead of writing through it.
func TestReadLastEntryWins(t *testing.T) {
	dir := t.TempDir()
	in := tarOf(t,
		entry{name: "other", body: "X", typ: tar.TypeReg},
		entry{name: "Dockerfile", link: "other", typ: tar.TypeSymlink},
		entry{name: "Dockerfile", body: "Y", typ: tar.TypeReg},
		entry{name: "a", body: "A", typ: tar.TypeReg},
		entry{name: "b", link: "a", typ: tar.TypeLink},
		entry{name: "b", body: "B", typ: tar.TypeReg},
		entry{name: "a", link: "a", typ: tar.TypeLink},
		entry{name: "d", body: "file", typ: tar.TypeReg},
		entry{name: "d/", typ: tar.TypeDir},
		entry{name: "d/f", body: "F", typ: tar.TypeReg},
	)
	if _, err := Read(bytes.NewReader(in), dir); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{"other": "X", "Dockerfile": "Y", "a": "A", "b": "B", "d/f": "F"} {
		if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "Dockerfile")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("Dockerfile is still a link: %v", err)
	}
}

func TestRead(t *testing.T) {
	for _, tt := range []struct {
		name       string
		in         func(t *testing.T) []byte
		dockerfile bool
		files      map[string]string // path → content
	}{
		{"tar", func(t *testing.T) []byte { return context(t) }, false, map[string]string{"Dockerfile": "FROM scratch\nCOPY app /\n", "src/app": "app\n", "app": "app\n", "app.hard": "app\n", "escaped": "kept inside\n"}},
		{"gzip tar", func(t *testing.T) []byte { return gzipped(t, context(t)) }, false, map[string]string{"src/app": "app\n", "app": "app\n"}},
		{"bzip2 tar", func(t *testing.T) []byte {
			bz, err := exec.LookPath("bzip2")
			if err != nil {
				t.Skip("no bzip2 to compress with")
			}
			cmd := exec.Command(bz, "-c")
			cmd.Stdin = bytes.NewReader(context(t))
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			return out
		}, false, map[string]string{"src/app": "app\n"}},
		{"a Dockerfile alone", func(*testing.T) []byte { return []byte("FROM scratch\n") }, true, map[string]string{"Dockerfile": "FROM scratch\n"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := Read(bytes.NewReader(tt.in(t)), dir)
			if err != nil || got != tt.dockerfile {
				t.Fatalf("Read = %v, %v; want %v", got, err, tt.dockerfile)
			}
			for p, want := range tt.files {
				if b, err := os.ReadFile(filepath.Join(dir, p)); err != nil || string(b) != want {
					t.Errorf("%s = %q, %v; want %q", p, b, err, want)
				}
			}
		})
	}
}

// TestReadConfined: an entry written through a link that leads out of the
// directory fails, and nothing is written outside.
func TestReadConfined(t *testing.T) {
	outside := t.TempDir()
	for _, tt := range []struct {
		name    string
		entries []entry
	}{
		{"through an absolute link", []entry{{name: "out", link: outside, typ: tar.TypeSymlink}, {name: "out/x", body: "x", typ: tar.TypeReg}}},
		{"through a relative link", []entry{{name: "out", link: "../../../../../../../../.." + outside, typ: tar.TypeSymlink}, {name: "out/x", body: "x", typ: tar.TypeReg}}},
		{"a directory through a link", []entry{{name: "out", link: outside, typ: tar.TypeSymlink}, {name: "out/sub/", typ: tar.TypeDir}}},
		{"a hard link to a file outside", []entry{{name: "out", link: outside, typ: tar.TypeSymlink}, {name: "h", link: "out/secret", typ: tar.TypeLink}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
			if _, err := Read(bytes.NewReader(tarOf(t, tt.entries...)), t.TempDir()); err == nil || !strings.Contains(err.Error(), "tar entry") {
				t.Errorf("Read = %v; want an error naming the entry", err)
			}
			ents, _ := os.ReadDir(outside)
			if len(ents) != 1 {
				t.Errorf("written outside: %v", ents)
			}
		})
	}
}

func TestReadUnsupported(t *testing.T) {
	for name, head := range map[string][]byte{"xz": {0xfd, '7', 'z', 'X', 'Z', 0, 1, 2}, "zstd": {0x28, 0xb5, 0x2f, 0xfd, 1}} {
		if _, err := Read(bytes.NewReader(head), t.TempDir()); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// FuzzRead reads fuzzed stdin contexts: Read returns, and whatever it
// does, it writes nothing outside its directory.
func FuzzRead(f *testing.F) {
	for _, s := range [][]byte{
		nil, []byte("FROM scratch\n"), {0x1f, 0x8b}, []byte("BZh9"), {0xfd, '7', 'z', 'X', 'Z', 0},
	} {
		f.Add(s)
	}
	f.Add(context(f))
	f.Add(tarOf(f, entry{name: "l", link: "/", typ: tar.TypeSymlink}, entry{name: "l/x", body: "x", typ: tar.TypeReg}))
	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		dir := filepath.Join(parent, "ctx")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		Read(bytes.NewReader(data), dir)
		if ents, _ := os.ReadDir(parent); len(ents) != 1 {
			t.Fatalf("Read wrote beside its directory: %v", ents)
		}
	})
}

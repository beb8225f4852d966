package cli

import (
	"bytes"
	"context"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/fixture"
)

// TestNewWarnf: a warning is one line "NAME: warning: TEXT", NAME the
// display name, with control and format characters escaped (newlines and
// tabs kept, as on the error line), ending in exactly one newline.
func TestNewWarnf(t *testing.T) {
	for _, tt := range []struct {
		name, cmd string
		format    string
		args      []any
		want      string
	}{
		{"plain", "affix", "--mount-from %s: no blob could be mounted", []any{"app"}, "affix: warning: --mount-from app: no blob could be mounted\n"},
		{"plugin", "docker affix", "no output specified", nil, "docker affix: warning: no output specified\n"},
		{"newline given", "affix", "skipped\n", nil, "affix: warning: skipped\n"},
		{"newlines given", "docker affix", "skipped: %v\n\n", []any{"gone"}, "docker affix: warning: skipped: gone\n"},
		{"escape sequences in an argument", "affix", "referrer of type %s", []any{"evil\x1b]0;pwned\x07\x1b[2J"},
			`affix: warning: referrer of type evil\x1b]0;pwned\a\x1b[2J` + "\n"},
		{"control characters in a file name", "docker affix", "--tlscacert %s: not passed", []any{"/tmp/ca\r\x00.pem"},
			`docker affix: warning: --tlscacert /tmp/ca\r\x00.pem: not passed` + "\n"},
		{"right-to-left override", "affix", "%s", []any{"a\u202eb"}, `affix: warning: a\u202eb` + "\n"},
		{"lines and tabs kept", "affix", "first\n\tsecond", nil, "affix: warning: first\n\tsecond\n"},
		{"empty", "affix", "", nil, "affix: warning: \n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			NewWarnf(tt.cmd, &b)(tt.format, tt.args...)
			if got := b.String(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestWarnfDisplayName: a command's warnings name its root's display
// name (docker affix as the Docker CLI plugin) and go to its stderr.
func TestWarnfDisplayName(t *testing.T) {
	for _, name := range []string{"affix", "docker affix"} {
		root := NewRootCommand(name)
		var stderr bytes.Buffer
		root.SetErr(&stderr)
		sub, _, err := root.Find([]string{"ls"})
		if err != nil {
			t.Fatal(err)
		}
		warnf(sub)("%d skipped", 2)
		if got, want := stderr.String(), name+": warning: 2 skipped\n"; got != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
}

// TestNotesDisplayName: notes (get's skipped referrers) and debug or
// retry lines start with the display name and are escaped as warnings.
func TestNotesDisplayName(t *testing.T) {
	for _, name := range []string{"affix", "docker affix"} {
		root := NewRootCommand(name)
		var stderr bytes.Buffer
		root.SetErr(&stderr)
		sub, _, err := root.Find([]string{"get"})
		if err != nil {
			t.Fatal(err)
		}
		notef(sub)("skipped %s", "a\x1b[2Jb")
		g := &globalOptions{name: name, debug: true}
		debugf(g, &stderr)("retrying: %s", "503 \x07busy")
		want := name + ": skipped a\\x1b[2Jb\n" + name + ": retrying: 503 \\abusy\n"
		if got := stderr.String(); got != want {
			t.Errorf("%s: got  %q\nwant %q", name, got, want)
		}
	}
	if debugf(&globalOptions{}, io.Discard) != nil {
		t.Error("debugf without --debug: want nil")
	}
}

// TestRunWarningEscaped: through Run, as the Docker CLI plugin runs it, a
// warning about a layout whose directory name holds escape sequences
// says "docker affix: warning:" and prints the name escaped.
func TestRunWarningEscaped(t *testing.T) {
	cliEnv(t)
	dir := filepath.Join(t.TempDir(), "evil\x1b]0;pwned\x07\x1b[2J")
	if _, err := fixture.WriteLayout(dir, fixture.VariantsPair()); err != nil {
		t.Fatal(err)
	}
	gone := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("gone"), Size: 4, ArtifactType: "application/vnd.example.sig"}
	listInLayout(t, dir, gone)
	var stdout, stderr bytes.Buffer
	code := Run(context.Background(), "docker affix", []string{"ls", "oci-layout:" + dir}, &stdout, &stderr)
	errs := stderr.String()
	if code != 0 || !strings.HasPrefix(errs, "docker affix: warning: ") || !strings.Contains(errs, gone.Digest.String()+", which cannot be read; skipped") {
		t.Fatalf("exit %d, want 0 and a warning naming %s:\n%q", code, gone.Digest, errs)
	}
	if strings.ContainsAny(errs, "\x1b\x07") || !strings.Contains(errs, `evil\x1b]0;pwned\a\x1b[2J`) {
		t.Errorf("stderr holds the directory name raw, or not at all:\n%q", errs)
	}
}

// TestLinePrintersShareAStream: the warning, note and debug printers of a
// command write to one error stream from several goroutines (convert
// warns per platform while the exporter logs); their lines never
// interleave or race, whatever the stream (go test -race).
func TestLinePrintersShareAStream(t *testing.T) {
	var b bytes.Buffer
	printers := []func(string, ...any){NewWarnf("affix", &b), linePrinter("affix: ", &b), linePrinter("affix: ", &b)}
	var wg sync.WaitGroup
	for i, p := range printers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				p("printer %d line %d", i, j)
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 600 {
		t.Fatalf("%d lines, want 600", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "affix: ") || strings.Count(l, "printer") != 1 {
			t.Errorf("interleaved line %q", l)
		}
	}
}

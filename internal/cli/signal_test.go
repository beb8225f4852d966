package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// signalCause cancels a command as signal s would (Run reads the
// Signal method of a cancel cause, as for the Docker CLI plugin's).
type signalCause struct{ s os.Signal }

func (c signalCause) Error() string     { return c.s.String() + " signal received" }
func (c signalCause) Signal() os.Signal { return c.s }

// TestSignalDuringTagWrite: an interrupt while a tag is being written
// lets that write finish, and the writes of the push's other tags: the
// push completed, exit 0 and the usual output, with a note on stderr that
// the signal came and why it did not stop the push.
func TestSignalDuringTagWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a registry")
	}
	cliEnv(t)
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	const note = "affix: interrupt signal received during the tag writes: they were let finish, and affix %s completed\n"
	for _, tc := range []struct {
		name, tags, held string
		// merge merges the layout pushed as R:src instead of pushing it.
		merge bool
		code  int
		// stdout is the start of the output, stderr the error output;
		// R stands for the repository, D for the pushed index digest.
		stdout, stderr string
	}{
		{name: "one tag", tags: "1", held: "1",
			stdout: "pushed R:1@D\n", stderr: note},
		{name: "last of a list", tags: "1,2", held: "2",
			stdout: "pushed R:1@D\n  also tagged R:2\n", stderr: note},
		// The tags of one push move together: those after the
		// interrupted write are written too.
		{name: "first of a list", tags: "1,2,3", held: "1",
			stdout: "pushed R:1@D\n  also tagged R:2, R:3\n", stderr: note},
		{name: "merge, first of a list", tags: "1,2,3", held: "1", merge: true,
			stdout: "pushed R:1@D\n  also tagged R:2, R:3\n", stderr: note},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			release := make(chan struct{})
			repo := strings.NewReplacer(" ", "-", ",", "").Replace(tc.name)
			proxy.Inject(registrytest.Fault{Method: "PUT", Path: "/manifests/" + tc.held + "$", Action: registrytest.Hold, Release: release})
			ctx, cancel := context.WithCancelCause(t.Context())
			defer cancel(nil)
			var stdout, stderr bytes.Buffer
			exited := make(chan int)
			ref := proxy.Host + "/" + repo
			args := []string{"push", "--no-sbom", "--insecure-registry", proxy.Host, "oci-layout:" + dir, ref + ":" + tc.tags}
			if tc.merge {
				mustAffix(t, "push", "--no-sbom", "--insecure-registry", reg.Host, "oci-layout:"+dir, reg.Ref(repo)+":src")
				args = []string{"merge", "--allow-no-sbom", "--insecure-registry", proxy.Host, ref + ":" + tc.tags, ref + ":src"}
			}
			go func() {
				exited <- Run(ctx, "affix", args, &stdout, &stderr)
			}()
			held := "PUT /v2/" + repo + "/manifests/" + tc.held + " [hold]"
			deadline := time.Now().Add(2 * time.Minute)
			for !slices.Contains(proxy.Log(), held) {
				if time.Now().After(deadline) {
					t.Fatalf("the write of tag %s never came", tc.held)
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel(signalCause{os.Interrupt})
			close(release)
			code := <-exited
			wantOut := strings.ReplaceAll(strings.ReplaceAll(tc.stdout, "R:", ref+":"), "@D", "@"+res.Index.Digest.String())
			wantErr := fmt.Sprintf(tc.stderr, args[0])
			if code != tc.code || !strings.HasPrefix(stdout.String(), wantOut) || stderr.String() != wantErr {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nwant it to start:\n%s\nstderr:\n%s\nwant:\n%s", code, tc.code, &stdout, wantOut, &stderr, wantErr)
			}
		})
	}
}

// TestCompletedNote: the note of a command that completed although a
// signal came says what came and when.
func TestCompletedNote(t *testing.T) {
	for _, tc := range []struct {
		cause  error
		during bool
		want   string
	}{
		{signalCause{os.Interrupt}, true, "interrupt signal received during the tag writes: they were let finish, and affix push completed"},
		{signalCause{os.Interrupt}, false, "interrupt signal received as affix push ended: it completed"},
	} {
		if got := completedNote(tc.cause, "affix push", tc.during); got != tc.want {
			t.Errorf("completedNote(%v, %v) = %q, want %q", tc.cause, tc.during, got, tc.want)
		}
	}
}

//go:build unix

package cli

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/affix-oci/affix/internal/fixture"
	"github.com/affix-oci/affix/internal/registrytest"
)

// signalChildEnv makes TestSecondSignalDuringTagWrite the affix process
// it signals: it runs the command line after "--" and exits with its
// code, telling each signal it takes on file descriptor 3.
const signalChildEnv = "AFFIX_TEST_SIGNAL_CHILD"

// TestSecondSignalDuringTagWrite: affix, signalled during the tag write
// of the second tag of a list (held by the registry), lets it go on; a
// second signal (^C twice; GitHub Actions' SIGINT, then SIGTERM) cuts it
// short: affix says which tags moved, which may have, which did not, and
// exits as by the second signal, where it used to end silently.
func TestSecondSignalDuringTagWrite(t *testing.T) {
	if os.Getenv(signalChildEnv) == "1" {
		signalChild()
		return
	}
	if testing.Short() {
		t.Skip("runs affix processes and a registry")
	}
	cliEnv(t)
	dir := t.TempDir()
	res, err := fixture.WriteLayout(dir, fixture.VariantsPair())
	if err != nil {
		t.Fatal(err)
	}
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	for _, tc := range []struct {
		name   string
		second syscall.Signal
		code   int
	}{
		{"SIGINT twice", syscall.SIGINT, 130},
		{"SIGINT, then SIGTERM", syscall.SIGTERM, 143},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: "PUT", Path: "/manifests/2$", Action: registrytest.Hold})
			repo := "tl" + strings.ToLower(tc.second.String()[:3])
			ref := proxy.Host + "/" + repo
			p := startSignalChild(t, "push", "--no-sbom", "--insecure-registry", proxy.Host, "oci-layout:"+dir, ref+":1,2,3")
			p.waitFor(func() bool { return slices.Contains(proxy.Log(), "PUT /v2/"+repo+"/manifests/2 [hold]") }, "the write of tag 2")
			p.signal(syscall.SIGINT)
			// The process may end before it tells the second.
			p.send(tc.second)
			code, stdout, stderr := p.wait()
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			for _, want := range []string{
				"the tag write was cut short",
				"tags moved: " + ref + ":1; may have moved (rerun to settle): " + ref + ":2; not moved: " + ref + ":3",
			} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			// The held write never reached the registry.
			for tag, want := range map[string]string{"1": res.Index.Digest.String(), "2": "", "3": ""} {
				if got := resolveTag(t, reg, repo, tag).String(); got != want {
					t.Errorf("tag %s names %q, want %q", tag, got, want)
				}
			}
		})
	}
}

// signalChild is the affix process of a signal test (signalChildEnv).
func signalChild() {
	acks := os.NewFile(3, "signals")
	ch := make(chan os.Signal, 4)
	// Each signal reaches this channel as affix's, in the same pass of
	// os/signal's dispatch: once told, the test can send the next one
	// without the two merging into one.
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		for s := range ch {
			fmt.Fprintln(acks, s)
		}
	}()
	os.Exit(Main(flag.Args()))
}

// signalProc is an affix process of a signal test.
type signalProc struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	acks           *bufio.Scanner
	exited         chan struct{}
}

// startSignalChild starts affix with args in a process of its own.
func startSignalChild(t *testing.T, args ...string) *signalProc {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &signalProc{t: t, acks: bufio.NewScanner(r), exited: make(chan struct{})}
	p.cmd = exec.Command(os.Args[0], append([]string{"-test.run=^TestSecondSignalDuringTagWrite$", "--"}, args...)...)
	p.cmd.Env = append(os.Environ(), signalChildEnv+"=1")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.ExtraFiles = []*os.File{w}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	go func() {
		p.cmd.Wait()
		r.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// signalTimeout bounds each wait of a signal test: generous, for a
// loaded machine; a test that hits it has failed.
const signalTimeout = 2 * time.Minute

// waitFor waits until cond holds, failing if the process exits first.
func (p *signalProc) waitFor(cond func() bool, what string) {
	p.t.Helper()
	deadline := time.Now().Add(signalTimeout)
	for !cond() {
		select {
		case <-p.exited:
			p.t.Fatalf("affix exited before %s:\n%s%s", what, &p.stdout, &p.stderr)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %s after %v", what, signalTimeout) // Cleanup kills the process
		}
	}
}

// send sends s.
func (p *signalProc) send(s syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatal(err)
	}
}

// signal sends s and waits until the process has taken it.
func (p *signalProc) signal(s syscall.Signal) {
	p.t.Helper()
	p.send(s)
	acked := make(chan string, 1)
	go func() {
		if p.acks.Scan() {
			acked <- p.acks.Text()
		}
		close(acked)
	}()
	select {
	case got, ok := <-acked:
		if !ok || got != s.String() {
			p.t.Fatalf("sent %v, the process took %q (%v)", s, got, ok)
		}
	case <-time.After(signalTimeout):
		p.t.Fatalf("the process did not take %v", s)
	}
}

// wait waits for the process to exit and returns its exit code and
// output; a process ended by a signal fails the test.
func (p *signalProc) wait() (int, string, string) {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(signalTimeout):
		p.t.Fatalf("affix did not exit within %v", signalTimeout)
	}
	ws, _ := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		p.t.Fatalf("affix ended by %v, saying nothing more:\n%s%s", ws.Signal(), &p.stdout, &p.stderr)
	}
	return p.cmd.ProcessState.ExitCode(), p.stdout.String(), p.stderr.String()
}

package exporter_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/registrytest"
)

// quickClient is a client whose retries give up after 2 attempts with
// millisecond waits, so that faults outlast them at once.
func quickClient(counter *exporter.Counter) *auth.Client {
	return &auth.Client{
		Client: &http.Client{Transport: &exporter.Retry{Base: counter, Attempts: 2, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond}},
		Cache:  auth.NewCache(),
	}
}

// dropper is a Target on which another writer drops the entry this push
// writes to a referrers index right after each write, as a concurrent
// writer on a registry that ignores If-Match can.
type dropper struct {
	exporter.Target
	drops atomic.Int32
}

func (d *dropper) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, reference, ifMatch string) (digest.Digest, error) {
	subject, err := d.Target.PushManifest(ctx, desc, data, reference, ifMatch)
	if err != nil || !strings.HasPrefix(reference, "sha256-") {
		return subject, err
	}
	empty := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	if _, err := d.Target.PushManifest(ctx, oci.DescriptorFor(ocispec.MediaTypeImageIndex, empty), empty, reference, ""); err != nil {
		return subject, err
	}
	d.drops.Add(1)
	return subject, nil
}

// TestVerifyBeforeTag: the tag moves only once every referrers index
// entry is verified. Reads of the referrers tag that fail for a while
// after its write (a 503 or a dropped connection the transport's retries
// did not outlast) are unstable rounds: the push completes. When they keep
// failing, or another writer keeps dropping the entry, Commit fails with
// ErrReferrerLost and the tag is where it was. Ready writes nothing, and
// returns the same result when called again.
func TestVerifyBeforeTag(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    *registrytest.Fault // on each new referrers tag, after its first read
		drop     bool
		complete bool
		// msg, when set, is in the error instead of ErrReferrerLost, and
		// each subject's tag is read at most once after its write.
		msg string
	}{
		{"503 on reads, passing", &registrytest.Fault{Method: "GET", Action: registrytest.Unavailable, Skip: 1, Times: 3}, false, true, ""},
		// net/http may resend a GET dropped on a reused connection once
		// itself, so each of the 2 attempts may take 2 drops: 4 fail the
		// first round.
		{"dropped reads, passing", &registrytest.Fault{Method: "GET", Action: registrytest.Drop, Skip: 1, Times: 4}, false, true, ""},
		{"503 on reads, lasting", &registrytest.Fault{Method: "GET", Action: registrytest.Unavailable, Skip: 1}, false, false, ""},
		{"another writer drops the entry", nil, true, false, ""},
		// The registry asks for a minute, more than the verification
		// waits: it ends at once rather than reading again early.
		{"429 asking for a minute", &registrytest.Fault{Method: "GET", Action: registrytest.TooManyRequests, RetryAfter: "60", Skip: 1}, false, false, "registry asked to retry after 60s"},
		// Asking for a second, beyond the transport's budget but not the
		// verification's: it waits and passes.
		{"429 asking for a second", &registrytest.Fault{Method: "GET", Action: registrytest.TooManyRequests, RetryAfter: "1", Skip: 1, Times: 1}, false, true, ""},
		// Another writer drops the entry, and the registry refuses the
		// write that merges it back (after our write and the other
		// writer's): the verification of that entry ends with the refusal
		// at once, not after every round.
		{"merging back refused", &registrytest.Fault{Method: "PUT", Action: registrytest.Status, Code: http.StatusForbidden, Skip: 2}, true, false, "writing referrers tag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			sc := newFaultScene(t, registrytest.OlaregNoAPI, false)
			if tc.fault != nil {
				for _, m := range sc.res.Manifests {
					f := *tc.fault
					f.Path = "/manifests/" + exporter.ReferrersTag(m.Digest) + "$"
					sc.proxy.Inject(f)
				}
			}
			c := quickClient(&exporter.Counter{})
			if tc.fault != nil && tc.fault.RetryAfter != "" {
				// A retry budget the Retry-After does not fit in.
				c.Client.Transport.(*exporter.Retry).MaxElapsed = 50 * time.Millisecond
			}
			var tgt exporter.Target = target(t, sc.proxy.Host, "app", c)
			d := &dropper{Target: tgt}
			if tc.drop {
				tgt = d
			}
			p := exporter.New(tgt, &exporter.Image{Source: sc.l, Root: sc.res.Index}, exporter.Options{Tag: "v1", VerifyRounds: 6, VerifyDelay: time.Millisecond})
			if err := p.Images(ctx); err != nil {
				t.Fatal(err)
			}
			for _, m := range sc.res.Manifests {
				if _, err := p.Attach(ctx, sbomArtifact(m)); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			err := p.Ready(ctx)
			if again := p.Ready(ctx); again != err {
				t.Errorf("Ready again = %v, first %v", again, err)
			}
			if tag := resolve(t, sc.reg.Host, "app", "v1"); tag != sc.oldRes.Index.Digest {
				t.Fatalf("Ready moved the tag to %s", tag)
			}
			got, cerr := p.Commit(ctx)
			tag := resolve(t, sc.reg.Host, "app", "v1")
			if tc.complete {
				if err != nil || cerr != nil {
					t.Fatalf("Ready: %v; Commit: %v (%d faults injected)", err, cerr, sc.proxy.Injected())
				}
				if tag != got.Root.Digest {
					t.Fatalf("tag %s, want %s", tag, got.Root.Digest)
				}
				if sc.proxy.Injected() == 0 {
					t.Errorf("no fault injected")
				}
				if tc.fault.RetryAfter == "1" && time.Since(start) < 900*time.Millisecond {
					t.Errorf("Retry-After: 1 not waited for: verified in %v", time.Since(start))
				}
				return
			}
			t.Logf("Commit: %v", cerr)
			if tc.msg != "" {
				if err == nil || cerr == nil || !strings.Contains(err.Error(), tc.msg) || errors.Is(err, exporter.ErrReferrerLost) {
					t.Errorf("Ready: %v; Commit: %v; want %q", err, cerr, tc.msg)
				}
				if n := sc.proxy.Injected(); n > len(sc.res.Manifests) {
					t.Errorf("%d faults injected, want one per subject: the verification goes on after the failure that should end it", n)
				}
			} else if !errors.Is(err, exporter.ErrReferrerLost) || !errors.Is(cerr, exporter.ErrReferrerLost) {
				t.Errorf("Ready: %v; Commit: %v; want ErrReferrerLost", err, cerr)
			}
			if tag != sc.oldRes.Index.Digest {
				t.Fatalf("failed push moved the tag to %s", tag)
			}
			if tc.drop && tc.msg == "" && d.drops.Load() < 6 {
				t.Errorf("entry dropped %d times, want at least 6 (one per round)", d.drops.Load())
			}
		})
	}
}

// TestAbort: Abort stops the verifications of a push that is not
// committed, whether they sleep before a read or keep re-reading and
// re-writing (another writer drops the entry every time): it returns, no
// request follows it, the tag is not written, and Attach, Ready and
// Commit return ErrPushClosed. After Commit, Abort changes nothing.
func TestAbort(t *testing.T) {
	for _, tc := range []struct {
		name        string
		opts        exporter.Options
		drop        bool
		afterCommit bool
	}{
		{"verification sleeping", exporter.Options{Tag: "v1", VerifyDelay: time.Hour}, false, false},
		{"verification busy", exporter.Options{Tag: "v1", VerifyDelay: time.Millisecond, VerifyRounds: 1 << 30}, true, false},
		{"after Commit", exporter.Options{Tag: "v1", VerifyDelay: time.Millisecond}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
			l, res := source(t, twoPlatforms(false))
			c, counter := client(nil)
			var tgt exporter.Target = target(t, reg.Host, "app", c)
			d := &dropper{Target: tgt}
			if tc.drop {
				tgt = d
			}
			p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, tc.opts)
			if err := p.Images(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Attach(ctx, sbomArtifact(res.Manifests[0])); err != nil {
				t.Fatal(err)
			}
			if tc.afterCommit {
				if _, err := p.Commit(ctx); err != nil {
					t.Fatal(err)
				}
			}
			if tc.drop {
				// Wait until the verification is busy re-writing.
				for d.drops.Load() < 3 {
					time.Sleep(time.Millisecond)
				}
			}
			done := make(chan struct{})
			go func() {
				p.Abort()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(time.Minute): // a hang guard, not a bound on Abort
				t.Fatal("Abort did not return")
			}
			n := counter.Total()
			if tc.afterCommit {
				if d := resolve(t, reg.Host, "app", "v1"); d != res.Index.Digest {
					t.Errorf("tag %s after Commit and Abort, want %s", d, res.Index.Digest)
				}
			} else if d := resolve(t, reg.Host, "app", "v1"); d != "" {
				t.Errorf("aborted push wrote the tag: %s", d)
			}
			if _, err := p.Attach(ctx, sbomArtifact(res.Manifests[1])); !errors.Is(err, exporter.ErrPushClosed) {
				t.Errorf("Attach after Abort: err = %v, want ErrPushClosed", err)
			}
			if _, err := p.Commit(ctx); !errors.Is(err, exporter.ErrPushClosed) {
				t.Errorf("Commit after Abort: err = %v, want ErrPushClosed", err)
			}
			if err := p.Ready(ctx); tc.afterCommit != (err == nil) {
				t.Errorf("Ready after Abort: err = %v", err)
			}
			// A verification left running would send requests meanwhile
			// (every millisecond in the busy case).
			time.Sleep(100 * time.Millisecond)
			if m := counter.Total(); m != n {
				t.Errorf("%d requests after Abort returned:\n%s", m-n, strings.Join(counter.Log(), "\n"))
			}
		})
	}
}

// TestReadyWritesNothing: Ready on a push whose Images was not called
// returns ErrImagesNotStarted without pushing anything (Commit runs
// Images itself).
func TestReadyWritesNothing(t *testing.T) {
	ctx := context.Background()
	l, res := source(t, twoPlatforms(false))
	tgt := newMemTarget()
	p := exporter.New(tgt, &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
	if err := p.Ready(ctx); !errors.Is(err, exporter.ErrImagesNotStarted) {
		t.Fatalf("Ready: err = %v, want ErrImagesNotStarted", err)
	}
	if len(tgt.blobs) != 0 || len(tgt.manifests) != 0 {
		t.Fatalf("Ready wrote %d blobs, %d manifests", len(tgt.blobs), len(tgt.manifests))
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := tgt.manifests["v1"]; !ok {
		t.Fatal("Commit did not write the tag")
	}
}

// TestFetchMissingBlob reads a blob the registry does not have: the error
// is oci.ErrBlobNotFound, as a layout's, so that a scan can skip a foreign
// layer the registry never stored; another failure is not.
func TestFetchMissingBlob(t *testing.T) {
	ctx := context.Background()
	for _, kind := range []registrytest.Kind{registrytest.OlaregAPI, registrytest.Distribution} {
		t.Run(string(kind), func(t *testing.T) {
			reg := registrytest.Start(t, kind, registrytest.Options{})
			c, _ := client(nil)
			r := target(t, reg.Host, "app", c)
			blob := []byte("never pushed")
			d := ocispec.Descriptor{MediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", Digest: digest.FromBytes(blob), Size: int64(len(blob))}
			_, err := r.Fetch(ctx, d)
			if !errors.Is(err, oci.ErrBlobNotFound) || !strings.Contains(err.Error(), d.Digest.String()) {
				t.Fatalf("err = %v, want oci.ErrBlobNotFound naming the digest", err)
			}
			t.Log(err)
			proxy := registrytest.StartProxy(t, reg.Host)
			proxy.Inject(registrytest.Fault{Method: "GET", Path: "/blobs/", Action: registrytest.Status, Code: http.StatusForbidden})
			if _, err := target(t, proxy.Host, "app", c).Fetch(ctx, d); err == nil || errors.Is(err, oci.ErrBlobNotFound) {
				t.Fatalf("403: err = %v, want an error other than oci.ErrBlobNotFound", err)
			}
		})
	}
}

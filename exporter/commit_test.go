package exporter_test

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/registrytest"
)

// TestCommitOutcome: the tag write is the push's commit point. An
// interrupt while it is in flight lets it finish (the tag moved, Commit
// succeeds), unless the TagWrites of the context cuts it short (a second
// interrupt): then it is ErrTagUnknown saying why; a write whose answer
// is lost is ErrTagUnknown (here it did move), and so is one the registry
// accepted while naming another digest (it moved, to what the registry
// says it stored); a write the registry refused is not (the tag stayed).
func TestCommitOutcome(t *testing.T) {
	tagPUT := registrytest.Fault{Method: "PUT", Path: "/manifests/v1$"}
	for _, tc := range []struct {
		name      string
		action    registrytest.Action
		then      registrytest.Action // from the second attempt on; 0: the same
		interrupt bool
		// cut cuts the write short after the interrupt.
		cut     bool
		wantErr bool
		unknown bool
		moved   bool
		// header edits the answer's headers (ResponseHeader).
		header map[string]string
		// msg is in the error.
		msg string
		// code is the status Status and ReplaceAnswer answer; 0: 400.
		code int
	}{
		{name: "interrupted in flight", action: registrytest.Hold, interrupt: true, moved: true},
		{name: "interrupted twice in flight", action: registrytest.Hold, interrupt: true, cut: true, wantErr: true, unknown: true},
		{name: "answer lost", action: registrytest.LoseAnswer, wantErr: true, unknown: true, moved: true},
		// The retry's 503 is the last error, but the first attempt landed.
		{name: "answer lost, then 503", action: registrytest.LoseAnswer, then: registrytest.Unavailable, wantErr: true, unknown: true, moved: true},
		{name: "refused", action: registrytest.Status, wantErr: true},
		// A gateway timed out waiting for the registry, which wrote the
		// tag: "may have moved", never "not moved".
		{name: "written, answered 504 by a gateway", action: registrytest.ReplaceAnswer, code: http.StatusGatewayTimeout, wantErr: true, unknown: true, moved: true},
		{name: "written, answered 502 by a gateway", action: registrytest.ReplaceAnswer, code: http.StatusBadGateway, wantErr: true, unknown: true, moved: true},
		// Any 2xx is the registry taking the manifest.
		{name: "written, answered 202", action: registrytest.ReplaceAnswer, code: http.StatusAccepted, moved: true},
		// Accepted (201), naming other content: the tag moved, maybe not
		// to the index; never "not moved".
		{name: "answered with another digest", action: registrytest.ResponseHeader, wantErr: true, unknown: true, moved: true,
			header: map[string]string{"Docker-Content-Digest": digest.FromString("other").String()},
			msg:    "tag v1 moved, to content the registry reports as " + digest.FromString("other").String() + ", not the pushed "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := newFaultScene(t, registrytest.OlaregAPI, false)
			c, _ := client(nil)
			p := exporter.New(target(t, sc.proxy.Host, "app", c), &exporter.Image{Source: sc.l, Root: sc.res.Index}, exporter.Options{Tag: "v1"})
			defer p.Abort()
			if err := p.Images(context.Background()); err != nil {
				t.Fatal(err)
			}
			for _, m := range sc.res.Manifests {
				if _, err := p.Attach(context.Background(), sbomArtifact(m)); err != nil {
					t.Fatal(err)
				}
			}
			f := tagPUT
			release := make(chan struct{})
			f.Action, f.Code, f.Release = tc.action, cmp.Or(tc.code, 400), release
			f.Header = func(*http.Request, []byte) map[string]string { return tc.header }
			if tc.then != 0 {
				f.Times = 1
				sc.proxy.Inject(f)
				f.Action, f.Times = tc.then, 0
			}
			sc.proxy.Inject(f)
			var writes exporter.TagWrites
			second := errors.New("second interrupt")
			ctx, cancel := context.WithCancel(exporter.WithTagWrites(context.Background(), &writes))
			defer cancel()
			if tc.interrupt {
				go func() {
					for !slices.ContainsFunc(sc.proxy.Log(), func(l string) bool { return strings.HasPrefix(l, "PUT /v2/app/manifests/v1 ") }) {
						time.Sleep(5 * time.Millisecond)
					}
					cancel()
					if tc.cut {
						writes.Cut(second)
					} else {
						// Held until the interrupt came: the write
						// goes on after it.
						close(release)
					}
				}()
			}
			_, err := p.Commit(ctx)
			if (err != nil) != tc.wantErr || errors.Is(err, exporter.ErrTagUnknown) != tc.unknown {
				t.Errorf("Commit: %v; want error %v, ErrTagUnknown %v", err, tc.wantErr, tc.unknown)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Commit: %v; want it to say %q", err, tc.msg)
			}
			if tc.cut && (!errors.Is(err, second) || strings.Count(err.Error(), second.Error()) != 1) {
				t.Errorf("Commit cut short: %v; want it to end saying why", err)
			}
			if n := writes.Interrupted(); tc.interrupt && n != 1 {
				t.Errorf("TagWrites counted %d interrupted writes, want 1", n)
			}
			want := sc.oldRes.Index.Digest
			if tc.moved {
				want = sc.res.Index.Digest
			}
			if got := resolve(t, sc.reg.Host, "app", "v1"); got != want {
				t.Errorf("tag names %s, want %s (moved %v)", got, want, tc.moved)
			}
			if tc.interrupt && ctx.Err() == nil {
				t.Errorf("the push was not interrupted during the tag write")
			}
		})
	}
}

// TestPushTag: Tag points more tags at the committed index, only after
// a successful Commit, and starts no write once the context is done.
func TestPushTag(t *testing.T) {
	ctx := context.Background()
	reg := registrytest.Start(t, registrytest.OlaregNoAPI, registrytest.Options{})
	l, res := source(t, twoPlatforms(false))
	c, _ := client(nil)
	p := exporter.New(target(t, reg.Host, "app", c), &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v1"})
	if err := p.Tag(ctx, "early"); !errors.Is(err, exporter.ErrPushClosed) {
		t.Errorf("Tag before Commit: %v, want ErrPushClosed", err)
	}
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Tag(ctx, "v1.0"); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Tag(cctx, "interrupted"); !errors.Is(err, context.Canceled) {
		t.Errorf("Tag after an interrupt: %v, want context.Canceled", err)
	}
	for _, tag := range []string{"v1", "v1.0"} {
		if got := resolve(t, reg.Host, "app", tag); got != res.Index.Digest {
			t.Errorf("%s names %s, want %s", tag, got, res.Index.Digest)
		}
	}
	for _, tag := range []string{"early", "interrupted"} {
		if got := resolve(t, reg.Host, "app", tag); got != "" {
			t.Errorf("%s names %s", tag, got)
		}
	}

	// After a Commit whose tag write failed, Tag writes nothing either.
	proxy := registrytest.StartProxy(t, reg.Host)
	proxy.Inject(registrytest.Fault{Method: "PUT", Path: "/manifests/v2$", Action: registrytest.Status, Code: http.StatusForbidden})
	p = exporter.New(target(t, proxy.Host, "app", c), &exporter.Image{Source: l, Root: res.Index}, exporter.Options{Tag: "v2"})
	if err := p.Images(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Commit(ctx); err == nil {
		t.Fatal("Commit with the tag PUT refused: no error")
	}
	if err := p.Tag(ctx, "v2.0"); !errors.Is(err, exporter.ErrPushClosed) {
		t.Errorf("Tag after a failed Commit: %v, want ErrPushClosed", err)
	}
	if got := resolve(t, reg.Host, "app", "v2.0"); got != "" {
		t.Errorf("v2.0 names %s after a failed Commit", got)
	}
}

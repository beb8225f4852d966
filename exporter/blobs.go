package exporter

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// task is one blob's upload, shared by every caller that needs the
// blob: done is closed when err is set.
type task struct {
	done chan struct{}
	err  error
}

// ensureBlob makes the target hold the blob: HEAD, then mount or upload
// when missing; each digest once per push, at most MaxConcurrency at a
// time. A caller that finds the upload under way waits for it; when that
// upload ended with its own caller's context error while this caller's
// ctx is live (per-SBOM contexts share the empty config), it uploads the
// blob itself rather than fail with another caller's cancellation.
func (p *Push) ensureBlob(ctx context.Context, d ocispec.Descriptor, mount bool, open func() (io.ReadCloser, error)) error {
	for {
		p.mu.Lock()
		t, ok := p.blobs[d.Digest]
		if !ok {
			t = &task{done: make(chan struct{})}
			p.blobs[d.Digest] = t
		}
		p.mu.Unlock()
		if !ok {
			t.err = p.uploadBlob(ctx, d, mount, open)
			if t.err != nil {
				// A later caller (a rerun of Attach) may try again.
				p.mu.Lock()
				if p.blobs[d.Digest] == t {
					delete(p.blobs, d.Digest)
				}
				p.mu.Unlock()
			}
			close(t.done)
			return t.err
		}
		select {
		case <-t.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		if isContextErr(t.err) && ctx.Err() == nil {
			continue
		}
		return t.err
	}
}

// uploadBlob puts blob d in the target, within the upload bound, unless
// the target has it: mounted from the repository mountFrom names (for an
// image blob when mount is set) when that repository has it, else
// uploaded from open. It counts the outcome in Result.Blobs.
func (p *Push) uploadBlob(ctx context.Context, d ocispec.Descriptor, mount bool, open func() (io.ReadCloser, error)) error {
	if err := p.acquire(ctx); err != nil {
		return err
	}
	defer p.release()
	d = ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
	ok, err := p.target.Exists(ctx, d)
	if err != nil {
		return err
	}
	if ok {
		p.logf("blob %s exists", d.Digest)
		p.countBlob(&p.blobCount.Existing)
		return nil
	}
	// A registry that cannot mount (no such repository, no access)
	// answers the mount with an upload session: the content is then read.
	var read atomic.Bool
	counted := func() (io.ReadCloser, error) {
		read.Store(true)
		return open()
	}
	m, isMounter := p.target.(Mounter)
	from := p.mountFrom(d, mount)
	mount = isMounter && from != ""
	if mount {
		err = m.Mount(ctx, d, from, counted)
	} else {
		err = p.target.PushBlob(ctx, d, counted)
	}
	if err != nil {
		return err
	}
	if mount && !read.Load() {
		p.logf("mounted blob %s from %s", d.Digest, from)
		p.countBlob(&p.blobCount.Mounted)
		return nil
	}
	if mount {
		p.countBlob(&p.blobCount.NotMounted)
	}
	p.logf("uploaded blob %s (%d bytes)", d.Digest, d.Size)
	p.countBlob(&p.blobCount.Uploaded)
	return nil
}

// mountFrom returns the repository to mount blob d from, "" for none:
// Options.MountFor's answer when it is set, else Options.MountFrom when
// image is set (d is an image's blob, not a referrer's own).
func (p *Push) mountFrom(d ocispec.Descriptor, image bool) string {
	if p.opts.MountFor != nil {
		return p.opts.MountFor(d)
	}
	if image {
		return p.opts.MountFrom
	}
	return ""
}

// countBlob adds one to the Result.Blobs counter n.
func (p *Push) countBlob(n *int) {
	p.mu.Lock()
	*n++
	p.mu.Unlock()
}

// blobUnknown reports whether a manifest PUT failed because the registry
// did not find a blob it references.
func blobUnknown(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusBadRequest && strings.Contains(re.Detail, "BLOB_UNKNOWN")
}

// retryBlobUnknown runs put and, when the registry says a referenced blob
// is unknown although it was uploaded (distribution loses a blob for a
// moment when several clients upload the same one at once), checks and
// uploads blobs again (mounting them when mount, as their first upload
// did) and repeats put, at most 3 times in all.
func (p *Push) retryBlobUnknown(ctx context.Context, blobs []ocispec.Descriptor, mount bool, open func(ocispec.Descriptor) func() (io.ReadCloser, error), put func() error) error {
	for attempt := 1; ; attempt++ {
		err := put()
		if err == nil || !blobUnknown(err) || attempt >= 3 {
			return err
		}
		p.logf("registry lost a blob of a manifest (%v); checking blobs again", err)
		if err := sleep(ctx, jitter(100*time.Millisecond)); err != nil {
			return err
		}
		for _, b := range blobs {
			p.mu.Lock()
			if t, ok := p.blobs[b.Digest]; ok {
				select {
				case <-t.done:
					delete(p.blobs, b.Digest)
				default:
				}
			}
			p.mu.Unlock()
			if err := p.ensureBlob(ctx, b, mount, open(b)); err != nil {
				return err
			}
		}
	}
}

package exporter_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/internal/oci"
)

// noAPITarget is a memTarget whose registry does not index referrers: a
// referrer's PUT gets no OCI-Subject, so pushes use the referrers tag.
type noAPITarget struct{ *memTarget }

func (n noAPITarget) PushManifest(ctx context.Context, d ocispec.Descriptor, data []byte, reference, ifMatch string) (digest.Digest, error) {
	_, err := n.memTarget.PushManifest(ctx, d, data, reference, ifMatch)
	return "", err
}

// TestReferrersTagConflictMessages: a referrers tag that holds something
// else is ErrReferrersTagConflict, named neutrally for readers (affix ls
// shows it) and as a refusal on the write path, which leaves it alone.
func TestReferrersTagConflictMessages(t *testing.T) {
	ctx := context.Background()
	subjectBytes := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2},"layers":[]}`)
	subject := oci.DescriptorFor(ocispec.MediaTypeImageManifest, subjectBytes)
	other := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("1", 64) + `","size":2},"layers":[]}`)
	listsSubject, _ := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{subject}})
	tag := exporter.ReferrersTag(subject.Digest)
	tests := []struct {
		name string
		held []byte // what the referrers tag holds
		msg  string
	}{
		{"the subject itself", subjectBytes, tag + " resolves to the subject " + subject.Digest.String() + " itself"},
		{"another manifest", other, tag + " is " + ocispec.MediaTypeImageManifest + " (" + digest.FromBytes(other).String() + "), not an image index"},
		{"an index listing the subject", listsSubject, tag + " lists the subject " + subject.Digest.String() + " itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := newMemTarget()
			mem.manifests[tag] = tt.held
			_, err := exporter.ReadReferrersIndex(ctx, mem, subject.Digest)
			if !errors.Is(err, exporter.ErrReferrersTagConflict) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("read: %v, want ErrReferrersTagConflict with %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), "overwrit") {
				t.Errorf("a read talks about writing: %v", err)
			}
			// The write path refuses, says so, and leaves the tag alone.
			p := exporter.New(noAPITarget{mem}, nil, exporter.Options{})
			defer p.Abort()
			_, err = p.Attach(ctx, exporter.SBOM(subject, oci.MediaTypeSPDX, []byte("{}"), created, nil))
			if !errors.Is(err, exporter.ErrReferrersTagConflict) || !strings.Contains(err.Error(), tt.msg+"; not overwriting it") {
				t.Fatalf("attach: %v, want %q", err, tt.msg+"; not overwriting it")
			}
			if string(mem.manifests[tag]) != string(tt.held) {
				t.Errorf("referrers tag overwritten")
			}
		})
	}
}

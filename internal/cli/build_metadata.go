package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/exporter"
	"github.com/affix-oci/affix/frontend"
	"github.com/affix-oci/affix/internal/oci"
)

// buildMetadata is the --metadata-file document of affix build: buildx's
// keys, then the fields of push's metadata (index, tag, platforms with
// their SBOM referrers, referrers mode, requests), then build's own.
type buildMetadata struct {
	// ContainerImageDigest is the image index digest (buildx's key).
	ContainerImageDigest digest.Digest `json:"containerimage.digest"`
	// ContainerImageDescriptor is the image index descriptor as buildx
	// writes it (buildx's key): its exporter's response, the
	// index-descriptor annotations without image names
	// (frontend.Result.ExporterDescriptor).
	ContainerImageDescriptor ocispec.Descriptor `json:"containerimage.descriptor"`
	// ImageName is the tags, comma-separated (buildx's key).
	ImageName string `json:"image.name,omitempty"`
	pushMetadata
	// Tags are every tag written (with --push), or named (without); []
	// without -t.
	Tags []string `json:"tags"`
	// Pushed reports whether the image was pushed to the tags.
	Pushed bool `json:"pushed"`
	// Output is the OCI layout written (--output), "-" for stdout.
	Output string `json:"output,omitempty"`
	// SourceDateEpoch is the SOURCE_DATE_EPOCH the image and the SBOMs
	// were made with, in seconds; absent when none was set.
	SourceDateEpoch *int64 `json:"sourceDateEpoch,omitempty"`
	// SBOMs describe each platform's scan; [] without SBOMs (as a
	// platform's referrers are then []).
	SBOMs []sbomMeta `json:"sboms"`
}

type sbomMeta struct {
	Platform string         `json:"platform"`
	Packages map[string]int `json:"packages"`
	Cached   bool           `json:"cached"`
	Created  time.Time      `json:"created"`
	// Unreadable lists what the scan found but could not read
	// (sbomgen.Result.Unreadable).
	Unreadable []string `json:"unreadable,omitempty"`
}

func (r *buildRun) metadata() *buildMetadata {
	idx := ocispec.Descriptor{MediaType: r.res.Index.MediaType, Digest: r.res.Index.Digest, Size: r.res.Index.Size, Annotations: r.res.Index.Annotations}
	m := &buildMetadata{
		ContainerImageDigest:     idx.Digest,
		ContainerImageDescriptor: r.res.ExporterDescriptor(exporterOf(r.plan)),
		ImageName:                strings.Join(r.plan.tags, ","),
		Tags:                     append([]string{}, r.plan.tags...),
		Pushed:                   r.plan.push,
		SBOMs:                    []sbomMeta{},
	}
	m.pushMetadata = pushMetadata{
		Index:         &idx,
		ReferrersMode: map[string]exporter.Mode{},
		Requests:      r.counter.Counts(),
		RequestsTotal: r.counter.Total(),
	}
	if len(r.plan.tags) > 0 {
		m.Tag = r.plan.tags[0]
	}
	if r.plan.push {
		// The tags written: none of a repository pushed by digest.
		m.Tags = r.plan.writtenTags()
		m.Tag = firstOr(m.Tags, "")
		idx.Annotations = dropUnwrittenName(idx.Annotations, m.Tags)
		m.Index = &idx
	}
	if r.plan.allByDigest() {
		// No tag written: the repositories, as buildx names them.
		var repos []string
		for _, rt := range r.plan.repos {
			repos = append(repos, rt.name())
		}
		m.ImageName = strings.Join(repos, ",")
	}
	var blobs exporter.BlobCounts
	for _, s := range r.sinks {
		if s.result != nil && s.verb == "push" {
			for k, v := range s.result.Modes {
				m.ReferrersMode[k] = v
			}
			// Summed over the repositories pushed to.
			b := s.result.Blobs
			blobs.Existing += b.Existing
			blobs.Mounted += b.Mounted
			blobs.Uploaded += b.Uploaded
			blobs.NotMounted += b.NotMounted
		}
	}
	if blobs != (exporter.BlobCounts{}) {
		m.Blobs = &blobs
	}
	m.Platforms = platformMetas(r.platforms, r.attached)
	if r.plan.output != nil {
		m.Output = r.plan.output.dest
	}
	if !r.res.SourceDateEpoch.IsZero() {
		s := r.res.SourceDateEpoch.Unix()
		m.SourceDateEpoch = &s
	}
	for i, res := range r.sboms {
		if res == nil {
			continue
		}
		pkgs := res.Packages
		if pkgs == nil {
			pkgs = map[string]int{} // {} for an image without packages, not null
		}
		m.SBOMs = append(m.SBOMs, sbomMeta{Platform: r.platforms[i].String(), Packages: pkgs, Cached: res.Cached, Created: res.Created, Unreadable: res.Unreadable})
	}
	return m
}

// exporterOf returns the BuildKit exporter buildx would report the
// descriptor of for the same build: the oci exporter's when it writes an
// OCI layout (--output), else the image exporter's (--push, or nothing
// exported).
func exporterOf(p *buildPlan) string {
	if p.output != nil {
		return frontend.ExporterOCI
	}
	return frontend.ExporterImage
}

// dropUnwrittenName returns the index descriptor's annotations a without
// the image name and tag they give (io.containerd.image.name,
// org.opencontainers.image.ref.name, which the layout's index.json
// carries) when that name is not among the tags written: a repository
// pushed by digest gets no tag, and a CI script reading the descriptor
// must not look for one.
func dropUnwrittenName(a map[string]string, written []string) map[string]string {
	name, ok := a[oci.AnnotationImageName]
	if !ok || slices.Contains(written, name) {
		return a
	}
	out := maps.Clone(a)
	delete(out, oci.AnnotationImageName)
	delete(out, ocispec.AnnotationRefName)
	if len(out) == 0 {
		return nil
	}
	return out
}

// plural formats n with noun, adding "s" unless n is 1: "1 platform",
// "2 platforms".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// printBuild prints the summary of a build on w: the index, each platform
// with its SBOM referrers, the tags pushed.
func printBuild(w io.Writer, m *buildMetadata, r *buildRun) {
	fmt.Fprintf(w, "built %s (%s)\n", m.ContainerImageDigest, plural(len(m.Platforms), "platform"))
	for i, p := range m.Platforms {
		line := fmt.Sprintf("  %-14s %s", p.Platform, p.Digest)
		if res := r.sboms[i]; res != nil {
			how := ""
			if res.Cached {
				how = ", cached"
			}
			line += fmt.Sprintf("  %s%s", plural(res.PackageCount(), "package"), how)
			if u := res.UnreadableSummary(); u != "" {
				// The SBOM lacks what they hold: said where a CI log
				// shows it, whatever the progress display.
				line += "; " + u
			}
		}
		fmt.Fprintln(w, line)
		for _, ref := range p.Referrers {
			line := fmt.Sprintf("    %-14s %s %s", ref.Format, ref.Digest, ref.ArtifactType)
			if len(r.plan.repos) > 1 && r.plan.push {
				// Each repository has its own: say whose this is.
				line += " (" + strings.Join(ref.Repositories, ", ") + ")"
			}
			fmt.Fprintln(w, line)
		}
	}
	for _, s := range r.sinks {
		if s.verb != "push" || s.result == nil {
			continue
		}
		for _, t := range s.tags {
			fmt.Fprintf(w, "pushed %s:%s@%s\n", s.name, t, s.result.Root.Digest)
		}
		if len(s.tags) == 0 {
			fmt.Fprintf(w, "pushed %s@%s (by digest, no tag)\n", s.name, s.result.Root.Digest)
		}
		for repo, mode := range s.result.Modes {
			fmt.Fprintf(w, "  referrers: %s (%s)\n", mode, repo)
		}
	}
	if r.plan.output != nil {
		kind := "directory"
		if r.plan.output.tar {
			kind = "tar"
		}
		fmt.Fprintf(w, "wrote OCI layout (%s) %s\n", kind, r.plan.output.dest)
	}
	if m.RequestsTotal > 0 {
		fmt.Fprintf(w, "registry requests: %d (%s)\n", m.RequestsTotal, formatCounts(m.Requests))
	}
}

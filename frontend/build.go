package frontend

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	contentlocal "github.com/containerd/containerd/v2/plugins/content/local"
	"github.com/containerd/platforms"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	"github.com/moby/buildkit/util/progress/progresswriter"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"
	"golang.org/x/sync/errgroup"

	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/internal/tmpdir"
)

// Result is what Build produced: an OCI image layout holding one image
// index.
type Result struct {
	// Layout is the OCI image layout directory.
	Layout string
	// Index is the image index as index.json lists it (its annotations
	// name the tags).
	Index ocispec.Descriptor
	// Manifests are the platform manifests, as the index lists them, in
	// the requested platform order, Platform set.
	Manifests []ocispec.Descriptor
	// SourceDateEpoch is the SOURCE_DATE_EPOCH the image was built with;
	// zero when none was set, or when it was a value BuildKit resolves
	// itself ("context", a build context or stage name): the image
	// config's created then tells the time.
	SourceDateEpoch time.Time
	// tmp holds Layout when it is the build's temporary directory.
	tmp *tmpdir.Dir
	// exported is the index descriptor as the oci exporter reported it
	// (for several nodes: as merge made it, before the names); zero when
	// the exporter reported none.
	exported ocispec.Descriptor
	// createdGiven reports that org.opencontainers.image.created is an
	// index-descriptor annotation of the options, not BuildKit's stamp.
	createdGiven bool
}

// Exporter types for Result.ExporterDescriptor.
const (
	// ExporterOCI is BuildKit's oci exporter, what Build runs (buildx
	// --output type=oci).
	ExporterOCI = "oci"
	// ExporterImage is BuildKit's image exporter (buildx --push).
	ExporterImage = "image"
)

// ExporterDescriptor returns the image index descriptor as BuildKit's
// exporter of type exporter (ExporterOCI or ExporterImage) reports it in
// its response (containerimage.descriptor, which buildx writes to its
// --metadata-file as it is): media type, digest, size and the
// index-descriptor annotations, without the image names that index.json
// adds (io.containerd.image.name, org.opencontainers.image.ref.name). The
// oci exporter adds org.opencontainers.image.created (the export time,
// or SOURCE_DATE_EPOCH); the image exporter does not, so for it that
// annotation is there only when the options set it.
func (r *Result) ExporterDescriptor(exporter string) ocispec.Descriptor {
	d := r.exported
	if d.Digest == "" {
		d = r.Index
		d.Annotations = maps.Clone(d.Annotations)
		delete(d.Annotations, oci.AnnotationImageName)
		delete(d.Annotations, ocispec.AnnotationRefName)
	}
	out := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, Annotations: maps.Clone(d.Annotations)}
	if exporter == ExporterImage && !r.createdGiven {
		delete(out.Annotations, ocispec.AnnotationCreated)
	}
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	return out
}

// Close removes the layout when it is the build's temporary directory
// (no Options.Output) and releases it. Until then no other affix process
// takes it for one a killed build left behind (tmpdir.Make); an output
// directory is left as it is.
func (r *Result) Close() error {
	if r.tmp == nil {
		return nil
	}
	return r.tmp.Remove()
}

// frontendName is BuildKit's built-in Dockerfile frontend.
const frontendName = "dockerfile.v0"

// Build builds the Dockerfile that opts name and writes the image into an
// OCI layout directory: it is NewPlan (bad options are ErrInvalidOption,
// ErrInvalidPlatform or ErrNoNode), then Plan.Build feeding
// opts.Progress. A caller that shows Plan.Warnings before the build
// starts calls the two itself.
func Build(ctx context.Context, opts Options) (*Result, error) {
	p, err := NewPlan(opts)
	if err != nil {
		return nil, err
	}
	return p.Build(ctx, opts.Progress)
}

// Build builds the plan and writes the image into an OCI layout
// directory. It first checks that every builder answers (a builder that
// does not fails with ErrUnreachable naming its address), then builds
// each node's platforms concurrently, feeding prog (nil displays
// nothing; Options.Progress is not used here). With several nodes the
// results are merged into one index, platforms in the requested order. A
// failed build is ErrBuildFailed; an output directory that is not empty
// is ErrInvalidOption.
func (pl *Plan) Build(ctx context.Context, prog *Progress) (_ *Result, err error) {
	p := pl.p
	p.s3Creds.Do(func() {
		if needsS3Credentials(p.cacheImports, p.cacheExports) {
			_ = prog.Task(ctx, "s3 cache: AWS credentials", func(ctx context.Context) error {
				addS3Credentials(ctx, awsCredentials, p.cacheImports, p.cacheExports)
				return nil
			})
		}
	})
	clients, err := p.connectAll(ctx)
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.Close()
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	res, cleanup, err := p.newResult()
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			cleanup()
		}
	}()
	if len(p.groups) == 1 {
		err = p.buildOne(ctx, clients[0], res, prog)
	} else {
		err = p.buildNodes(ctx, clients, res, prog)
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// connectAll connects to every node. Every node is checked, none
// cancelled by another's failure, so that the error names each builder
// that does not answer, not the first. The clients connected are returned
// for the caller to close, error or not.
func (p *plan) connectAll(ctx context.Context) ([]*client.Client, error) {
	clients := make([]*client.Client, len(p.groups))
	errs := make([]error, len(p.groups))
	var wg sync.WaitGroup
	for i, g := range p.groups {
		wg.Go(func() { clients[i], errs[i] = connect(ctx, g.node, p) })
	}
	wg.Wait()
	return clients, errors.Join(errs...)
}

// newResult makes the Result's layout directory: the output directory
// (empty or new), else a temporary one, and returns what removes it.
func (p *plan) newResult() (*Result, func(), error) {
	res := &Result{}
	_, res.createdGiven = p.exportAttrs[exptypes.AnnotationKey{Type: exptypes.AnnotationIndexDescriptor, Key: ocispec.AnnotationCreated}.String()]
	if p.epoch != nil {
		res.SourceDateEpoch = *p.epoch
	}
	if p.output != "" {
		var cleanup func()
		var err error
		res.Layout, cleanup, err = prepareOutput(p.output)
		return res, cleanup, err
	}
	// A build killed before it removes its layout leaves it to the next
	// build to remove.
	tmp, err := tmpdir.Make("", "affix-build-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating the build's layout directory: %w", err)
	}
	res.tmp, res.Layout = tmp, tmp.Path
	return res, func() { tmp.Remove() }, nil
}

// buildOne builds the plan's one node group straight into res's layout.
func (p *plan) buildOne(ctx context.Context, c *client.Client, res *Result, prog *Progress) error {
	out := res.Layout
	desc, err := p.solve(ctx, c, p.groups[0], out, res, prog, "", "")
	if err != nil {
		return err
	}
	_ = os.Remove(filepath.Join(out, "ingest")) // only when empty
	if res.Index, res.Manifests, err = readResult(ctx, out, p.platforms); err != nil {
		return err
	}
	if desc.Digest != "" && desc.Digest != res.Index.Digest {
		return fmt.Errorf("exported layout %s: index.json lists %s, the exporter reported %s", out, res.Index.Digest, desc.Digest)
	}
	res.exported = desc
	return nil
}

// buildNodes builds each node's group concurrently into its own part of
// res's layout, then merges the parts into one index. The parts are
// written while other nodes may still be reading the local contexts:
// when the layout is inside one (--output dest in the build context),
// they are left out of what is sent (localFS).
func (p *plan) buildNodes(ctx context.Context, clients []*client.Client, res *Result, prog *Progress) error {
	out := res.Layout
	parts := make([]string, len(p.groups))
	tmp := filepath.Join(out, ".affix-parts")
	defer os.RemoveAll(tmp)
	eg, ectx := errgroup.WithContext(ctx)
	for i, g := range p.groups {
		parts[i] = filepath.Join(tmp, strconv.Itoa(i))
		eg.Go(func() error {
			// Name the node's vertices after its platform, or its
			// address when it builds several (the Dockerfile frontend
			// prefixes those with their platform itself).
			prefix := g.node.addr
			if len(g.platforms) == 1 {
				prefix = formatPlatforms(g.platforms)
			}
			_, err := p.solve(ectx, clients[i], g, parts[i], res, prog, prefix, tmp)
			return err
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}
	return prog.Task(ctx, fmt.Sprintf("merging %d nodes' images into one index", len(parts)), func(ctx context.Context) error {
		var err error
		res.Index, res.exported, res.Manifests, err = merge(ctx, out, parts, p)
		if errno := noRoom(err, out); errno != 0 {
			return fmt.Errorf("merging the nodes' images: %w", roomError(errno, out, res.tmp != nil))
		}
		if err == nil {
			Logf(ctx, "index %s", res.Index.Digest)
		}
		return err
	})
}

// solve runs the Dockerfile frontend for one group on c and exports the
// image into the layout dir, res's layout or a part of it. prefix, when
// set, prefixes its vertices; exclude, when set, is a directory the local
// contexts do not send.
func (p *plan) solve(ctx context.Context, c *client.Client, g group, dir string, res *Result, prog *Progress, prefix, exclude string) (ocispec.Descriptor, error) {
	so, err := p.solveOpt(g, prog, prefix, exclude)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	so.Frontend = frontendName
	so.CacheExports = cloneCache(p.cacheExports)
	so.Exports = []client.ExportEntry{{
		Type:      client.ExporterOCI,
		Attrs:     p.exportAttrsFor(g),
		OutputDir: dir,
	}}
	what := "default platform"
	if len(g.platforms) > 0 {
		what = formatPlatforms(g.platforms)
	}
	resp, err := c.Solve(ctx, nil, so, prog.feed(prefix))
	if err != nil {
		if ctx.Err() != nil {
			return ocispec.Descriptor{}, fmt.Errorf("building %s for %s on %s: %w", p.dockerfileName, what, g.node, context.Cause(ctx))
		}
		if errno := noRoom(err, dir); errno != 0 {
			// Not the build's fault: this machine's, where the image
			// goes.
			return ocispec.Descriptor{}, fmt.Errorf("building %s for %s on %s: %w", p.dockerfileName, what, g.node, roomError(errno, res.Layout, res.tmp != nil))
		}
		return ocispec.Descriptor{}, fmt.Errorf("building %s for %s on %s: %w: %w", p.dockerfileName, what, g.node, ErrBuildFailed, err)
	}
	desc, err := exportedDescriptor(resp.ExporterResponse)
	if err != nil {
		return desc, fmt.Errorf("building %s for %s on %s: %w", p.dockerfileName, what, g.node, err)
	}
	return desc, nil
}

// exportedDescriptor decodes the image descriptor of an exporter response
// (base64 JSON); zero when it has none.
func exportedDescriptor(resp map[string]string) (ocispec.Descriptor, error) {
	var desc ocispec.Descriptor
	v := resp[exptypes.ExporterImageDescriptorKey]
	if v == "" {
		return desc, nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err == nil {
		err = json.Unmarshal(b, &desc)
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("exporter response %s: %w", exptypes.ExporterImageDescriptorKey, err)
	}
	return desc, nil
}

// solveOpt returns what every request to the Dockerfile frontend for
// group g takes: its attributes, the local and oci-layout contexts, the
// session services, the cache imports and the entitlements. Exports
// and cache exports are the caller's. exclude, an absolute path when set,
// is left out of every local context it is inside.
func (p *plan) solveOpt(g group, prog *Progress, prefix, exclude string) (client.SolveOpt, error) {
	locals := make(map[string]fsutil.FS, len(p.locals))
	for name, d := range p.locals {
		fsys, err := localFS(d, exclude)
		if err != nil {
			return client.SolveOpt{}, fmt.Errorf("local %s %s: %w", name, d, err)
		}
		locals[name] = fsys
	}
	stores := make(map[string]content.Store, len(p.ociStores))
	for id, d := range p.ociStores {
		s, err := contentlocal.NewStore(d)
		if err != nil {
			return client.SolveOpt{}, fmt.Errorf("oci-layout context %s: %w", d, err)
		}
		stores[id] = s
	}
	attach, err := p.attachables(prog, prefix)
	if err != nil {
		return client.SolveOpt{}, err
	}
	return client.SolveOpt{
		FrontendAttrs: p.frontendAttrsFor(g),
		SharedKey:     p.sharedKey(),
		LocalMounts:   locals,
		OCIStores:     stores,
		Session:       attach,
		CacheImports:  cloneCache(p.cacheImports),
		// The client keeps its own copy.
		AllowedEntitlements: p.entitlements,
	}, nil
}

// localFS returns the file system sent for the local context directory
// d: all of it but exclude (an absolute path; "" for none), when exclude
// is inside d.
func localFS(d, exclude string) (fsutil.FS, error) {
	fsys, err := fsutil.NewFS(d)
	if err != nil || exclude == "" {
		return fsys, err
	}
	rel, err := filepath.Rel(d, exclude)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fsys, nil // not inside d (d itself is never excluded)
	}
	return fsutil.NewFilterFS(fsys, &fsutil.FilterOpt{ExcludePatterns: []string{escapePattern(filepath.ToSlash(rel))}})
}

// escapePattern escapes the characters that have a meaning in a
// .dockerignore pattern (a leading ! negates it), so that the pattern
// matches the path p alone. Windows patterns have no escape (the
// backslash separates paths).
func escapePattern(p string) string {
	if runtime.GOOS == "windows" {
		return p
	}
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`\*?[]!`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// sharedKey is the session's shared key, by which buildkitd keeps the
// local contexts it received for the next build to send only what
// changed: one per context directory and client host, as buildx keys
// them, so that builds of two projects on one builder do not each send
// their whole context after the other's.
func (p *plan) sharedKey() string {
	host, _ := os.Hostname()
	return digest.FromString(host + "\x00" + p.contextDir).Encoded()[:32]
}

// attachables returns the session services of one solve: registry
// credentials (docker config), secrets and ssh forwarding.
func (p *plan) attachables(prog *Progress, prefix string) ([]session.Attachable, error) {
	auth := authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
		AuthConfigProvider: authprovider.LoadAuthConfig(p.dockerConfig),
	})
	if prog != nil {
		if l, ok := auth.(interface{ SetLogger(progresswriter.Logger) }); ok {
			l.SetLogger(func(ss *client.SolveStatus) {
				if prefix != "" {
					ss = prefixStatus(prefix, ss)
				}
				prog.send(ss)
			})
		}
	}
	out := []session.Attachable{auth}
	if len(p.secrets) > 0 {
		store, err := secretsprovider.NewStore(p.secrets)
		if err != nil {
			return nil, fmt.Errorf("secrets: %w: %w", ErrInvalidOption, err)
		}
		out = append(out, secretsprovider.NewSecretProvider(store))
	}
	if len(p.ssh) > 0 {
		sp, err := sshprovider.NewSSHAgentProvider(p.ssh)
		if err != nil {
			return nil, fmt.Errorf("ssh: %w: %w", ErrInvalidOption, err)
		}
		out = append(out, sp)
	}
	return out, nil
}

// readResult reads the layout one solve exported into dir: index.json
// must list exactly one image index (once per image name: BuildKit writes
// an entry for each), which must hold the requested platforms (in order),
// or one platform image when none was requested. The first entry is
// returned.
func readResult(ctx context.Context, dir string, want []ocispec.Platform) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	l, err := oci.Open(ctx, oci.Source{Scheme: oci.SchemeLayout, Path: dir})
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("reading the exported layout: %w", err)
	}
	defer l.Close()
	root, err := singleIndex(l.Roots())
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("exported layout %s: %w", dir, err)
	}
	var idx ocispec.Index
	if _, err := oci.ReadJSON(ctx, l, root, &idx); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("exported layout %s: %w", dir, err)
	}
	ms, err := platformManifests(idx, want)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("exported layout %s: %w", dir, err)
	}
	return root, ms, nil
}

// singleIndex returns the first of roots, the index.json entries of an
// exported layout, when they all name one image index (BuildKit writes one
// entry per image name).
func singleIndex(roots []ocispec.Descriptor) (ocispec.Descriptor, error) {
	if len(roots) == 0 {
		return ocispec.Descriptor{}, errors.New("index.json lists no entry, want one image index")
	}
	if !oci.IsIndex(roots[0].MediaType) {
		return ocispec.Descriptor{}, fmt.Errorf("index.json lists %s (%s), want one image index", roots[0].Digest, cmp.Or(roots[0].MediaType, "no media type"))
	}
	for _, r := range roots[1:] {
		if r.Digest != roots[0].Digest {
			return ocispec.Descriptor{}, fmt.Errorf("index.json lists %s and %s, want one image index", roots[0].Digest, r.Digest)
		}
	}
	return roots[0], nil
}

// platformManifests returns the platform manifests of idx in the order of
// want (all of them when want is empty), and fails when one is missing.
func platformManifests(idx ocispec.Index, want []ocispec.Platform) ([]ocispec.Descriptor, error) {
	var have []ocispec.Descriptor
	for _, d := range idx.Manifests {
		if oci.IsManifest(d.MediaType) && !oci.IsAttestation(d) && d.Platform != nil {
			have = append(have, d)
		}
	}
	if len(want) == 0 {
		if len(have) == 0 {
			return nil, errors.New("the image index lists no platform manifest")
		}
		return have, nil
	}
	out := make([]ocispec.Descriptor, 0, len(want))
	for _, w := range want {
		found := false
		for _, d := range have {
			if oci.MatchPlatform(w, *d.Platform) {
				out = append(out, d)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("no manifest for platform %s", platforms.FormatAll(w))
		}
	}
	return out, nil
}

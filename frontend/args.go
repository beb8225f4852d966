package frontend

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/exporter/containerimage/exptypes"
	"github.com/moby/buildkit/session/secrets/secretsprovider"
	"github.com/moby/buildkit/session/sshforward/sshprovider"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/go-csvvalue"

	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/oci"
)

// parseLabels parses --label values, KEY=VALUE or a bare KEY (an empty
// value, as buildx sets it).
func parseLabels(in []string) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for _, s := range in {
		k, v, _ := strings.Cut(s, "=")
		if strings.TrimSpace(k) == "" {
			return nil, optErr("label %q: want KEY=VALUE or KEY", s)
		}
		out[k] = v
	}
	return out, nil
}

// parseBuildArgs parses KEY=VALUE and bare KEY (from the environment,
// skipped when unset there).
func parseBuildArgs(in []string, lookup func(string) (string, bool)) (map[string]string, error) {
	out := make(map[string]string, len(in))
	for _, s := range in {
		k, v, ok := strings.Cut(s, "=")
		if strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t") {
			return nil, optErr("build-arg %q: want KEY=VALUE or KEY", s)
		}
		if !ok {
			if v, ok = lookup(k); !ok {
				continue
			}
		}
		out[k] = v
	}
	return out, nil
}

// MaxSourceDateEpoch is the largest SOURCE_DATE_EPOCH taken,
// 9999-12-31T23:59:59Z (epoch.Max): the SBOMs and the image config write
// the time in RFC 3339, which has four-digit years.
const MaxSourceDateEpoch = epoch.Max

// setEpoch resolves the SOURCE_DATE_EPOCH to build with: explicit, else
// the build argument, else the environment. An integer is the epoch,
// parsed as every affix command parses it (epoch.Parse: ASCII digits
// only, 0 to MaxSourceDateEpoch; a negative or too large integer is
// refused, wrapping epoch's sentinel). Any other value BuildKit resolves
// itself ("context", a named build context, a stage that ADDs one remote
// source) is passed through, checked as far as the client can; so a
// value with spaces or a sign "+" is refused as no such name. Either way
// it becomes the build argument and layer timestamps are rewritten to it.
// Call it after the build contexts are added.
func (p *plan) setEpoch(explicit string, args map[string]string, lookup func(string) (string, bool)) error {
	v, from := explicit, "SourceDateEpoch"
	if v == "" {
		if a, ok := args["SOURCE_DATE_EPOCH"]; ok {
			v, from = a, "build-arg SOURCE_DATE_EPOCH"
		} else if e, ok := lookup("SOURCE_DATE_EPOCH"); ok {
			v, from = e, "environment SOURCE_DATE_EPOCH"
		}
	}
	if v == "" {
		return nil
	}
	switch t, err := epoch.Parse(v); {
	case err == nil:
		p.epoch = &t
		v = strconv.FormatInt(t.Unix(), 10)
	case !errors.Is(err, epoch.ErrInvalid):
		// An integer out of range.
		return optWrap(err, "%s %q", from, v)
	default:
		if err := p.checkEpochSource(v); err != nil {
			return fmt.Errorf("%s %q: %w", from, v, err)
		}
	}
	args["SOURCE_DATE_EPOCH"] = v
	p.hasEpoch = true
	p.exportAttrs["rewrite-timestamp"] = "true"
	return nil
}

// checkEpochSource checks a SOURCE_DATE_EPOCH that is not an integer
// against what BuildKit's Dockerfile frontend resolves: "context" (the
// main context's commit or Last-Modified time; nothing for a local
// directory), a named build context, or a Dockerfile stage (which
// BuildKit requires to be FROM scratch with one remote ADD).
func (p *plan) checkEpochSource(v string) error {
	if v == "context" {
		return nil
	}
	if n, err := contextName(v); err == nil {
		if _, ok := p.attrs["context:"+n]; ok {
			return nil
		}
	}
	const want = `want seconds since 1970-01-01 UTC, "context", a build context name or a stage name`
	if validStageName.MatchString(strings.ToLower(v)) {
		// A word such as "yesterday" is taken for a stage name only if
		// the Dockerfile has that stage (or does not parse here); else it
		// gets the same message as "1.5", with what the stages are.
		if problem := p.stageProblem(v); problem != "" {
			return optErr("%s; %s", want, problem)
		}
		return nil
	}
	return optErr("%s", want)
}

// parseSecret parses one --secret value as buildx does, and checks that
// the file or environment variable it names exists.
func parseSecret(s string, lookup func(string) (string, bool)) (secretsprovider.Source, error) {
	var src secretsprovider.Source
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return src, fmt.Errorf("secret %q: %w: %w", s, ErrInvalidOption, err)
	}
	typ := ""
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return src, optErr("secret %q: field %q: want key=value", s, f)
		}
		switch strings.ToLower(k) {
		case "type":
			if v != "file" && v != "env" {
				return src, optErr("secret %q: type %q: want file or env", s, v)
			}
			typ = v
		case "id":
			src.ID = v
		case "src", "source":
			src.FilePath = v
		case "env":
			src.Env = v
		default:
			return src, optErr("secret %q: unknown key %q", s, k)
		}
	}
	if typ == "env" && src.Env == "" {
		src.Env, src.FilePath = src.FilePath, ""
		if src.Env == "" {
			// type=env,id=TOKEN reads the variable TOKEN.
			src.Env = src.ID
		}
	}
	if src.ID == "" {
		return src, optErr("secret %q: no id", s)
	}
	if src.Env == "" && src.FilePath == "" {
		if _, ok := lookup(src.ID); ok && typ != "file" {
			src.Env = src.ID
		} else {
			src.FilePath = src.ID
		}
	}
	if src.Env != "" && src.FilePath != "" {
		return src, optErr("secret %q: give src or env, not both", s)
	}
	if src.Env != "" {
		// An unset variable is an empty secret, as BuildKit's store
		// reads it when the build asks (buildx passes it on so too):
		// optional secrets stay optional. Plan.Warnings says so.
		return src, nil
	}
	fi, err := os.Stat(src.FilePath)
	if err != nil {
		return src, fmt.Errorf("secret %q: %w: %w", s, ErrInvalidOption, err)
	}
	if fi.IsDir() {
		return src, optErr("secret %q: %s is a directory", s, src.FilePath)
	}
	return src, nil
}

// parseSSH parses --ssh values: ID[=PATH[,PATH...]]. Without a path (ID
// or ID=), BuildKit's provider uses $SSH_AUTH_SOCK.
func parseSSH(in []string) ([]sshprovider.AgentConfig, error) {
	var out []sshprovider.AgentConfig
	seen := map[string]bool{}
	for _, s := range in {
		id, paths, ok := strings.Cut(s, "=")
		if id == "" {
			return nil, optErr("ssh %q: want default or ID[=SOCKET_OR_KEY[,...]]", s)
		}
		if seen[id] {
			return nil, optErr("ssh %q: id %q given twice", s, id)
		}
		seen[id] = true
		cfg := sshprovider.AgentConfig{ID: id}
		if ok && paths != "" {
			for p := range strings.SplitSeq(paths, ",") {
				if p == "" {
					return nil, optErr("ssh %q: empty path", s)
				}
				if _, err := os.Stat(p); err != nil {
					return nil, fmt.Errorf("ssh %q: %w: %w", s, ErrInvalidOption, err)
				}
				cfg.Paths = append(cfg.Paths, p)
			}
		}
		out = append(out, cfg)
	}
	if len(out) > 0 {
		// Resolve sockets and load keys now, so a bad path or a missing
		// agent fails before the build starts.
		if _, err := sshprovider.NewSSHAgentProvider(out); err != nil {
			return nil, fmt.Errorf("ssh: %w: %w", ErrInvalidOption, err)
		}
	}
	return out, nil
}

// normalizeTags normalizes image names as buildx does ("app" is
// docker.io/library/app:latest).
func normalizeTags(tags []string) ([]string, error) {
	var out []string
	for _, t := range tags {
		if strings.Contains(t, ",") {
			return nil, optErr("tag %q: contains a comma", t)
		}
		n, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			return nil, fmt.Errorf("tag %q: %w: %w", t, ErrInvalidOption, err)
		}
		out = append(out, reference.TagNameOnly(n).String())
	}
	return out, nil
}

// parsePlatform parses and normalizes one platform as buildx does
// (oci.ParsePlatform: os/arch[/variant], or an architecture alone, such
// as "arm64", on this machine's OS, aliases such as "aarch64" normalized).
func parsePlatform(s string) (ocispec.Platform, error) {
	pl, err := oci.ParsePlatform(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("%w: %w", err, ErrInvalidPlatform)
	}
	return platforms.Normalize(pl), nil
}

// parsePlatforms parses --platform values as buildx does: also
// comma-separated lists ("linux/amd64,linux/arm64"), "local" for the
// client's own platform, and duplicates after normalization
// (linux/arm64 and linux/arm64/v8) dropped, the first kept.
func parsePlatforms(in []string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	seen := map[string]bool{}
	for _, s := range in {
		for one := range strings.SplitSeq(s, ",") {
			one = strings.TrimSpace(one)
			var pl ocispec.Platform
			if strings.EqualFold(one, "local") {
				pl = platforms.Normalize(platforms.DefaultSpec())
			} else {
				var err error
				if pl, err = parsePlatform(one); err != nil {
					return nil, err
				}
			}
			f := platforms.FormatAll(pl)
			if seen[f] {
				continue
			}
			seen[f] = true
			out = append(out, pl)
		}
	}
	return out, nil
}

// CheckPlatforms checks platform values as Options.Platforms takes them
// (os/arch[/variant], an architecture alone or "local", comma-separated): an error wrapping
// ErrInvalidPlatform names the first bad one.
func CheckPlatforms(values []string) error {
	_, err := parsePlatforms(values)
	return err
}

// annotationType is one TYPE[PLATFORM] of an --annotation prefix, as
// buildx's ParseAnnotations matches it.
var annotationType = regexp.MustCompile(`^([a-z-]+)(?:\[([A-Za-z0-9_/-]+)\])?$`)

// parseAnnotation parses one --annotation value as buildx does:
// [TYPES:]KEY=VALUE, where TYPES, everything before the first colon of
// the part before "=", is a comma-separated list of TYPE[PLATFORM], TYPE
// one of manifest, manifest-descriptor, index and index-descriptor. So a
// key with a colon needs a type ("manifest:org.example:k=v"): a prefix
// that is no type list, such as a misspelt type or "org.example" in
// "org.example:k=v", is refused, as buildx refuses it. Without a prefix
// the key is a manifest annotation of every platform. It returns one
// key per type, in the order given.
func parseAnnotation(s string) ([]exptypes.AnnotationKey, string, error) {
	kv, v, ok := strings.Cut(s, "=")
	if !ok || kv == "" {
		return nil, "", optErr("annotation %q: want [TYPE[PLATFORM]:]KEY=VALUE", s)
	}
	types, key, typed := strings.Cut(kv, ":")
	if !typed {
		key = kv
	}
	if key == "" || strings.ContainsAny(key, " \t") {
		return nil, "", optErr("annotation %q: bad key %q", s, key)
	}
	if !typed {
		return []exptypes.AnnotationKey{{Key: key}}, v, nil
	}
	var keys []exptypes.AnnotationKey
	for _, t := range strings.Split(types, ",") {
		m := annotationType.FindStringSubmatch(t)
		if m == nil {
			return nil, "", optErr("annotation %q: type %q: want TYPE or TYPE[PLATFORM] before the colon (a key with a colon needs a type: manifest:KEY=VALUE)", s, t)
		}
		ak := exptypes.AnnotationKey{Type: m[1], Key: key}
		switch ak.Type {
		case exptypes.AnnotationManifest, exptypes.AnnotationManifestDescriptor:
		case exptypes.AnnotationIndex, exptypes.AnnotationIndexDescriptor:
			if m[2] != "" {
				return nil, "", optErr("annotation %q: %s annotations take no platform", s, ak.Type)
			}
		default:
			return nil, "", optErr("annotation %q: unknown type %q (want manifest, manifest-descriptor, index or index-descriptor)", s, ak.Type)
		}
		if m[2] != "" {
			pl, err := parsePlatform(m[2])
			if err != nil {
				return nil, "", fmt.Errorf("annotation %q: %w", s, err)
			}
			ak.Platform = &pl
		}
		keys = append(keys, ak)
	}
	return keys, v, nil
}

// addAnnotation parses [TYPES:]KEY=VALUE (parseAnnotation) into exporter
// attributes, one per type, as buildx --annotation does.
func (p *plan) addAnnotation(s string) error {
	keys, v, err := parseAnnotation(s)
	if err != nil {
		return err
	}
	for _, ak := range keys {
		if ak.Platform == nil {
			p.exportAttrs[ak.String()] = v
			continue
		}
		if !slices.ContainsFunc(p.platforms, func(pl ocispec.Platform) bool {
			return platforms.FormatAll(pl) == platforms.FormatAll(*ak.Platform)
		}) && len(p.platforms) > 0 {
			return fmt.Errorf("annotation %q: platform %s is not built: %w", s, platforms.FormatAll(*ak.Platform), ErrInvalidOption)
		}
		p.platAnnotations = append(p.platAnnotations, annotation{platform: *ak.Platform, key: ak.String(), value: v})
	}
	return nil
}

package frontend

import (
	"bytes"
	"os"
	"strings"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// BaseImage returns the image whose layers the built image starts with:
// the FROM of the target stage (Options.Target, else the last stage),
// followed through the stages it names, its variables expanded as the
// Dockerfile frontend expands them (ARGs before the first FROM, their
// defaults overridden by Options.BuildArgs, and TARGETPLATFORM,
// TARGETOS, TARGETARCH, TARGETVARIANT of each requested platform), and
// normalized as the frontend normalizes it
// (docker.io/library/alpine:latest); a named build context of that name
// that is docker-image://REF gives REF. A push can mount the base layers
// from that image's repository rather than upload them.
//
// It is "" when the image cannot be told here: a Dockerfile that does
// not parse here, FROM scratch, a variable the client does not know
// (BUILDPLATFORM, an ARG without a value), a name that differs between
// the platforms, a named context of another kind. It is a hint, never a
// promise: a mount the registry refuses is an upload.
func (pl *Plan) BaseImage() string {
	p := pl.p
	b, err := os.ReadFile(p.dockerfile)
	if err != nil {
		return ""
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	stages, metaArgs, err := instructions.Parse(res.AST, nil)
	if err != nil || len(stages) == 0 {
		return ""
	}
	lex := shell.NewLex(res.EscapeToken)
	plats := p.platforms
	if len(plats) == 0 {
		plats = []ocispec.Platform{{}} // the builder's: TARGET* unknown
	}
	base := ""
	for _, plat := range plats {
		name, ok := baseImageOf(stages, metaArgs, lex, p.attrs, plat)
		if !ok || base != "" && name != base {
			return ""
		}
		base = name
	}
	return base
}

// baseImageOf is BaseImage for one platform (zero: unknown); ok is false
// when the image cannot be told.
func baseImageOf(stages []instructions.Stage, metaArgs []instructions.ArgCommand, lex *shell.Lex, attrs map[string]string, pl ocispec.Platform) (string, bool) {
	env := envMap{}
	if pl.OS != "" {
		env["TARGETPLATFORM"] = platforms.Format(pl)
		env["TARGETOS"] = pl.OS
		env["TARGETARCH"] = pl.Architecture
		env["TARGETVARIANT"] = pl.Variant
	}
	for _, a := range metaArgs {
		for _, kv := range a.Args {
			if v, ok := attrs["build-arg:"+kv.Key]; ok {
				env[kv.Key] = v
				continue
			}
			if kv.Value == nil {
				continue
			}
			r, err := lex.ProcessWordWithMatches(*kv.Value, env)
			if err != nil || len(r.Unmatched) > 0 {
				// Unknown here: a FROM that uses it is not told.
				delete(env, kv.Key)
				continue
			}
			env[kv.Key] = r.Result
		}
	}
	i := len(stages) - 1
	if t := attrs["target"]; t != "" {
		i = stageIndex(stages, t, len(stages))
		if i < 0 {
			return "", false
		}
	}
	for range stages {
		r, err := lex.ProcessWordWithMatches(stages[i].BaseName, env)
		if err != nil || len(r.Unmatched) > 0 || r.Result == "" {
			return "", false
		}
		name := r.Result
		if j := stageIndex(stages, name, i); j >= 0 {
			i = j // FROM an earlier stage: its base
			continue
		}
		if strings.EqualFold(name, "scratch") {
			return "", false
		}
		return namedBase(name, attrs)
	}
	return "", false
}

// stageIndex returns the index of the stage named name (as the frontend
// compares them, ignoring case) among the first n stages, -1 for none.
func stageIndex(stages []instructions.Stage, name string, n int) int {
	for j := range n {
		if stages[j].Name != "" && strings.EqualFold(stages[j].Name, name) {
			return j
		}
	}
	return -1
}

// namedBase normalizes the image name of a FROM, as the frontend does,
// or, when a named build context replaces it, the image of that context
// (docker-image://REF); ok is false for a context of another kind, or a
// name that does not parse.
func namedBase(name string, attrs map[string]string) (string, bool) {
	ref, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", false
	}
	if ctxName, err := contextName(name); err == nil {
		for k, v := range attrs {
			n, ok := strings.CutPrefix(k, "context:")
			if !ok || n != ctxName && !strings.HasPrefix(n, ctxName+"::") {
				continue
			}
			img, isImage := strings.CutPrefix(v, "docker-image://")
			if !isImage || n != ctxName {
				return "", false
			}
			if ref, err = reference.ParseNormalizedNamed(img); err != nil {
				return "", false
			}
		}
	}
	return reference.TagNameOnly(ref).String(), true
}

// envMap is a shell.EnvGetter of a map.
type envMap map[string]string

func (e envMap) Get(k string) (string, bool) {
	v, ok := e[k]
	return v, ok
}

func (e envMap) Keys() []string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	return keys
}

package cli

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/tonistiigi/go-csvvalue"

	"github.com/affix-oci/affix/frontend"
)

// outputSpec is one --output value, parsed.
type outputSpec struct {
	// oci is a type=oci output; nil for a push.
	oci *ociOutput
	// push reports type=registry, or type=image with push=true.
	push bool
	// names are the name= of a push output: tags pushed as if given
	// with -t.
	names []string
	// byDigest is push-by-digest=true: the repositories of the tags get
	// the image by digest, no tag.
	byDigest bool
	// attrs are image exporter attributes passed to BuildKit
	// (compression, ...); the frontend validates their values.
	attrs map[string]string
}

// parseOutput parses one --output value, as buildx's: type=oci,dest=PATH
// [,tar=BOOL], type=registry[,name=NAME], or type=image,name=NAME,push=true
// (both pushes), with the exporter keys of frontend.ExportAttrKeys.
func parseOutput(s string) (*outputSpec, error) {
	if typ, what, ok := outputShorthand(s); ok {
		return nil, fmt.Errorf("--output %q: buildx's shorthand for type=%s,dest=%s (%s): %s", s, typ, s, what, unsupportedOutput(typ))
	}
	kv, err := outputFields(s)
	if err != nil {
		return nil, err
	}
	out, err := newOutputSpec(s, kv)
	if err != nil {
		return nil, err
	}
	if err := out.setKeys(s, kv); err != nil {
		return nil, err
	}
	if err := out.checkDest(s); err != nil {
		return nil, err
	}
	return out, nil
}

// outputFields splits the --output value s into its key=value fields,
// keys lower-cased, each given once.
func outputFields(s string) (map[string]string, error) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil {
		return nil, fmt.Errorf("--output %q: %w", s, err)
	}
	kv := map[string]string{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("--output %q: field %q: want key=value (type=oci,dest=PATH)", s, f)
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := kv[k]; dup {
			return nil, fmt.Errorf("--output %q: %s given twice", s, k)
		}
		kv[k] = v
	}
	return kv, nil
}

// newOutputSpec returns the output the type= of the --output value s
// (kv, its fields) names: a push, or a type=oci output to a tar (until
// setKeys reads tar=).
func newOutputSpec(s string, kv map[string]string) (*outputSpec, error) {
	out := &outputSpec{attrs: map[string]string{}}
	typ := kv["type"]
	switch typ {
	case "registry", "image":
		push := typ == "registry"
		if v, ok := kv["push"]; ok {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, fmt.Errorf("--output %q: push=%q: want true or false", s, v)
			}
			push = b
		}
		if !push {
			return nil, fmt.Errorf("--output %q: without push=true an image output goes to an image store, which affix has none of; use type=oci,dest=PATH or push=true", s)
		}
		out.push = true
	case "oci":
		out.oci = &ociOutput{dest: kv["dest"], tar: true}
	case "":
		return nil, fmt.Errorf("--output %q: no type (want type=oci,dest=PATH or type=registry)", s)
	default:
		return nil, fmt.Errorf("--output %q: %s", s, unsupportedOutput(typ))
	}
	return out, nil
}

// outputShorthand reports whether the --output value s is one buildx
// reads without type= (buildflags' ExportEntry): a bare path is
// type=local,dest=PATH, "-" type=tar,dest=- (a tar to stdout). It
// returns the type and what it writes. A single key=value without type=
// (buildx would take "dest=x" for a directory of that name too) is left
// to outputFields, which says the type is missing.
func outputShorthand(s string) (typ, what string, ok bool) {
	fields, err := csvvalue.Fields(s, nil)
	if err != nil || len(fields) != 1 || fields[0] != s || s == "" || strings.Contains(s, "=") {
		return "", "", false
	}
	if s == "-" {
		return "tar", "a tar of the image's files to stdout", true
	}
	return "local", "the image's files in a directory", true
}

// unsupportedOutput says that the --output type typ is not supported and
// what to use instead.
func unsupportedOutput(typ string) string {
	return fmt.Sprintf("type %q is not supported: affix exports OCI layouts and pushes, it has no local, tar or docker exporter; "+
		"use type=oci,dest=PATH (an OCI layout tar, dest=- for stdout; tar=false for a directory), or type=registry / type=image,push=true to push", typ)
}

// setKeys sets the keys of the --output value s (kv, its fields) that
// out's type takes: exporter attributes, a push's name=, a type=oci
// output's tar=. Any other key is an error.
func (out *outputSpec) setKeys(s string, kv map[string]string) error {
	// In key order, so that of two bad keys the same one is reported.
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		v := kv[k]
		switch {
		case k == "type" || k == "push" && out.push:
		case slices.Contains(frontend.ExportAttrKeys, k):
			out.attrs[k] = v
		case k == "name" && out.push:
			for _, n := range strings.Split(v, ",") {
				if n = strings.TrimSpace(n); n != "" {
					out.names = append(out.names, n)
				}
			}
		case k == "push-by-digest" && out.push:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("--output %q: push-by-digest=%q: want true or false", s, v)
			}
			out.byDigest = b
		case k == "name-canonical" && out.push:
			// buildx's docs pair it with push-by-digest: it adds
			// NAME@DIGEST to BuildKit's image.name. The metadata
			// file has the digest anyway.
			if _, err := strconv.ParseBool(v); err != nil {
				return fmt.Errorf("--output %q: name-canonical=%q: want true or false", s, v)
			}
		case k == "dest" && out.oci != nil:
		case k == "tar" && out.oci != nil:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("--output %q: tar=%q: want true or false", s, v)
			}
			out.oci.tar = b
		case k == "name":
			return fmt.Errorf("--output %q: name: the layout's image name is the first -t", s)
		case k == "registry.insecure" || strings.HasPrefix(k, "annotation"):
			if err := buildxOnlyKey(s, k, v); err != nil {
				return err
			}
		default:
			takes := "dest, tar"
			if out.push {
				takes = "name, push"
			}
			return fmt.Errorf("--output %q: unknown key %q (type=%s takes %s, %s)", s, k, kv["type"], takes, strings.Join(frontend.ExportAttrKeys, ", "))
		}
	}
	return nil
}

// buildxOnlyKey refuses a key of the --output value s that buildx passes
// to BuildKit's exporter and affix does in its own way, saying which:
// registry.insecure=true is --insecure-registry HOST (false, the default,
// is taken), annotation keys are --annotation.
func buildxOnlyKey(s, k, v string) error {
	switch {
	case k == "registry.insecure":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("--output %q: registry.insecure=%q: want true or false", s, v)
		}
		if b {
			return fmt.Errorf("--output %q: registry.insecure: use --insecure-registry HOST (affix pushes itself, over plain HTTP to the hosts named so)", s)
		}
		return nil
	default:
		return fmt.Errorf("--output %q: %s: give annotations with --annotation (annotation.KEY=V is --annotation KEY=V, annotation-index.KEY=V is --annotation index:KEY=V, annotation-manifest[PLATFORM].KEY=V is --annotation manifest[PLATFORM]:KEY=V)", s, k)
	}
}

// checkDest checks the dest of a type=oci output (none for a push) of the
// --output value s: given for a directory, and not stdout for one. A tar
// without one goes to stdout, as buildx's does (refused later when that
// is a terminal).
func (out *outputSpec) checkDest(s string) error {
	o := out.oci
	if o == nil {
		return nil
	}
	switch {
	case o.dest == "" && o.tar:
		o.dest = "-"
	case o.dest == "":
		return fmt.Errorf("--output %q: no dest: a directory output needs one (type=oci,dest=DIR,tar=false)", s)
	case o.dest == "-" && !o.tar:
		return fmt.Errorf("--output %q: a directory output (tar=false) cannot go to stdout", s)
	}
	return nil
}

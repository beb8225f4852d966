package frontend

import (
	"errors"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/affix-oci/affix/internal/epoch"
)

// The fuzz targets of this file feed fuzzed build options (what a user
// or a CI script passes on the command line, and BUILDKIT_HOST) to the
// option parsers. Beyond not panicking, each checks that a refusal wraps
// ErrInvalidOption (or ErrInvalidPlatform) and quotes the value at fault,
// and that what is accepted is what the option says.

// isOptionErr reports whether err is a refusal of an option.
func isOptionErr(err error) bool {
	return errors.Is(err, ErrInvalidOption) || errors.Is(err, ErrInvalidPlatform)
}

// checkRefusal fails t unless err is an option refusal quoting v.
func checkRefusal(t *testing.T, what, v string, err error) {
	t.Helper()
	if !isOptionErr(err) {
		t.Fatalf("%s(%q): %v wraps neither ErrInvalidOption nor ErrInvalidPlatform", what, v, err)
	}
	if !strings.Contains(err.Error(), strconv.Quote(v)) {
		t.Fatalf("%s(%q): %v does not quote the value", what, v, err)
	}
}

// specialPath reports whether s may name a file whose reading blocks or
// never ends (/dev/zero, /proc/self/fd/0, a FIFO under /sys): such inputs
// are skipped where a parser reads the files it is given, since the user
// asked for them.
func specialPath(s string) bool {
	s = strings.ToLower(s)
	return strings.Contains(s, "dev") || strings.Contains(s, "proc") || strings.Contains(s, "sys") || strings.Contains(s, "fd")
}

// FuzzParseNode parses fuzzed --node values (PLATFORM=ADDRESS[,KEY=VALUE])
// and builder addresses (--builder, BUILDKIT_HOST): a node accepted has a
// normalized platform and an address parseAddress accepts, of a scheme
// the BuildKit client dials.
func FuzzParseNode(f *testing.F) {
	for _, s := range []string{
		"linux/amd64=tcp://10.0.0.1:1234", "linux/arm64=unix:///run/buildkit/buildkitd.sock", "linux/arm/v7=unix:rel.sock",
		"linux/arm64=ssh://user@host", "linux/amd64=docker-container://buildx_buildkit_b0", "linux/amd64=kube-pod://buildkitd-0?namespace=ci",
		"linux/amd64=tcp://h:1,cacert=ca.pem,cert=c.pem,key=k.pem,servername=h", "linux/amd64=tcp://h:1,CERT=c.pem", "linux/amd64=tcp://h:1,cert=",
		"linux/amd64=tcp://h:1,bogus=1", "linux/amd64=tcp://h:1,,", "linux/amd64=", "=tcp://h:1", "linux=tcp://h:1", "linux/amd64=mybuilder",
		"linux/amd64=tcp://", "linux/amd64=unix://", "linux/amd64=npipe://", "linux/amd64=http://h", "linux/amd64=tcp://[::1", "linux/amd64=%zz",
		"windows(10.0.20348)/amd64=tcp://h:1", "linux/amd64=tcp://h:1=x", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if specialPath(s) {
			return
		}
		m, err := parseNode(s, TLSOptions{})
		pl, n := m.pl, m.n
		if err != nil {
			checkRefusal(t, "parseNode", s, err)
			return
		}
		if !reflect.DeepEqual(platforms.Normalize(pl), pl) {
			t.Errorf("parseNode(%q) platform %+v is not normalized", s, pl)
		}
		_, rest, _ := strings.Cut(s, "=")
		if addr, _, _ := strings.Cut(rest, ","); n.addr != addr {
			t.Errorf("parseNode(%q) address %q, want %q", s, n.addr, addr)
		}
		if err := parseAddress(n.addr); err != nil {
			t.Errorf("parseNode(%q) took address %q, which parseAddress refuses: %v", s, n.addr, err)
		}
	})
}

// FuzzParseAddress parses fuzzed builder addresses: one accepted is a URL
// of a scheme the BuildKit client dials, with a socket path, pipe path or
// host as the scheme needs.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"unix:///run/buildkit/buildkitd.sock", "unix:rel.sock", "unix://", "tcp://127.0.0.1:1234", "tcp://[::1]:1234", "tcp://",
		"docker-container://buildx_buildkit_b0", "podman-container://x", "nerdctl-container://x", "kube-pod://p?namespace=n",
		"ssh://user@host:22", "npipe:////./pipe/buildkitd", "npipe://", "mybuilder", "http://h", "TCP://h:1", "tcp:h", ":", "%zz", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := parseAddress(s)
		if err != nil {
			checkRefusal(t, "parseAddress", s, err)
			return
		}
		scheme, _, ok := strings.Cut(s, ":")
		if !ok || !knownSchemes[strings.ToLower(scheme)] {
			t.Errorf("parseAddress(%q) took an unknown scheme", s)
		}
	})
}

// FuzzBuildArgs parses fuzzed --build-arg and --label lists (entries
// separated by newlines): a refusal quotes the entry; KEY=VALUE sets KEY
// (the last one wins); a bare build-arg KEY takes the environment's
// value, or nothing when unset.
func FuzzBuildArgs(f *testing.F) {
	for _, s := range []string{
		"A=1\nB=2\nA=3", "HTTP_PROXY\nUNSET", "A=\n=B", "A B=1", "\tA=1", "A=x=y", " =1", "=", "", "SOURCE_DATE_EPOCH=1700000000", "é=ü",
	} {
		f.Add(s)
	}
	env := map[string]string{"HTTP_PROXY": "http://proxy:3128", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f.Fuzz(func(t *testing.T, s string) {
		var in []string
		if s != "" {
			in = strings.Split(s, "\n")
		}
		args, err := parseBuildArgs(in, lookup)
		if err != nil {
			bad := slices.IndexFunc(in, func(e string) bool {
				k, _, _ := strings.Cut(e, "=")
				return strings.TrimSpace(k) == "" || strings.ContainsAny(k, " \t")
			})
			if bad < 0 {
				t.Fatalf("parseBuildArgs(%q): %v, but every key is a word", in, err)
			}
			checkRefusal(t, "parseBuildArgs", in[bad], err)
		} else {
			want := map[string]string{}
			for _, e := range in {
				k, v, ok := strings.Cut(e, "=")
				if !ok {
					if v, ok = env[k]; !ok {
						continue
					}
				}
				want[k] = v
			}
			if !maps.Equal(args, want) {
				t.Errorf("parseBuildArgs(%q) = %v, want %v", in, args, want)
			}
		}

		labels, err := parseLabels(in)
		if err != nil {
			bad := slices.IndexFunc(in, func(e string) bool { k, _, _ := strings.Cut(e, "="); return strings.TrimSpace(k) == "" })
			if bad < 0 {
				t.Fatalf("parseLabels(%q): %v, but every key is a word", in, err)
			}
			checkRefusal(t, "parseLabels", in[bad], err)
			return
		}
		want := map[string]string{}
		for _, e := range in {
			k, v, _ := strings.Cut(e, "=")
			want[k] = v
		}
		if !maps.Equal(labels, want) {
			t.Errorf("parseLabels(%q) = %v, want %v", in, labels, want)
		}
	})
}

// FuzzSecret parses fuzzed --secret values: one accepted has an id and
// exactly one source, a set environment variable or an existing file
// that is no directory.
func FuzzSecret(f *testing.F) {
	for _, s := range []string{
		"id=token,env=TOKEN", "id=TOKEN", "id=npmrc,src=fuzz_test.go", "id=x,type=file,source=fuzz_test.go", "type=env,id=TOKEN",
		"type=env,id=x,src=TOKEN", "id=x,src=.", "id=x,src=nope", "id=x,env=UNSET", "id=x,src=a,env=TOKEN", "type=ssh,id=x", "id",
		`"id=a,b",env=TOKEN`, `"unterminated`, "id=", "ID=x,ENV=TOKEN", "",
	} {
		f.Add(s)
	}
	env := map[string]string{"TOKEN": "secret", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f.Fuzz(func(t *testing.T, s string) {
		src, err := parseSecret(s, lookup)
		if err != nil {
			checkRefusal(t, "parseSecret", s, err)
			return
		}
		if src.ID == "" || (src.Env == "") == (src.FilePath == "") {
			t.Fatalf("parseSecret(%q) = %+v: want an id and one source", s, src)
		}
		if src.Env != "" {
			return // set or not: an unset one is an empty secret
		}
		if fi, err := os.Stat(src.FilePath); err != nil || fi.IsDir() {
			t.Errorf("parseSecret(%q) = %+v: not a file (%v)", s, src, err)
		}
	})
}

// FuzzSSH parses fuzzed --ssh lists (entries separated by newlines; paths
// only in the package directory: the provider reads every file named):
// ids are unique, each entry is one agent config, a refusal quotes the
// entry or says it is about ssh.
func FuzzSSH(f *testing.F) {
	f.Setenv("SSH_AUTH_SOCK", "")
	for _, s := range []string{"default", "default=fuzz_test.go", "a\na", "=x", "a=", "a=,", "a=nope", "a=.", "default\nother=args.go,nodes.go", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsAny(s, `/\`) || specialPath(s) {
			return
		}
		var in []string
		if s != "" {
			in = strings.Split(s, "\n")
		}
		out, err := parseSSH(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("parseSSH(%q): %v does not wrap ErrInvalidOption", in, err)
			}
			if !strings.HasPrefix(err.Error(), "ssh: ") && !slices.ContainsFunc(in, func(e string) bool { return strings.Contains(err.Error(), strconv.Quote(e)) }) {
				t.Fatalf("parseSSH(%q): %v names no entry", in, err)
			}
			return
		}
		if len(out) != len(in) {
			t.Fatalf("parseSSH(%q) = %d configs", in, len(out))
		}
		seen := map[string]bool{}
		for _, c := range out {
			if c.ID == "" || seen[c.ID] {
				t.Fatalf("parseSSH(%q): id %q empty or twice", in, c.ID)
			}
			seen[c.ID] = true
		}
	})
}

// FuzzCache parses fuzzed --cache-from and --cache-to values: one
// accepted is one entry of a type BuildKit takes that way, a registry
// cache with a reference that parses, an export mode of min or max.
func FuzzCache(f *testing.F) {
	for _, s := range []string{
		"registry.example.com/app:cache", "type=registry,ref=localhost:5000/app:c,mode=max", "type=local,src=.", "type=local,dest=./cache",
		"type=local,dest=fuzz_test.go/x", "type=inline", "type=gha,scope=main", "type=s3,bucket=b,region=r", "type=azblob,name=n",
		"type=registry", "type=registry,ref=UPPER/Case", "type=bogus", "type=registry,ref=r/a,mode=maximal", `"type=registry,ref=r/a`, " ", "",
		"type=registry,ref=r/a,registry.insecure=false",
	} {
		f.Add(false, s)
		f.Add(true, s)
	}
	f.Fuzz(func(t *testing.T, export bool, v string) {
		if specialPath(v) {
			return
		}
		insecure := func(host string) bool { return host == "localhost:5000" }
		out, warnings, err := parseCache(export, []string{v}, insecure)
		if err != nil {
			checkRefusal(t, "parseCache", v, err)
			return
		}
		if len(out) == 0 && len(warnings) == 1 {
			return // an inactive gha cache, left out
		}
		types := cacheImportTypes
		if export {
			types = cacheExportTypes
		}
		if len(out) != 1 || !slices.Contains(types, out[0].Type) {
			t.Fatalf("parseCache(%v, %q) = %+v", export, v, out)
		}
		e := out[0]
		if e.Type == "registry" {
			if _, err := reference.ParseNormalizedNamed(e.Attrs["ref"]); err != nil {
				t.Errorf("parseCache(%q) took ref %q: %v", v, e.Attrs["ref"], err)
			}
		}
		if m, ok := e.Attrs["mode"]; export && ok && m != "min" && m != "max" {
			t.Errorf("parseCache(%q) took mode %q", v, m)
		}
	})
}

// FuzzProvenance parses fuzzed --provenance values: off, mode=min, or the
// value as given, which is then KEY=VALUE fields with a mode of min or max.
func FuzzProvenance(f *testing.F) {
	for _, s := range []string{"", "true", "false", "1", "mode=max", "mode=min,builder-id=https://ci/x", "mode=full", "disabled=true", "disabled=false,mode=max", "=x", "x", `"mode=max`, "mode=max,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p := &plan{attrs: map[string]string{}}
		err := p.setProvenance(v)
		if err != nil {
			checkRefusal(t, "setProvenance", v, err)
			return
		}
		got, set := p.attrs["attest:provenance"]
		if !set {
			return
		}
		if got != "mode=min" && got != v {
			t.Fatalf("setProvenance(%q) set %q", v, got)
		}
		if len(p.attrs) != 1 {
			t.Fatalf("setProvenance(%q) set %v", v, p.attrs)
		}
	})
}

// FuzzExportAttrs checks fuzzed --output attributes (two KEY=VALUE pairs,
// with or without a SOURCE_DATE_EPOCH): a refusal quotes or names the
// key; what is accepted is one of ExportAttrKeys, normalized.
func FuzzExportAttrs(f *testing.F) {
	for _, s := range [][4]string{
		{"compression", "zstd", "compression-level", "22"}, {"compression", "gzip", "compression-level", "10"}, {"compression", "uncompressed", "compression-level", "1"},
		{"compression-level", "+3", "", ""}, {"force-compression", "TRUE", "oci-mediatypes", "true"}, {"oci-mediatypes", "false", "", ""},
		{"rewrite-timestamp", "false", "", ""}, {"annotation.x", "y", "", ""}, {"tar", "false", "name", "x"}, {"compression", "lz4", "", ""},
		{"compression-level", "99999999999999999999", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3], false)
		f.Add(s[0], s[1], s[2], s[3], true)
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, hasEpoch bool) {
		attrs := map[string]string{k1: v1}
		if k2 != "" {
			attrs[k2] = v2
		}
		defaults := map[string]string{"tar": "false", "oci-mediatypes": "true"}
		p := &plan{exportAttrs: maps.Clone(defaults), hasEpoch: hasEpoch}
		err := p.setExportAttrs(attrs)
		if err != nil {
			if !errors.Is(err, ErrInvalidOption) {
				t.Fatalf("setExportAttrs(%v): %v does not wrap ErrInvalidOption", attrs, err)
			}
			names := func(k string) bool {
				return strings.Contains(err.Error(), k) || strings.Contains(err.Error(), strconv.Quote(k))
			}
			if !names(k1) && !names(k2) {
				t.Fatalf("setExportAttrs(%v): %v names no key", attrs, err)
			}
			return
		}
		for k, v := range attrs {
			if !slices.Contains(ExportAttrKeys, k) {
				t.Fatalf("setExportAttrs took %q", k)
			}
			got, set := p.exportAttrs[k]
			switch k {
			case exportCompressionLevel:
				if n, err := strconv.Atoi(v); err != nil || got != strconv.Itoa(n) {
					t.Errorf("%s=%q set %q", k, v, got)
				}
			case exportForceCompression, exportOCIMediaTypes:
				if b, err := strconv.ParseBool(v); err != nil || got != strconv.FormatBool(b) {
					t.Errorf("%s=%q set %q", k, v, got)
				}
			case exportRewriteTimestamp:
				if b, _ := strconv.ParseBool(v); set != b || (b && got != "true") {
					t.Errorf("%s=%q set %q, %v", k, v, got, set)
				}
			default:
				if got != v {
					t.Errorf("%s=%q set %q", k, v, got)
				}
			}
		}
	})
}

// FuzzAnnotation parses fuzzed --annotation values for a build of two
// platforms: a refusal quotes the value; one accepted becomes, for each
// type of its key's comma list, an exporter attribute or an annotation of
// a platform built, each with the value.
func FuzzAnnotation(f *testing.F) {
	for _, s := range []string{
		"org.opencontainers.image.title=app", "manifest:k=v", "index:k=v", "manifest-descriptor[linux/amd64]:k=v", "manifest[linux/arm64/v8]:k=v",
		"manifest[linux/s390x]:k=v", "index[linux/amd64]:k=v", "manifest[bogus]:k=v", "manifest:=v", "k", "=v", "a b=c", "other:k=v", "manifest[:k=v",
		"index,manifest:k=v", "manifest,manifest-descriptor[linux/amd64]:k=v", "manfest:k=v", "index,:k=v",
	} {
		f.Add(s)
	}
	built := []ocispec.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64", Variant: "v8"}}
	f.Fuzz(func(t *testing.T, s string) {
		p := &plan{exportAttrs: map[string]string{}, platforms: built}
		err := p.addAnnotation(s)
		if err != nil {
			checkRefusal(t, "addAnnotation", s, err)
			return
		}
		// Each type of the key's comma list sets one attribute (or, for
		// a platform-qualified type, one annotation of that platform),
		// every one of them the value.
		_, v, _ := strings.Cut(s, "=")
		if len(p.exportAttrs)+len(p.platAnnotations) == 0 {
			t.Errorf("addAnnotation(%q) accepted and set nothing", s)
		}
		for k, got := range p.exportAttrs {
			if got != v || !strings.HasPrefix(k, "annotation") {
				t.Errorf("addAnnotation(%q) set %s=%q", s, k, got)
			}
		}
		for _, a := range p.platAnnotations {
			if a.value != v || !slices.ContainsFunc(built, func(b ocispec.Platform) bool { return platforms.FormatAll(b) == platforms.FormatAll(a.platform) }) {
				t.Errorf("addAnnotation(%q) = %+v", s, a)
			}
		}
	})
}

// FuzzContext parses fuzzed --build-context values: one accepted sets
// the context attribute of the name, normalized as the Dockerfile
// frontend looks it up, once.
func FuzzContext(f *testing.F) {
	for _, s := range []string{
		"base=docker-image://alpine:3.20", "alpine=docker-image://docker.io/library/alpine:latest@sha256:" + strings.Repeat("a", 64),
		"src=.", "src=./testdata", "src=fuzz_test.go", "app=https://github.com/org/repo.git#main", "app=github.com/org/repo#v1:dir",
		"app=git@github.com:org/repo.git", "x=target:build", "x=oci-layout://.", "x=oci-layout://nope:tag", "x=oci-layout://.@sha256:abc",
		"Base::linux/arm64=docker-image://alpine", "base::bogus=.", "=x", "x=", "UPPER=.", "x=docker-image://", "context=.", "dockerfile=.",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if specialPath(s) {
			return
		}
		p := &plan{attrs: map[string]string{}, locals: map[string]string{}, ociStores: map[string]string{}}
		err := p.addContext(s)
		if err != nil {
			checkRefusal(t, "addContext", s, err)
			return
		}
		raw, _, _ := strings.Cut(s, "=")
		name, err := contextName(raw)
		if err != nil {
			t.Fatalf("addContext(%q) took name %q, which contextName refuses: %v", s, raw, err)
		}
		if _, ok := p.attrs["context:"+name]; !ok || len(p.attrs) != 1 {
			t.Fatalf("addContext(%q) set %v, want context:%s", s, p.attrs, name)
		}
		if err := p.addContext(s); err == nil || !errors.Is(err, ErrInvalidOption) {
			t.Fatalf("addContext(%q) twice: %v", s, err)
		}
	})
}

// FuzzEpoch resolves fuzzed SOURCE_DATE_EPOCH values (explicit, as a
// build argument, from the environment): an integer is taken as
// epoch.Parse reads it, written back canonical; a word must be "context",
// a build context or a stage of the Dockerfile; a refusal quotes the
// value; every value taken turns on timestamp rewriting.
func FuzzEpoch(f *testing.F) {
	dir := f.TempDir()
	dockerfile := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(dockerfile, []byte("FROM scratch AS build\nFROM build AS final\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"1700000000", "0001", "0", "253402300800", "-1", " 1", "+1", "1.5", "context", "build", "Final", "nostage", "ctx", "a b", ""} {
		f.Add(s, "", "")
		f.Add("", s, "")
		f.Add("", "", s)
	}
	f.Fuzz(func(t *testing.T, explicit, arg, envValue string) {
		p := &plan{attrs: map[string]string{"context:ctx": "local:ctx"}, exportAttrs: map[string]string{}, dockerfile: dockerfile}
		args := map[string]string{}
		if arg != "" {
			args["SOURCE_DATE_EPOCH"] = arg
		}
		lookup := func(k string) (string, bool) { return envValue, k == "SOURCE_DATE_EPOCH" && envValue != "" }
		err := p.setEpoch(explicit, args, lookup)
		v := explicit
		if v == "" {
			v = arg
		}
		if v == "" {
			v = envValue
		}
		if err != nil {
			checkRefusal(t, "setEpoch", v, err)
			return
		}
		if v == "" {
			if p.hasEpoch || len(p.exportAttrs) != 0 {
				t.Fatal("setEpoch without a value set an epoch")
			}
			return
		}
		if !p.hasEpoch || p.exportAttrs["rewrite-timestamp"] != "true" {
			t.Fatalf("setEpoch(%q) did not turn on timestamp rewriting", v)
		}
		tm, perr := epoch.Parse(v)
		switch {
		case perr == nil:
			if p.epoch == nil || !p.epoch.Equal(tm) || args["SOURCE_DATE_EPOCH"] != strconv.FormatInt(tm.Unix(), 10) {
				t.Fatalf("setEpoch(%q): epoch %v, build-arg %q", v, p.epoch, args["SOURCE_DATE_EPOCH"])
			}
		case errors.Is(perr, epoch.ErrInvalid):
			if p.epoch != nil || args["SOURCE_DATE_EPOCH"] != v {
				t.Fatalf("setEpoch(%q): epoch %v, build-arg %q", v, p.epoch, args["SOURCE_DATE_EPOCH"])
			}
			if name, err := contextName(v); v != "context" && (err != nil || name != "ctx") && !slices.Contains([]string{"build", "final"}, strings.ToLower(v)) {
				t.Fatalf("setEpoch(%q) took a word that is no context or stage", v)
			}
		default:
			t.Fatalf("setEpoch(%q) took an integer epoch.Parse refuses: %v", v, perr)
		}
	})
}

// FuzzPlatforms parses fuzzed --platform lists and image names: platforms
// come back normalized, each once; names come back as full references.
func FuzzPlatforms(f *testing.F) {
	for _, s := range []string{
		"linux/amd64,linux/arm64", "linux/arm64\nlinux/arm64/v8", "local", "LOCAL,linux/amd64", "linux", "linux/amd64,,", " linux/amd64 ",
		"windows(10.0.20348)/amd64", "linux/arm/v7/x", "app", "registry.example.com/team/app:1.0", "UPPER/app", "a,b", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var in []string
		if s != "" {
			in = strings.Split(s, "\n")
		}
		out, err := parsePlatforms(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPlatform) {
				t.Fatalf("parsePlatforms(%q): %v does not wrap ErrInvalidPlatform", in, err)
			}
		} else {
			seen := map[string]bool{}
			for _, pl := range out {
				k := platforms.FormatAll(pl)
				if seen[k] || !reflect.DeepEqual(platforms.Normalize(pl), pl) {
					t.Fatalf("parsePlatforms(%q) = %v: %s twice or not normalized", in, out, k)
				}
				seen[k] = true
			}
		}
		tags, err := normalizeTags(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidOption) || !slices.ContainsFunc(in, func(e string) bool { return strings.Contains(err.Error(), strconv.Quote(e)) }) {
				t.Fatalf("normalizeTags(%q): %v", in, err)
			}
			return
		}
		for i, tg := range tags {
			n, err := reference.ParseNamed(tg)
			if err != nil || reference.TagNameOnly(n).String() != tg {
				t.Fatalf("normalizeTags(%q)[%d] = %q: not a full reference (%v)", in, i, tg, err)
			}
		}
	})
}

package cli

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// parseBuildFlags parses args with build's flags, as the command does,
// and returns the options and the arguments left (the CONTEXT).
func parseBuildFlags(t *testing.T, args ...string) (*buildOptions, []string, error) {
	t.Helper()
	o := &buildOptions{}
	fs := pflag.NewFlagSet("build", pflag.ContinueOnError)
	o.addFlags(fs)
	err := fs.Parse(args)
	return o, fs.Args(), err
}

// TestBuildAttestShorthands: --sbom and --provenance are string flags, as
// in buildx, whose value (after "=" or a space) is a bool or the
// attributes of --attest type=sbom / type=provenance.
func TestBuildAttestShorthands(t *testing.T) {
	for _, c := range []struct {
		args       []string
		provenance string
		sboms      bool
		err        string
	}{
		{args: nil, sboms: true},
		{args: []string{"--provenance", "false"}, sboms: true},
		{args: []string{"--provenance", "true"}, provenance: "mode=min", sboms: true},
		{args: []string{"--provenance", "mode=max"}, provenance: "mode=max", sboms: true},
		{args: []string{"--provenance=mode=max,builder-id=https://ci.example/1"}, provenance: "mode=max,builder-id=https://ci.example/1", sboms: true},
		{args: []string{"--provenance=builder-id=https://ci.example/1"}, provenance: "mode=min,builder-id=https://ci.example/1", sboms: true},
		{args: []string{"--provenance=disabled=true"}, sboms: true},
		{args: []string{"--provenance=0"}, sboms: true},
		{args: []string{"--sbom", "false"}},
		{args: []string{"--sbom=false", "--provenance", "mode=max"}, provenance: "mode=max"},
		{args: []string{"--sbom", "true"}, sboms: true},
		{args: []string{"--sbom=disabled=true"}},
		{args: []string{"--sbom=disabled=false"}, sboms: true},
		{args: []string{"--sbom=false", "--attest", "type=sbom,disabled=true"}},
		{args: []string{"--sbom=true", "--attest", "type=sbom"}, sboms: true},

		{args: []string{"--sbom=generator=docker/buildkit-syft-scanner"}, err: `--sbom=generator=docker/buildkit-syft-scanner: --attest "type=sbom,generator=docker/buildkit-syft-scanner": affix generates the SBOMs itself`},
		{args: []string{"--sbom", "scan-stage=true"}, err: `unknown sbom attribute "scan-stage"`},
		{args: []string{"--sbom", "maybe"}, err: `--sbom=maybe: --attest "type=sbom,maybe": field "maybe": want KEY=VALUE`},
		{args: []string{"--sbom=disabled=perhaps"}, err: `disabled="perhaps": want true or false`},
		{args: []string{"--sbom", "--push"}, err: `--sbom takes a value, as buildx's: --sbom=true, --sbom=false or --sbom=KEY=VALUE,... (it read "--push" as its value)`},
		{args: []string{"--provenance", "--pull"}, err: `--provenance takes a value, as buildx's`},
		{args: []string{"--provenance", "max"}, err: `--provenance=max: --attest "type=provenance,max": field "max": want KEY=VALUE`},
		{args: []string{"--sbom", "false", "--attest", "type=sbom"}, err: "--attest type=sbom asks for SBOMs and --sbom=false for none"},
		{args: []string{"--sbom=disabled=true", "--attest", "type=sbom"}, err: "--attest type=sbom asks for SBOMs and --sbom=disabled=true for none"},
		{args: []string{"--sbom=true", "--no-sbom"}, err: "--sbom=true asks for SBOMs and --no-sbom for none"},
		{args: []string{"--sbom=1", "--attest", "type=sbom,disabled=true"}, err: "--sbom=1 asks for SBOMs and --attest type=sbom,disabled=true for none"},
		{args: []string{"--sbom=false", "--sbom-format", "cyclonedx-json"}, err: "--sbom-format with --sbom=false"},
		{args: []string{"--provenance", "false", "--attest", "type=provenance,mode=max"}, err: "--provenance and --attest type=provenance: give one"},
	} {
		o, rest, err := parseBuildFlags(t, append(c.args, "ctx")...)
		if err != nil || !slices.Equal(rest, []string{"ctx"}) {
			t.Errorf("%q: parse: %v, arguments %q; want the one CONTEXT", c.args, err, rest)
			continue
		}
		o.maxConcurrency = 1
		p, err := o.plan()
		if c.err != "" {
			var ee *exitError
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &ee) || ee.code != 2 {
				t.Errorf("%q: %v, want a usage error with %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if p.provenance != c.provenance || (len(p.formats) > 0) != c.sboms {
			t.Errorf("%q: provenance %q, formats %v; want %q, SBOMs %v", c.args, p.provenance, p.formats, c.provenance, c.sboms)
		}
	}
}

// TestBuildAttestShorthandsCommand: with a value after a space, --sbom and
// --provenance leave CONTEXT alone, so the command gets as far as the
// (unreachable) builder.
func TestBuildAttestShorthandsCommand(t *testing.T) {
	cliEnv(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{
		{"--provenance", "false"},
		{"--provenance", "mode=max"},
		{"--sbom", "false"},
		{"--sbom", "disabled=true", "--provenance", "true"},
	} {
		args = append(append([]string{"build", "--builder", nowhere, "--progress", "quiet"}, args...), ctxDir)
		if _, errs, code := affix(t, args...); code != 1 || !strings.Contains(errs, "buildkitd unreachable") {
			t.Errorf("%q: exit %d, want 1 at the unreachable builder:\n%s", args, code, errs)
		}
	}
}

// TestBuildTookContextHint: a bare --sbom or --provenance before CONTEXT
// takes it as its value, as in buildx; the usage error says so.
func TestBuildTookContextHint(t *testing.T) {
	cliEnv(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--sbom", "."}, `want one CONTEXT directory, got 0 arguments (--sbom took "." as its value: it takes one, as in buildx, e.g. --sbom=true)`},
		{[]string{"build", "--provenance", "ctx"}, `(--provenance took "ctx" as its value`},
		{[]string{"build", "--sbom", "false"}, "want one CONTEXT directory, got 0 arguments\n"},
		{[]string{"build", "--provenance", "mode=max"}, "want one CONTEXT directory, got 0 arguments\n"},
	} {
		if _, errs, code := affix(t, c.args...); code != 2 || !strings.Contains(errs, c.want) {
			t.Errorf("%q: exit %d, want 2 with %q:\n%s", c.args, code, c.want, errs)
		}
	}
}

// TestBuildDefaultPlatform: $DOCKER_DEFAULT_PLATFORM is the default of
// --platform, as in buildx; a bad value is a usage error naming it.
func TestBuildDefaultPlatform(t *testing.T) {
	for _, c := range []struct {
		name  string
		env   string
		flags []string
		want  []string
		err   string
	}{
		{name: "unset", want: nil},
		{name: "one", env: "linux/arm64", want: []string{"linux/arm64"}},
		{name: "list", env: "linux/amd64,linux/arm64", want: []string{"linux/amd64,linux/arm64"}},
		{name: "flag wins", env: "linux/arm64", flags: []string{"--platform", "linux/amd64"}, want: []string{"linux/amd64"}},
		{name: "architecture alone", env: "arm64", want: []string{"arm64"}},
		{name: "bad", env: "bogus", err: `DOCKER_DEFAULT_PLATFORM (the default of --platform): platform "bogus": no known OS or architecture: want os[(os.version)]/arch[/variant], or an architecture or OS alone`},
		{name: "bad ignored beside the flag", env: "bogus", flags: []string{"--platform", "linux/amd64"}, want: []string{"linux/amd64"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			o, _, err := parseBuildFlags(t, append(c.flags, "ctx")...)
			if err != nil {
				t.Fatal(err)
			}
			o.maxConcurrency = 1
			env := map[string]string{"DOCKER_DEFAULT_PLATFORM": c.env}
			o.defaultPlatforms(slices.Contains(c.flags, "--platform"), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			p, err := o.plan()
			if c.err != "" {
				var ee *exitError
				if err == nil || !strings.Contains(err.Error(), c.err) || !errors.As(err, &ee) || ee.code != 2 {
					t.Fatalf("%v, want a usage error with %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := o.frontendOptions("/ctx", p).Platforms; !slices.Equal(got, c.want) {
				t.Errorf("frontend platforms %q, want %q", got, c.want)
			}
		})
	}
	// The command reads the variable.
	cliEnv(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	t.Setenv("DOCKER_DEFAULT_PLATFORM", "linux/notanarch!")
	if _, errs, code := affix(t, "build", "--builder", nowhere, ctxDir); code != 2 || !strings.Contains(errs, "DOCKER_DEFAULT_PLATFORM") {
		t.Errorf("bad DOCKER_DEFAULT_PLATFORM: exit %d:\n%s", code, errs)
	}
	if _, errs, code := affix(t, "build", "--builder", nowhere, "--progress", "quiet", "--platform", "linux/amd64", ctxDir); code != 1 || !strings.Contains(errs, "unreachable") {
		t.Errorf("--platform beside a bad DOCKER_DEFAULT_PLATFORM: exit %d:\n%s", code, errs)
	}
}

// TestBuildAddHostList: --add-host is a comma-separated list, as buildx's
// string slice flag, and repeatable; quotes keep one host's addresses
// together.
func TestBuildAddHostList(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--add-host", "a:1.2.3.4,b:5.6.7.8"}, []string{"a:1.2.3.4", "b:5.6.7.8"}},
		{[]string{"--add-host", "a=1.2.3.4", "--add-host", "b:5.6.7.8"}, []string{"a=1.2.3.4", "b:5.6.7.8"}},
		{[]string{"--add-host", `"a=1.2.3.4,::1",b=5.6.7.8`}, []string{"a=1.2.3.4,::1", "b=5.6.7.8"}},
	} {
		o, _, err := parseBuildFlags(t, append(c.args, "ctx")...)
		if err != nil {
			t.Fatal(err)
		}
		o.maxConcurrency = 1
		p, err := o.plan()
		if err != nil {
			t.Fatal(err)
		}
		if got := o.frontendOptions("/ctx", p).AddHosts; !slices.Equal(got, c.want) {
			t.Errorf("%q: AddHosts %q, want %q", c.args, got, c.want)
		}
	}
}

// TestBuildLegacyFlags: the docker build flags buildx accepts and ignores
// are accepted, hidden and ignored; --isolation, --security-opt and
// --squash print buildx's warnings, before the build starts.
func TestBuildLegacyFlags(t *testing.T) {
	cliEnv(t)
	ctxDir := t.TempDir()
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte("FROM scratch\n"), 0o644)
	nowhere := "unix://" + filepath.Join(t.TempDir(), "none.sock")
	for _, c := range []struct {
		name  string
		flags []string
		warns []string
	}{
		{"silent", []string{"--rm", "--rm=false", "--force-rm", "--compress", "-m", "1g", "--memory-swap", "-1", "-c", "512",
			"--cpu-shares", "2", "--cpu-period", "100000", "--cpu-quota", "50000", "--cpuset-cpus", "0-3", "--cpuset-mems", "0,1"}, nil},
		{"warned", []string{"--squash", "--isolation", "default", "--security-opt", "seccomp=unconfined,apparmor=x", "--security-opt", "label=disable"}, []string{
			"affix: warning: isolation flag is deprecated with BuildKit.\n",
			`affix: warning: security-opt flag is deprecated. "RUN --security=insecure" should be used with BuildKit.` + "\n",
			"affix: warning: experimental flag squash is removed with BuildKit. You should squash inside build using a multi-stage Dockerfile for efficiency.\n",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append(append([]string{"build", "--builder", nowhere, "--progress", "quiet"}, c.flags...), ctxDir)
			_, errs, code := affix(t, args...)
			if code != 1 || !strings.Contains(errs, "unreachable") || strings.Count(errs, "warning:") != len(c.warns) {
				t.Fatalf("exit %d, want 1 at the unreachable builder with %d warnings:\n%s", code, len(c.warns), errs)
			}
			if got := strings.Join(slices.DeleteFunc(strings.SplitAfter(errs, "\n"), func(l string) bool { return !strings.Contains(l, "warning:") }), ""); got != strings.Join(c.warns, "") {
				t.Errorf("warnings\n%s\nwant\n%s", got, strings.Join(c.warns, ""))
			}
		})
	}
	help, _, _ := affix(t, "build", "--help")
	for _, name := range legacyFlags {
		if strings.Contains(help, "--"+name+" ") {
			t.Errorf("build --help lists --%s", name)
		}
	}
	if !strings.Contains(help, "--platform") {
		t.Errorf("build --help lacks --platform:\n%s", help)
	}
}

// Package dockercli implements the Docker CLI plugin protocol for affix, so
// that the affix binary installed as ~/.docker/cli-plugins/docker-affix
// answers `docker affix build|push|attach|ls|get|convert|version`.
//
// The docker CLI first runs the plugin with the single argument
// "docker-cli-plugin-metadata" and expects a JSON Metadata on stdout; it
// then runs it as `docker-affix [GLOBAL FLAGS] affix ARGS...` for
// `docker [GLOBAL FLAGS] affix ARGS...`: it passes its own arguments
// unchanged, docker's global flags (--config, -D, ...) included.
package dockercli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
)

const (
	// Name is the plugin's command name under docker.
	Name = "affix"
	// Binary is the plugin's file name in a cli-plugins directory.
	Binary = "docker-" + Name
	// MetadataSubcommand is the argument the docker CLI calls the plugin
	// with to read its Metadata.
	MetadataSubcommand = "docker-cli-plugin-metadata"
	// SchemaVersion is the metadata schema the docker CLI accepts.
	SchemaVersion = "0.1.0"
)

// Metadata is what the plugin prints for MetadataSubcommand.
type Metadata struct {
	SchemaVersion    string `json:"SchemaVersion"`
	Vendor           string `json:"Vendor"`
	Version          string `json:"Version,omitempty"`
	ShortDescription string `json:"ShortDescription,omitempty"`
	URL              string `json:"URL,omitempty"`
}

// Invoked reports whether argv0 (os.Args[0]) names the plugin binary, that
// is whether the process runs as a Docker CLI plugin.
func Invoked(argv0 string) bool {
	base := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	return base == Binary
}

// Invocation is what the plugin's arguments ask for.
type Invocation struct {
	// Metadata is true when the docker CLI asks for the plugin's Metadata.
	Metadata bool
	// Args are the affix arguments: those after the plugin name, preceded
	// by --debug for docker's -D, --debug or --log-level debug.
	Args []string
	// Env are the KEY=VALUE settings docker's global flags stand for:
	// DOCKER_CONFIG for --config (where registry credentials are read),
	// DOCKER_CONTEXT for --context, DOCKER_HOST for -H and
	// DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH for the engine's
	// TLS flags, for the docker commands a docker-container:// builder runs.
	Env []string
	// Warnings name the global flags given that affix ignores.
	Warnings []string
}

// dockerFlags are the docker CLI's global flags, as docker/cli's
// cli/flags.ClientOptions.InstallFlags defines them, with -h, --help
// (cli.SetupRootCommand) and -v, --version (cmd/docker): the flags docker
// accepts before a plugin's name, and passes on to it.
type dockerFlags struct {
	fs                                   *pflag.FlagSet
	config, logLevel, host, context      string
	debug, help, version, tls, tlsVerify bool
	tlsCACert, tlsCert, tlsKey           string
}

func newDockerFlags() *dockerFlags {
	f := &dockerFlags{fs: pflag.NewFlagSet("docker", pflag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(false) // stop at the plugin name
	fs.StringVar(&f.config, "config", "", "")
	fs.BoolVarP(&f.debug, "debug", "D", false, "")
	fs.StringVarP(&f.logLevel, "log-level", "l", "", "")
	fs.BoolVar(&f.tls, "tls", false, "")
	fs.BoolVar(&f.tlsVerify, "tlsverify", false, "")
	fs.StringVar(&f.tlsCACert, "tlscacert", "", "")
	fs.StringVar(&f.tlsCert, "tlscert", "", "")
	fs.StringVar(&f.tlsKey, "tlskey", "", "")
	fs.StringVarP(&f.host, "host", "H", "", "")
	fs.StringVarP(&f.context, "context", "c", "", "")
	fs.BoolVarP(&f.help, "help", "h", false, "")
	fs.BoolVarP(&f.version, "version", "v", false, "")
	return f
}

// dockerVerbs are the commands the docker CLI runs a plugin with before
// its name: docker help PLUGIN ..., and cobra's completion requests
// (cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd).
var dockerVerbs = []string{"help", "__complete", "__completeNoDesc"}

// Parse reads the plugin's arguments (os.Args[1:]). The docker CLI runs
// the plugin with its own arguments: docker's global flags, the plugin
// name, then the plugin's arguments. Parse skips the global flags,
// honours those that mean something to affix (see Invocation) and drops
// the plugin name. Arguments that do not have that shape (the binary run
// by hand, as `docker-affix version`) are affix arguments as they are.
func Parse(args []string) Invocation {
	if len(args) == 1 && args[0] == MetadataSubcommand {
		return Invocation{Metadata: true}
	}
	f := newDockerFlags()
	if f.fs.Parse(args) != nil {
		return Invocation{Args: args}
	}
	rest := f.fs.Args()
	// docker help affix COMMAND runs the plugin as "help affix COMMAND",
	// and the shell completion of docker affix ... as "__complete affix
	// ARGS... WORD": affix's own help and completion, without the name.
	var verb []string
	if len(rest) >= 2 && rest[1] == Name && slices.Contains(dockerVerbs, rest[0]) {
		verb, rest = rest[:1], rest[1:]
	}
	if len(rest) == 0 || rest[0] != Name {
		return Invocation{Args: args}
	}
	var inv Invocation
	switch {
	case f.version:
		// docker --version affix: affix's version command.
		inv.Args = []string{"version"}
	case f.help:
		// docker --help affix [COMMAND]: the help of affix [COMMAND];
		// --help goes after the command's name, before its flags.
		inv.Args = slices.Clone(rest[1:])
		i := slices.IndexFunc(inv.Args, func(a string) bool { return strings.HasPrefix(a, "-") })
		if i < 0 {
			i = len(inv.Args)
		}
		inv.Args = slices.Insert(inv.Args, i, "--help")
	default:
		inv.Args = append(slices.Clone(verb), rest[1:]...)
	}
	level := strings.ToLower(f.logLevel)
	if f.debug || level == "debug" || level == "trace" {
		inv.Args = append([]string{"--debug"}, inv.Args...)
	}
	if f.fs.Changed("config") {
		inv.Env = append(inv.Env, "DOCKER_CONFIG="+f.config)
	}
	if f.fs.Changed("context") {
		inv.Env = append(inv.Env, "DOCKER_CONTEXT="+f.context)
		if f.context != "default" && !f.fs.Changed("host") {
			// The docker CLI takes a DOCKER_HOST in the environment over
			// DOCKER_CONTEXT, but the --context flag over both: the
			// engine the user named, not an inherited one (an empty
			// DOCKER_HOST is unset to docker). The default context is
			// DOCKER_HOST's.
			inv.Env = append(inv.Env, "DOCKER_HOST=")
		}
	}
	if f.fs.Changed("host") {
		inv.Env = append(inv.Env, "DOCKER_HOST="+f.host)
	}
	env, warnings := f.engineTLS(dockerCertDir(getenv))
	inv.Env = append(inv.Env, env...)
	inv.Warnings = append(inv.Warnings, warnings...)
	return inv
}

// getenv reads the environment; tests replace it.
var getenv = os.Getenv

// existing returns path, cleaned, when a file is there, else "".
func existing(path string) string {
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return filepath.Clean(path)
}

// dockerCertDir is the docker CLI's default directory of the engine's
// TLS files: $DOCKER_CERT_PATH, else the config directory
// ($DOCKER_CONFIG, else ~/.docker; the --config flag does not move it).
func dockerCertDir(getenv func(string) string) string {
	if d := getenv("DOCKER_CERT_PATH"); d != "" {
		return d
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home := getenv("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	return filepath.Join(home, ".docker")
}

// engineTLS passes docker's TLS flags for the engine on as the environment
// the docker CLI reads, for the docker commands a docker-container://
// builder runs (as -H and --context are): --tlsverify is
// DOCKER_TLS_VERIFY, --tls DOCKER_TLS, and the certificate files are
// DOCKER_CERT_PATH=DIR when that makes those commands use the files
// docker uses: each named by a flag, else its default in defaultDir
// (DOCKER_CERT_PATH, else the config directory) when it exists; with
// DOCKER_CERT_PATH=DIR, DIR's ca.pem, cert.pem and key.pem that exist.
// The CA counts only with --tlsverify. A flag whose file cannot be passed
// so is warned about.
func (f *dockerFlags) engineTLS(defaultDir string) (env, warnings []string) {
	switch {
	case f.fs.Changed("tlsverify") && f.tlsVerify:
		env = append(env, "DOCKER_TLS_VERIFY=1")
	case f.fs.Changed("tls") && f.tls:
		env = append(env, "DOCKER_TLS=1")
	}
	files := []struct{ flag, path, want string }{
		{"tlscacert", f.tlsCACert, "ca.pem"},
		{"tlscert", f.tlsCert, "cert.pem"},
		{"tlskey", f.tlsKey, "key.pem"},
	}
	// The directory: the first flag's (filepath.Dir is never ""), else
	// there is nothing to pass.
	dir := ""
	for _, c := range files {
		if f.fs.Changed(c.flag) {
			dir = filepath.Dir(c.path)
			break
		}
	}
	if dir == "" {
		return env, nil
	}
	// What docker uses for each file: the flag's, else the default
	// directory's when it exists (docker drops a default that does not);
	// what the builder's docker commands would use with
	// DOCKER_CERT_PATH=dir: dir's, when it exists. The CA counts only
	// when verifying.
	verify := f.fs.Changed("tlsverify") && f.tlsVerify
	fits := true
	for _, c := range files {
		if c.want == "ca.pem" && !verify {
			continue
		}
		used := existing(filepath.Join(defaultDir, c.want))
		if f.fs.Changed(c.flag) {
			used = filepath.Clean(c.path)
		}
		fits = fits && used == existing(filepath.Join(dir, c.want))
	}
	if !fits {
		// No DOCKER_CERT_PATH: every file a flag names is ignored.
		for _, c := range files {
			if f.fs.Changed(c.flag) {
				warnings = append(warnings, fmt.Sprintf(
					"--%s %s is ignored: the docker commands of a docker-container:// builder read the engine's certificates from one directory (DOCKER_CERT_PATH) as ca.pem, cert.pem and key.pem, and each file no flag names from %s; --builder-tls-* configure TLS to buildkitd", c.flag, c.path, defaultDir))
			}
		}
		return env, warnings
	}
	return append(env, "DOCKER_CERT_PATH="+dir), nil
}

// WriteMetadata writes the plugin Metadata for affix version v to w.
func WriteMetadata(w io.Writer, v string) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Metadata{
		SchemaVersion:    SchemaVersion,
		Vendor:           "affix",
		Version:          v,
		ShortDescription: "Build images with BuildKit and push each platform's SBOM as an OCI referrer",
		URL:              "https://github.com/affix-oci/affix",
	})
}

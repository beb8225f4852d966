package scanner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/affix-oci/affix/internal/epoch"
	"github.com/affix-oci/affix/internal/oci"
	"github.com/affix-oci/affix/sbomgen"
)

// Environment variables of the protocol.
const (
	// EnvDestination is the directory the statements are written to
	// (required).
	EnvDestination = "BUILDKIT_SCAN_DESTINATION"
	// EnvSource is the root filesystem of the final build result
	// (required).
	EnvSource = "BUILDKIT_SCAN_SOURCE"
	// EnvSourceExtras is a directory of further root filesystems
	// (optional: unset, empty or missing means none).
	EnvSourceExtras = "BUILDKIT_SCAN_SOURCE_EXTRAS"
	// EnvPrefix prefixes the attest:sbom parameters BuildKit passes:
	// BUILDKIT_SCAN_<KEY>=<VALUE>.
	EnvPrefix = "BUILDKIT_SCAN_"
)

// What the scanner writes.
const (
	// StatementType is the in-toto statement type of the files written
	// (BuildKit replaces it with its own when it stores the statement).
	StatementType = oci.InTotoStatementType
	// PredicateSPDX is the predicate type of SPDX documents, the one
	// BuildKit requires of an SBOM generator.
	PredicateSPDX = oci.PredicateSPDX
	// Ext is the file name extension of each statement:
	// DESTINATION/<target name>.spdx.json.
	Ext = ".spdx.json"
	// MaxStatementSize is the largest statement file BuildKit reads
	// (maxAttestationBytes in its exporter/attestation, 80 MiB); it fails
	// the build on a larger one.
	MaxStatementSize = 80 << 20
	// ContextTarget is the extra target of the build context
	// (BUILDKIT_SBOM_SCAN_CONTEXT=true): a source tree, not a root
	// filesystem, scanned with syft's catalogers for directories, which
	// read lock files and manifests (go.mod, package-lock.json, ...).
	// BuildKit names extras sbom-<name>. A stage named context (which
	// BuildKit allows, with a ReservedStageName lint warning) scanned with
	// BUILDKIT_SBOM_SCAN_STAGE lands at the same name and is scanned as a
	// source tree too: its packages are found, and the source-tree
	// catalogers add what lock files it holds.
	ContextTarget = "sbom-context"
)

// Parameter keys: the KEY of BUILDKIT_SCAN_<KEY>, as given in
// attest:sbom=generator=IMAGE,KEY=VALUE. Keys are case-insensitive.
const (
	// ParamName is the name of the main target's documents (the SPDX
	// document name and its root package); default: the target's name,
	// "sbom". Extra targets keep their own names (sbom-<stage>,
	// sbom-context). A NAME may start with "sbom-" too: `affix convert`
	// finds the main target's document by BuildKit's order and creator,
	// not by its name.
	ParamName = "NAME"
	// ParamSourceDateEpoch is the documents' creation time, in seconds
	// since the Unix epoch, parsed by epoch.Parse as every affix command
	// parses SOURCE_DATE_EPOCH (ASCII digits only, 0 to epoch.Max; spaces
	// or a sign are refused, empty means unset). Default: SOURCE_DATE_EPOCH of the scanner's
	// environment, else the Unix epoch, so that documents are a function
	// of the scanned files alone.
	ParamSourceDateEpoch = "SOURCE_DATE_EPOCH"
	// ParamDisabled, when true (as strconv.ParseBool reads it), makes the
	// run scan and write nothing, as attest:sbom=disabled=true asks of a
	// front end that passes it along rather than skip the scanner.
	ParamDisabled = "DISABLED"
)

// ignoredParams are attributes that front ends pass along with the user's
// parameters and that mean nothing to a scanner.
var ignoredParams = []string{"TYPE"}

// unsupportedParams are parameters of docker/buildkit-syft-scanner that
// affix's engine does not offer (it scans with one fixed, offline set of
// catalogers); asking for them is an error rather than a silent change.
var unsupportedParams = []string{"SELECT_CATALOGERS", "FILE_METADATA"}

// Params are the scan parameters (see the Param constants).
type Params struct {
	// Name is ParamName; empty means the main target's own name.
	Name string
	// Created is ParamSourceDateEpoch; zero means SOURCE_DATE_EPOCH of
	// the environment, else the Unix epoch.
	Created time.Time
	// Disabled is ParamDisabled.
	Disabled bool
}

// Target is one root filesystem to scan.
type Target struct {
	// Name is the base name of its directory; the statement is written to
	// DESTINATION/<Name>.spdx.json.
	Name string
	// Path is the directory.
	Path string
	// Core is true for BUILDKIT_SCAN_SOURCE, the final build result.
	Core bool
}

// Config is one run of the protocol.
type Config struct {
	// Destination is the directory statements are written to.
	Destination string
	// Targets are the directories to scan, the main target first, then the
	// extras sorted by name.
	Targets []Target
	// Params are the scan parameters.
	Params Params
	// Ignored lists the parameters that were passed and ignored.
	Ignored []string
}

// ConfigFromEnv reads a Config from environ (as os.Environ returns it):
// the protocol's variables and the BUILDKIT_SCAN_<KEY> parameters. The
// source and destination must be directories; a missing extras directory
// means no extras. Unknown parameters are ErrUnknownParam, parameters of
// other scanners that affix cannot honour ErrUnsupportedParam.
func ConfigFromEnv(environ []string) (Config, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	var cfg Config
	dest, err := requiredDir(env, EnvDestination)
	if err != nil {
		return Config{}, err
	}
	cfg.Destination = dest
	src, err := requiredDir(env, EnvSource)
	if err != nil {
		return Config{}, err
	}
	cfg.Targets = append(cfg.Targets, Target{Name: filepath.Base(filepath.Clean(src)), Path: src, Core: true})
	extras, err := extraTargets(env[EnvSourceExtras])
	if err != nil {
		return Config{}, err
	}
	for _, e := range extras {
		if e.Name == cfg.Targets[0].Name {
			// Both would be written to DESTINATION/<Name>.spdx.json, the
			// later replacing the final image's SBOM.
			return Config{}, fmt.Errorf("%s: extra target %s has the name of %s=%s: %w", EnvSourceExtras, e.Path, EnvSource, src, ErrProtocol)
		}
	}
	cfg.Targets = append(cfg.Targets, extras...)
	if err := cfg.parseParams(env); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

func requiredDir(env map[string]string, name string) (string, error) {
	p := env[name]
	if p == "" {
		return "", fmt.Errorf("%s is not set: %w", name, ErrProtocol)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("%s=%s: %w", name, p, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s=%s: not a directory: %w", name, p, ErrProtocol)
	}
	return p, nil
}

// extraTargets lists the directories in dir (not symbolic links to
// directories), sorted by name; none when dir is empty or does not exist.
func extraTargets(dir string) ([]Target, error) {
	if dir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", EnvSourceExtras, dir, err)
	}
	var out []Target
	for _, e := range ents {
		// BuildKit mounts directories only; a symbolic link (which could
		// lead anywhere on the scanner's host) or a file is not a target.
		if !e.IsDir() {
			continue
		}
		out = append(out, Target{Name: e.Name(), Path: filepath.Join(dir, e.Name())})
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// protocolVars are the BUILDKIT_SCAN_ variables that are not parameters.
var protocolVars = []string{EnvDestination, EnvSource, EnvSourceExtras}

func (cfg *Config) parseParams(env map[string]string) error {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	// Keys are case-insensitive: two spellings of one key with different
	// values are refused, not settled by their order.
	seen := map[string]string{}
	for _, k := range keys {
		if !strings.HasPrefix(k, EnvPrefix) || slices.Contains(protocolVars, k) {
			continue
		}
		v := env[k]
		key := strings.ToUpper(strings.TrimPrefix(k, EnvPrefix))
		if other, ok := seen[key]; ok {
			if env[other] != v {
				errs = append(errs, fmt.Errorf("%s=%q and %s=%q: one parameter (keys are case-insensitive) given twice: %w", other, env[other], k, v, ErrInvalidParam))
			}
			continue
		}
		seen[key] = k
		switch {
		case key == ParamName:
			cfg.Params.Name = strings.TrimSpace(v)
		case key == ParamSourceDateEpoch:
			t, err := epoch.ParseVar(k, v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%w: %w", err, ErrInvalidParam))
				continue
			}
			cfg.Params.Created = t
		case key == ParamDisabled:
			b, err := strconv.ParseBool(strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s=%q: not a boolean: %w", k, v, ErrInvalidParam))
				continue
			}
			cfg.Params.Disabled = b
		case slices.Contains(ignoredParams, key):
			cfg.Ignored = append(cfg.Ignored, k)
		case slices.Contains(unsupportedParams, key):
			errs = append(errs, fmt.Errorf("%s: affix-scanner scans with a fixed, offline set of catalogers (those syft uses for container images) and cannot select catalogers or file metadata: %w", k, ErrUnsupportedParam))
		default:
			errs = append(errs, fmt.Errorf("%s (attest:sbom parameter %s; known: %s, %s, %s): %w", k, strings.TrimPrefix(k, EnvPrefix), ParamName, ParamSourceDateEpoch, ParamDisabled, ErrUnknownParam))
		}
	}
	return errors.Join(errs...)
}

// maxStatementSize is MaxStatementSize; tests lower it.
var maxStatementSize = MaxStatementSize

// Options configure Run. The zero value is usable.
type Options struct {
	// Logf, if set, receives one line per target scanned.
	Logf func(format string, args ...any)
	// TempDir is where the engine keeps temporary files; empty means
	// os.TempDir() (BuildKit mounts a tmpfs on /tmp).
	TempDir string

	// mounts lists the mounts of the process; nil means
	// mountinfo.GetMounts. Tests set it.
	mounts func() ([]*mountinfo.Info, error)
}

// Output is what was written for one target.
type Output struct {
	// Target is the target scanned.
	Target Target
	// File is the statement's path.
	File string
	// Packages counts the packages found, by type.
	Packages map[string]int
}

// Run scans every target of cfg, one after the other, and writes each
// one's statement. A failed target fails the run; files already written
// stay (BuildKit discards the destination of a failed run). Before it
// scans anything, it refuses (ErrUnscannable) a target whose directory is
// on a mount syft's directory scan skips (see checkScannable). With
// Params.Disabled it scans and writes nothing.
func Run(ctx context.Context, cfg Config, opts Options) ([]Output, error) {
	if cfg.Params.Disabled {
		if opts.Logf != nil {
			opts.Logf("%s%s=true: nothing scanned", EnvPrefix, ParamDisabled)
		}
		return nil, nil
	}
	getMounts := opts.mounts
	if getMounts == nil {
		getMounts = func() ([]*mountinfo.Info, error) { return mountinfo.GetMounts(nil) }
	}
	// Without a mount table (no /proc), syft skips nothing either.
	if mounts, err := getMounts(); err == nil {
		var errs []error
		for _, t := range cfg.Targets {
			errs = append(errs, checkScannable(t.Name, t.Path, mounts))
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
	}
	var out []Output
	for _, t := range cfg.Targets {
		name := t.Name
		if t.Core && cfg.Params.Name != "" {
			name = cfg.Params.Name
		}
		gen, err := sbomgen.New(sbomgen.Options{
			Formats: []sbomgen.Format{sbomgen.SPDXJSON},
			Created: cfg.Params.Created,
			Name:    name,
			NoCache: true,
			TempDir: opts.TempDir,
			// The root filesystems (final image, stages) as images are;
			// the context as the source tree it is.
			SourceTree: !t.Core && t.Name == ContextTarget,
		})
		if err != nil {
			return out, err
		}
		start := time.Now()
		res, err := gen.Dir(ctx, t.Path)
		if err != nil {
			return out, fmt.Errorf("target %s: %w", t.Name, err)
		}
		doc, ok := res.Document(sbomgen.SPDXJSON)
		if !ok {
			return out, fmt.Errorf("target %s: no SPDX document", t.Name)
		}
		b, err := Statement(doc.Data)
		if err != nil {
			return out, fmt.Errorf("target %s: %w", t.Name, err)
		}
		if len(b) > maxStatementSize {
			return out, fmt.Errorf("target %s: statement of %d bytes (%s), BuildKit reads at most %d: %w", t.Name, len(b), res.PackageSummary(), maxStatementSize, ErrTooLarge)
		}
		file := filepath.Join(cfg.Destination, t.Name+Ext)
		if err := os.WriteFile(file, b, 0o644); err != nil {
			os.Remove(file) // a partial file would fail BuildKit's decoding
			return out, fmt.Errorf("target %s: %w", t.Name, err)
		}
		if opts.Logf != nil {
			opts.Logf("%s: %s in %s -> %s", t.Name, res.PackageSummary(), time.Since(start).Round(time.Millisecond), file)
		}
		out = append(out, Output{Target: t, File: file, Packages: res.Packages})
	}
	return out, nil
}

// Statement wraps an SPDX JSON document in the in-toto statement the
// protocol's files hold. The subject is empty: the scanner cannot know the
// digest of the image being built, and BuildKit fills it in with the
// platform image manifest.
func Statement(spdx []byte) ([]byte, error) {
	spdx = bytes.TrimSpace(spdx)
	if !json.Valid(spdx) || len(spdx) == 0 || spdx[0] != '{' {
		return nil, fmt.Errorf("SPDX document is not a JSON object")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(oci.Statement{Type: StatementType, PredicateType: PredicateSPDX, Subject: []oci.Subject{}, Predicate: spdx}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

package schemacheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// ErrUnavailable means the schemas cannot be read: there is no go command
// to ask where the modules that ship them are, and they are not where the
// module cache would hold them.
var ErrUnavailable = errors.New("SBOM JSON schemas unavailable")

// The modules whose source trees ship the schemas.
const (
	// SyftModule ships schema/spdx-json/spdx-schema-2.3.json and syft's
	// own schema/json/schema-VERSION.json.
	SyftModule = "github.com/anchore/syft"
	// CycloneDXModule ships schema/bom-1.N.schema.json with the schemas
	// they refer to (spdx.schema.json, jsf-0.82.schemax.json).
	CycloneDXModule = "github.com/CycloneDX/cyclonedx-go"
)

// ModuleDirs returns the source directories of modules (module paths of
// the build list of the main module the working directory is in), as
// `go list -m -f {{.Dir}}` reports them: the module cache directories the
// build read them from. Without a go command it takes their versions from
// the requirements of the go.mod file of the working directory (or its
// nearest parent with one) and looks for them in the module cache
// (GOMODCACHE, else GOPATH/pkg/mod, else ~/go/pkg/mod); when they are not
// there either the error wraps ErrUnavailable. A go test binary records
// no dependencies in its build information, so go.mod is what is left.
func ModuleDirs(ctx context.Context, modules ...string) (map[string]string, error) {
	dirs, err := goListDirs(ctx, modules)
	if errors.Is(err, exec.ErrNotFound) {
		dirs, err = goModDirs(modules)
		if err != nil {
			return nil, fmt.Errorf("%w: no go command (%v), and %w", ErrUnavailable, exec.ErrNotFound, err)
		}
	}
	if err != nil {
		return nil, err
	}
	return dirs, nil
}

// goListDirs asks the go command for the directories of modules.
func goListDirs(ctx context.Context, modules []string) (map[string]string, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return nil, err
	}
	args := append([]string{"list", "-m", "-f", "{{.Path}} {{.Dir}}"}, modules...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	// Never fetch (a module the build used is in the cache already), and
	// never edit go.mod.
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	dirs := map[string]string{}
	for line := range strings.Lines(string(out)) {
		path, dir, _ := strings.Cut(strings.TrimSpace(line), " ")
		dirs[path] = dir
	}
	for _, m := range modules {
		if dirs[m] == "" {
			return nil, fmt.Errorf("go list -m %s: module not in the module cache", m)
		}
	}
	return dirs, nil
}

// goModDirs finds modules in the module cache by the versions the
// nearest go.mod requires.
func goModDirs(modules []string) (map[string]string, error) {
	file, err := findGoMod()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	req, replaced, err := requirements(file, b)
	if err != nil {
		return nil, err
	}
	cache := moduleCache()
	dirs := map[string]string{}
	for _, m := range modules {
		switch {
		case replaced[m]:
			return nil, fmt.Errorf("%s replaces module %s, which only the go command resolves", file, m)
		case req[m] == "":
			return nil, fmt.Errorf("%s does not require module %s", file, m)
		}
		path, err := module.EscapePath(m)
		if err != nil {
			return nil, err
		}
		version, err := module.EscapeVersion(req[m])
		if err != nil {
			return nil, err
		}
		d := filepath.Join(cache, path+"@"+version)
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("module %s@%s is not in the module cache: %s is not a directory", m, req[m], d)
		}
		dirs[m] = d
	}
	return dirs, nil
}

// findGoMod returns the go.mod of the working directory or of its
// nearest parent that has one.
func findGoMod() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		f := filepath.Join(dir, "go.mod")
		if _, err := os.Stat(f); err == nil {
			return f, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod in the working directory or above")
		}
		dir = parent
	}
}

// requirements returns the module versions a go.mod requires, and the
// modules it replaces.
func requirements(file string, gomod []byte) (req map[string]string, replaced map[string]bool, err error) {
	f, err := modfile.Parse(file, gomod, nil)
	if err != nil {
		return nil, nil, err
	}
	req, replaced = map[string]string{}, map[string]bool{}
	for _, r := range f.Require {
		req[r.Mod.Path] = r.Mod.Version
	}
	for _, r := range f.Replace {
		replaced[r.Old.Path] = true
	}
	return req, replaced, nil
}

// moduleCache returns where the go command keeps modules by default.
func moduleCache() string {
	if c := os.Getenv("GOMODCACHE"); c != "" {
		return c
	}
	if p := filepath.SplitList(os.Getenv("GOPATH")); len(p) > 0 && p[0] != "" {
		return filepath.Join(p[0], "pkg", "mod")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, "go", "pkg", "mod")
}

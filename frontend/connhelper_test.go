package frontend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/affix-oci/affix/internal/buildkittest"
)

// TestIntegrationConnectionHelpers builds through the docker-container://,
// podman-container://, nerdctl-container://, kube-pod:// and ssh://
// address forms. This machine has no container engine, cluster or remote
// host, so `docker`, `podman`, `nerdctl`, `kubectl` and `ssh` are
// stand-ins on PATH that record the command line the BuildKit client's
// connection helper gives them and then do what the real ones would do on
// the builder's side: `buildctl dial-stdio` to the test buildkitd.
func TestIntegrationConnectionHelpers(t *testing.T) {
	d := sharedDaemon(t)
	buildctl, err := buildkittest.FindBuildctl()
	if err != nil {
		if os.Getenv(buildkittest.EnvIntegration) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	bin := t.TempDir()
	argsFile := filepath.Join(t.TempDir(), "args")
	for _, name := range []string{"docker", "podman", "nerdctl", "kubectl", "ssh"} {
		// The remote command is buildctl [--addr ADDR] dial-stdio; the
		// stand-in dials the test buildkitd whatever ADDR says.
		script := "#!/bin/sh\n" +
			"echo \"" + name + " $*\" >> '" + argsFile + "'\n" +
			"while [ $# -gt 0 ] && [ \"$1\" != buildctl ]; do shift; done\n" +
			"case \"$*\" in 'buildctl dial-stdio'|'buildctl --addr unix://'*' dial-stdio') ;; *) echo \"unexpected command: $*\" >&2; exit 2;; esac\n" +
			"exec '" + buildctl + "' --addr '" + d.Addr + "' dial-stdio\n"
		if err := os.WriteFile(filepath.Join(bin, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := twoPlatformContext(t)

	for _, tt := range []struct {
		addr, want string
	}{
		{"docker-container://affix-buildkitd", "docker exec -i affix-buildkitd buildctl dial-stdio"},
		{"podman-container://affix-buildkitd", "podman exec -i affix-buildkitd buildctl dial-stdio"},
		{"nerdctl-container://affix-buildkitd?namespace=ci", "nerdctl exec --namespace ci -i affix-buildkitd buildctl dial-stdio"},
		{"kube-pod://buildkitd-0?namespace=ci&container=buildkitd", "kubectl --context= --namespace=ci exec --container=buildkitd -i buildkitd-0 -- buildctl dial-stdio"},
		{"ssh://ci@builder.example:2222/run/buildkit/buildkitd.sock", "ssh -l ci -p 2222 -- builder.example buildctl --addr unix:///run/buildkit/buildkitd.sock dial-stdio"},
	} {
		t.Run(strings.SplitN(tt.addr, ":", 2)[0], func(t *testing.T) {
			os.Remove(argsFile)
			res, err := Build(t.Context(), Options{
				ContextDir: dir,
				Platforms:  []string{"linux/arm64"},
				Builder:    tt.addr,
				Output:     filepath.Join(t.TempDir(), "layout"),
			})
			if err != nil {
				t.Fatal(err)
			}
			wantFile(t, res.Layout, res.Manifests[0], "/hello", "arm64 program\n")
			b, err := os.ReadFile(argsFile)
			if err != nil {
				t.Fatal(err)
			}
			if first := strings.SplitN(string(b), "\n", 2)[0]; first != tt.want {
				t.Errorf("connection helper ran %q, want %q", first, tt.want)
			}
		})
	}
}

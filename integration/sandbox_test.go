package integration

import (
	"strings"
	"testing"
)

// TestBuildSandbox: --add-host, --ulimit, --shm-size and --network none
// reach the RUN steps. Each RUN fails unless its flag took effect, and
// leaving out one flag fails exactly that step.
func TestBuildSandbox(t *testing.T) {
	d := daemon(t, 0)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": `FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN grep -q '^10.1.2.3[[:space:]]*affix-db$' /etc/hosts
RUN [ "$(ulimit -n)" = 777 ]
RUN [ "$(df -k /dev/shm | awk 'NR==2 {print $2}')" = 8192 ]
RUN [ "$(ls /sys/class/net)" = lo ]
`})
	copyBusybox(t, dir)
	e := newEnv(t)
	flags := [][2]string{
		{"--add-host", "affix-db:10.1.2.3"},
		{"--ulimit", "nofile=777:777"},
		{"--shm-size", "8m"},
		{"--network", "none"},
	}
	// steps are what fails without each flag.
	steps := []string{"/etc/hosts", "ulimit -n", "/dev/shm", "/sys/class/net"}
	build := func(skip int) result {
		args := []string{"build", "--builder", d.Addr, "--progress", "plain", "--sbom=false"}
		for i, f := range flags {
			if i != skip {
				args = append(args, f[0], f[1])
			}
		}
		return e.run(t, append(args, dir)...)
	}
	if r := build(-1); r.code != 0 {
		t.Fatalf("with every flag: %s", r)
	}
	for i, f := range flags {
		if r := build(i); r.code != 1 || !strings.Contains(r.stderr, steps[i]) {
			t.Errorf("without %s %s: want the step using %s to fail: %s", f[0], f[1], steps[i], r)
		}
	}
	// --network host asks for the network.host entitlement, which this
	// buildkitd (no --allow-insecure-entitlement) refuses, by name.
	r := e.run(t, "build", "--builder", d.Addr, "--progress", "plain", "--sbom=false", "--network", "host", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "network.host") {
		t.Errorf("--network host on a buildkitd that does not allow it: %s", r)
	}
}

package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// callDockerfile breaks one build check twice (ConsistentInstructionCasing:
// from and copy in lower case among upper-case instructions) and has two
// stages and a build argument for outline and targets.
const callDockerfile = `from scratch as base
ARG GREETING
COPY a.txt /a.txt
FROM base AS final
copy a.txt /b.txt
`

// cleanDockerfile passes every build check.
const cleanDockerfile = `FROM scratch
COPY a.txt /a.txt
`

// TestBuildCall runs buildx's --call and --check: the frontend answers
// the question, nothing is built or pushed, and a check that finds
// something exits 1 with the warnings on stdout.
func TestBuildCall(t *testing.T) {
	d := daemon(t, 0)
	dir := t.TempDir()
	for name, content := range map[string]string{"Dockerfile": callDockerfile, "Clean": cleanDockerfile, "Broken": "FROM scratch\nFROMM x\n", "a.txt": "a\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := newEnv(t)
	base := []string{"build", "--builder", d.Addr, "--progress", "plain"}
	// An earlier build's --iidfile stays: a call writes none.
	iid := filepath.Join(t.TempDir(), "iid")
	if err := os.WriteFile(iid, []byte("sha256:earlier"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string // each in stdout
		stderr   []string // each in stderr
		jsonKeys []string // stdout is a JSON object with these keys
	}{
		{name: "check clean", args: []string{"--check", "-f", filepath.Join(dir, "Clean")}, stdout: []string{"Check complete, no warnings found."}},
		{name: "check warnings", args: []string{"--check"}, code: 1,
			stdout: []string{"Check complete, 2 warnings have been found!", "WARNING: ConsistentInstructionCasing", "Dockerfile:5", ">>> copy a.txt /b.txt"}},
		{name: "call check ignorestatus", args: []string{"--call", "check,ignorestatus=true"}, stdout: []string{"2 warnings"}},
		{name: "call check json", args: []string{"--call", "check,format=json"}, code: 1, jsonKeys: []string{"warnings", "sources"}},
		{name: "two platforms", args: []string{"--check", "--platform", strings.Join(twoPlatforms, ",")}, code: 1, stdout: []string{"2 warnings"}},
		{name: "check broken", args: []string{"--check", "-f", filepath.Join(dir, "Broken")}, code: 1,
			stderr: []string{"unknown instruction: FROMM", ">>> FROMM x"}},
		{name: "outline", args: []string{"--call", "outline"}, stdout: []string{"TARGET: final", "GREETING"}},
		{name: "targets json", args: []string{"--call", "targets,format=json"}, jsonKeys: []string{"targets"}},
		{name: "check does not push", args: []string{"--check", "-f", filepath.Join(dir, "Clean"), "--push", "-t", "127.0.0.1:1/none:1"},
			stdout: []string{"no warnings found"}, stderr: []string{"--call check builds nothing"}},
		{name: "second node not contacted", args: []string{"--check", "--builder", "linux/amd64=" + d.Addr, "--builder", "linux/arm64=tcp://127.0.0.1:1", "-f", filepath.Join(dir, "Clean")},
			stdout: []string{"no warnings found"}},
		{name: "check keeps the iidfile", args: []string{"--check", "-f", filepath.Join(dir, "Clean"), "--iidfile", iid}, stdout: []string{"no warnings found"}, stderr: []string{"--iidfile, --metadata-file)"}},
		{name: "unknown call", args: []string{"--call", "lnit"}, code: 2, stderr: []string{`unknown call "lnit"`}},
		{name: "build warns", args: []string{"--no-sbom"},
			stderr: []string{"affix: warning: ConsistentInstructionCasing: Command 'copy' should match the case of the command majority (uppercase) (line 5)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.run(t, append(append(append([]string(nil), base...), tt.args...), dir)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", r.code, tt.code, r)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout lacks %q\n%s", s, r)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr lacks %q\n%s", s, r)
				}
			}
			if tt.code == 1 && len(tt.stderr) == 0 && strings.Contains(r.stderr, "error:") {
				t.Errorf("a check that finds something prints no error\n%s", r)
			}
			if b, err := os.ReadFile(iid); err != nil || string(b) != "sha256:earlier" {
				t.Errorf("the earlier --iidfile: %q, %v", b, err)
			}
			if tt.jsonKeys != nil {
				var m map[string]json.RawMessage
				if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
					t.Fatalf("stdout is not JSON: %v\n%s", err, r)
				}
				for _, k := range tt.jsonKeys {
					if _, ok := m[k]; !ok {
						t.Errorf("JSON lacks %q\n%s", k, r)
					}
				}
			}
		})
	}
}

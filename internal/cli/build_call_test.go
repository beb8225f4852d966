package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/affix-oci/affix/frontend"
)

func TestParseCall(t *testing.T) {
	tests := []struct {
		call  string
		check bool
		want  *callSpec // nil: a build
		err   string
	}{
		{call: "build"},
		{call: ""},
		{call: "build", check: true, want: &callSpec{name: "check", request: frontend.CallLint}},
		{call: "check", want: &callSpec{name: "check", request: frontend.CallLint}},
		{call: "check,format=json", check: true, want: &callSpec{name: "check", request: frontend.CallLint, json: true}},
		{call: "lint,ignorestatus=true", want: &callSpec{name: "lint", request: frontend.CallLint, ignoreStatus: true}},
		{call: "outline,format=text", want: &callSpec{name: "outline", request: frontend.CallOutline}},
		{call: "targets", want: &callSpec{name: "targets", request: frontend.CallTargets}},
		{call: "subrequests.describe", want: &callSpec{name: "subrequests.describe", request: frontend.CallDescribe}},
		{call: "outline", check: true, err: "--check is --call check"},
		{call: "lint", check: true, want: &callSpec{name: "lint", request: frontend.CallLint}},
		{call: "", check: true, want: &callSpec{name: "check", request: frontend.CallLint}},
		{call: "build,format=json", err: "build takes no format"},
		{call: "check,format=yaml", err: `"format=yaml"`},
		{call: "check,ignorestatus=maybe", err: "ignorestatus=maybe"},
		{call: "check,outline", err: `"outline"`},
		{call: "lnit", err: `unknown call "lnit"`},
		{call: "frontend.lint", err: "unknown call"},
	}
	for _, tt := range tests {
		t.Run(tt.call, func(t *testing.T) {
			got, err := parseCall(tt.call, tt.check)
			if tt.err != "" {
				var ee *exitError
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.As(err, &ee) || ee.code != 2 {
					t.Fatalf("parseCall(%q, %v) = %v, want a usage error with %q", tt.call, tt.check, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("parseCall(%q, %v) = %+v, want %+v", tt.call, tt.check, got, tt.want)
			}
		})
	}
}

// lintJSON is a check's answer with one warning and no error; brokenJSON
// one with a Dockerfile that does not parse.
const (
	lintJSON   = `{"warnings":[{"ruleName":"ConsistentInstructionCasing","url":"https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/","detail":"Command 'copy' should match the case of the command majority (uppercase)","location":{"sourceIndex":0,"ranges":[{"start":{"line":2},"end":{"line":2}}]}}],"sources":[{"filename":"Dockerfile","data":"RlJPTSBzY3JhdGNoCmNvcHkgYSAvYQo="}]}`
	brokenJSON = `{"warnings":null,"sources":[{"filename":"Dockerfile","data":"RlJPTU0geAo="}],"buildError":{"message":"unknown instruction: FROMM","location":{"ranges":[{"start":{"line":1},"end":{"line":1}}]}}}`
)

func TestPrintLint(t *testing.T) {
	tests := []struct {
		name   string
		json   string
		asJSON bool
		want   []string // in the output, in order
		err    string
	}{
		{name: "none", json: `{"warnings":null,"sources":[]}`, want: []string{"Check complete, no warnings found.\n"}},
		{name: "one", json: lintJSON, want: []string{"Check complete, 1 warning has been found!\n", "WARNING: ConsistentInstructionCasing - https://", "Dockerfile:2", ">>> copy a /a"}},
		{name: "json", json: lintJSON, asJSON: true, want: []string{`{"warnings":[{"ruleName":"ConsistentInstructionCasing"`}},
		{name: "broken", json: brokenJSON, err: "unknown instruction: FROMM\nDockerfile:1"},
		{name: "broken json", json: brokenJSON, asJSON: true, want: []string{`"buildError"`}, err: "unknown instruction: FROMM"},
		{name: "not json", json: "nope", err: "check: the frontend's answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := printLint(&b, &frontend.CallResult{JSON: []byte(tt.json), Status: 1}, tt.asJSON)
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("printLint: %v, want error %q", err, tt.err)
			}
			out := b.String()
			for _, w := range tt.want {
				i := strings.Index(out, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, b.String())
				}
				out = out[i+len(w):]
			}
		})
	}
}

func TestPrintCall(t *testing.T) {
	tests := []struct {
		name       string
		text, json string
		asJSON     bool
		want, err  string
	}{
		{name: "text", text: "TARGET  DESCRIPTION\n", json: `{"targets":[]}`, want: "TARGET  DESCRIPTION\n"},
		{name: "json", text: "TARGET\n", json: "{\"targets\":[]}\n", asJSON: true, want: "{\"targets\":[]}\n"},
		{name: "json only", json: `{"x":1}`, want: "{\"x\":1}\n"},
		{name: "no json", text: "t\n", asJSON: true, err: "no JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &frontend.CallResult{}
			if tt.text != "" {
				res.Text = []byte(tt.text)
			}
			if tt.json != "" {
				res.JSON = []byte(tt.json)
			}
			var b bytes.Buffer
			err := printCall(&b, res, tt.asJSON)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("printCall: %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || b.String() != tt.want {
				t.Errorf("printCall: %q, %v; want %q", b.String(), err, tt.want)
			}
		})
	}
}

func TestWarnBuild(t *testing.T) {
	// The second node's frontend reports the first warning again.
	warnings := []string{"ConsistentInstructionCasing: Command 'copy' should match (line 5)", "FromAsCasing: x (line 1)", "ConsistentInstructionCasing: Command 'copy' should match (line 5)"}
	for _, tt := range []struct {
		mode frontend.ProgressMode
		want int
	}{
		{frontend.ProgressPlain, 2}, {frontend.ProgressAuto, 2}, {frontend.ProgressTTY, 2},
		{frontend.ProgressQuiet, 0}, {frontend.ProgressRawJSON, 0},
	} {
		var got []string
		warnBuild(tt.mode, warnings, func(format string, args ...any) { got = append(got, fmt.Sprintf(format, args...)) })
		if len(got) != tt.want || tt.want > 0 && got[0] != warnings[0] {
			t.Errorf("%s: %q, want %d warnings", tt.mode, got, tt.want)
		}
	}
}

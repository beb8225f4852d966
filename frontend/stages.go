package frontend

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// validStageName is what the Dockerfile frontend accepts as a stage name
// (FROM ... AS NAME, lowercased).
var validStageName = regexp.MustCompile(`^[a-z][a-z0-9-_.]*$`)

// dockerfileStages returns the stage names of the Dockerfile at path,
// parsed with the Dockerfile frontend's own parser; ok is false when it
// does not parse here (a "# syntax=" frontend of its own, say), so the
// caller leaves the check to BuildKit.
func dockerfileStages(path string) (names []string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		return nil, false
	}
	stages, _, err := instructions.Parse(res.AST, nil)
	if err != nil {
		return nil, false
	}
	for _, s := range stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return names, true
}

// checkStage checks that the Dockerfile has a stage named name (compared
// as the frontend does, ignoring case). A Dockerfile that does not parse
// here passes.
func (p *plan) checkStage(name string) error {
	if problem := p.stageProblem(name); problem != "" {
		return optErr("%s", problem)
	}
	return nil
}

// stageProblem says why name is not a stage of the Dockerfile ("" when it
// is one, or when the Dockerfile does not parse here): checkStage's
// message, for callers that word their own error around it.
func (p *plan) stageProblem(name string) string {
	if !p.stagesRead {
		p.stagesRead = true
		p.stages, p.stagesOK = dockerfileStages(p.dockerfile)
	}
	if !p.stagesOK || slices.Contains(p.stages, strings.ToLower(name)) {
		return ""
	}
	if len(p.stages) == 0 {
		return fmt.Sprintf("%s names no stage", p.dockerfileName)
	}
	return fmt.Sprintf("%s has no stage %q (stages: %s)", p.dockerfileName, name, strings.Join(p.stages, ", "))
}

// setNoCache sets the no-cache attribute from --no-cache and
// --no-cache-filter STAGE[,STAGE...] (repeatable): every stage, else the
// stages named. Each name must be a stage of the Dockerfile, also with
// --no-cache, which wins.
func (p *plan) setNoCache(all bool, filter []string) error {
	var stages []string
	for _, f := range filter {
		for s := range strings.SplitSeq(f, ",") {
			s = strings.TrimSpace(s)
			if !validStageName.MatchString(strings.ToLower(s)) {
				return optErr("no-cache-filter %q: %q is not a stage name", f, s)
			}
			if err := p.checkStage(s); err != nil {
				return fmt.Errorf("no-cache-filter %q: %w", f, err)
			}
			if !slices.Contains(stages, s) {
				stages = append(stages, s)
			}
		}
	}
	switch {
	case all:
		p.attrs["no-cache"] = ""
	case len(stages) > 0:
		p.attrs["no-cache"] = strings.Join(stages, ",")
	}
	return nil
}

package schemacheck

import (
	"encoding/json"
	"errors"
	"fmt"
)

// CheckSyftJSON checks the rules of a syft JSON document its schema does
// not express: artifact and file ids are unique, and every
// artifactRelationships parent and child is an artifact, a file or the
// source.
//
// It reports every problem found.
func CheckSyftJSON(doc []byte) error {
	var d struct {
		Artifacts []struct {
			ID string `json:"id"`
		} `json:"artifacts"`
		Files []struct {
			ID string `json:"id"`
		} `json:"files"`
		Source struct {
			ID string `json:"id"`
		} `json:"source"`
		Relationships []struct {
			Parent string `json:"parent"`
			Child  string `json:"child"`
			Type   string `json:"type"`
		} `json:"artifactRelationships"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return fmt.Errorf("syft JSON document: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("syft JSON: "+format, args...)) }
	ids := map[string]string{}
	define := func(kind, id string) {
		if ids[id] != "" {
			bad("id %q of a %s is also a %s's", id, kind, ids[id])
		}
		ids[id] = kind
	}
	if d.Source.ID != "" {
		define("source", d.Source.ID)
	}
	for _, a := range d.Artifacts {
		define("artifact", a.ID)
	}
	for _, f := range d.Files {
		define("file", f.ID)
	}
	for i, r := range d.Relationships {
		if ids[r.Parent] == "" {
			bad("artifactRelationships[%d] (%s %s %s): parent names nothing", i, r.Parent, r.Type, r.Child)
		}
		if ids[r.Child] == "" {
			bad("artifactRelationships[%d] (%s %s %s): child names nothing", i, r.Parent, r.Type, r.Child)
		}
	}
	return errors.Join(errs...)
}

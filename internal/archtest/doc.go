// Package archtest holds the test that keeps the module's layering: the
// three engines (frontend, sbomgen, exporter) never import each other nor
// the commands that wire them (design.md, "Layout").
package archtest
